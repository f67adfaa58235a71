"""A year of billing for many subscriptions on one test clock, with three billing engines
running at once and 10 % of the cards failing: nothing is invoiced or charged twice, and
every subscription ends in the state its dunning schedule predicts.

The issue's figure: 2,000 subscriptions (24,000 renewals), three engine processes. About
five minutes on the 2-core CI machine; ``PAYGATE_SIMULATION_SUBSCRIPTIONS`` runs fewer by
hand."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.domain.clock import FrozenClock
from app.models import PaymentMethod
from app.services import customers, payment_methods, test_clocks
from app.services.billing import subscriptions
from tests.billing.helpers import monthly_price
from tests.conftest import Api

SUBSCRIPTIONS = int(os.environ.get("PAYGATE_SIMULATION_SUBSCRIPTIONS", "2000"))
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.slow
async def test_a_year_of_billing_with_three_engines(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = api.runtime
    monkeypatch.setattr(runtime.psps.sandbox, "sink", None)  # webhooks: not under test here
    price = await monthly_price(api, "9.00", trial_days=14)
    from app.resolvers.common import key_of

    price_id = key_of(price, "Price")
    started = time.monotonic()
    async with runtime.sessions() as session:
        clock = await test_clocks.create_test_clock(
            session, clock=runtime.clock, name="simulation", frozen_time=START
        )
        at = FrozenClock(START)
        failing: set[object] = set()
        for n in range(SUBSCRIPTIONS):
            customer = await customers.create_customer(
                session, clock=at, email=None, name=f"c{n}", country=None, locale=None,
                metadata=None, test_clock_id=clock.id,
            )  # fmt: skip
            token = "tok_chargeDeclined" if n % 10 == 0 else "tok_visa"
            method: PaymentMethod = await payment_methods.attach(
                session, registry=runtime.psps, clock=at, customer_id=customer.id, psp=None,
                token=token, set_default=True,
            )  # fmt: skip
            subscription = await subscriptions.create_subscription(
                session, psps=runtime.psps, clock=at, principal="test",
                idempotency_key=f"sim-{n}", customer_id=customer.id,
                items=[subscriptions.ItemRequest(price_id)], trial_period_days=None,
                payment_method_id=method.id,
            )  # fmt: skip
            if n % 10 == 0:
                failing.add(subscription.id)
        await test_clocks.move(session, clock=runtime.clock, clock_id=clock.id, to=END)
    set_up = time.monotonic() - started

    async def start_engine() -> asyncio.subprocess.Process:
        """A billing engine in a process of its own, as workers run it, once it is ready."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.billing.engine_process",
            runtime.settings.database_url, str(clock.id),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        assert await process.stdout.readline() == b"ready\n"
        return process

    async def steps_of(process: asyncio.subprocess.Process) -> int:
        """Let the engine go; the steps it took."""
        out, _ = await process.communicate(b"go\n")
        assert process.returncode == 0
        return int(out.decode().strip().splitlines()[-1])

    processes = [await start_engine() for _ in range(3)]
    started = time.monotonic()
    steps = await asyncio.gather(*map(steps_of, processes))
    # An engine skips what another holds; a last pass shows nothing was left behind.
    assert await steps_of(await start_engine()) == 0
    billed = time.monotonic() - started
    with capsys.disabled():
        print(  # noqa: T201 - the figure the issue asks for, in the test log
            f"\n{SUBSCRIPTIONS} subscriptions x 12 months, 3 engine processes: "
            f"set-up {set_up:.1f} s, billing {billed:.1f} s, steps per engine {steps}"
        )

    # Three engines shared the work, each step taken once: a renewal on the 15th of each
    # month for every subscription, and the failing ones' four retries.
    assert all(taken > 0 for taken in steps), steps
    assert sum(steps) == 12 * SUBSCRIPTIONS + 4 * len(failing), steps

    # A second invoice for one period cannot be written (uq_invoices_subscription_period),
    # so no query looks for one: each subscription's 12 invoices below are the check that
    # no renewal was lost (and that none was doubled, were the constraint ever dropped).
    async with api.engine.connect() as connection:
        double_paid = await connection.scalar(sa.text(
            "SELECT count(*) FROM (SELECT invoice_id FROM payments WHERE status = 'succeeded' "
            "AND invoice_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d"
        ))  # fmt: skip
        assert double_paid == 0
        rows = (await connection.execute(sa.text(
            "SELECT s.id, s.status, count(i.id), "
            "count(i.id) FILTER (WHERE i.status = 'paid'), "
            "coalesce(sum(i.attempt_count), 0), "
            "(SELECT count(*) FROM payments p JOIN invoices j ON j.id = p.invoice_id "
            " WHERE j.subscription_id = s.id) "
            "FROM subscriptions s LEFT JOIN invoices i ON i.subscription_id = s.id GROUP BY s.id"
        ))).all()  # fmt: skip
    assert len(rows) == SUBSCRIPTIONS
    for subscription_id, status, invoices, paid, attempts, charges in rows:
        # Trial to 15 January, then a renewal on the 15th of each month: 12 invoices.
        if subscription_id in failing:
            # 15 Jan fails; retries on 16, 18, 20, 22 Jan fail; then unpaid, still invoiced.
            assert (status, invoices, paid, attempts, charges) == ("unpaid", 12, 0, 5, 5)
        else:
            assert (status, invoices, paid, attempts, charges) == ("active", 12, 12, 12, 12)
    # One payment (one PSP charge) per collection attempt, across the engines' processes.
    assert sum(row[4] for row in rows) == sum(row[5] for row in rows)
