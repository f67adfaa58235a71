"""Unknown outcomes (PSP timeouts after charging) are reconciled: never charged twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.domain.clock import FrozenClock
from app.psp.errors import PspUnavailable
from app.services.webhooks.reconciliation import reconcile
from tests.conftest import Api
from tests.factories import customer_with, get_payment, key, pay


async def run_reconcile(api: Api, **options: Any) -> Any:
    async with api.runtime.sessions() as session:
        return await reconcile(session, psps=api.runtime.psps, clock=api.runtime.clock, **options)


async def test_two_hundred_timeouts_then_reconciliation(
    api: Api, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The PSP's webhooks are lost: only reconciliation can learn what happened.
    monkeypatch.setattr(api.runtime.psps.sandbox, "sink", None)
    customer = await customer_with(api, "tok_timeout")
    keys = [key() for _ in range(200)]
    gate = asyncio.Semaphore(10)

    async def attempt(idempotency_key: str) -> dict[str, Any]:
        async with gate:
            return await pay(api, customer, "7.00", idempotencyKey=idempotency_key)

    first = await asyncio.gather(*(attempt(k) for k in keys))
    assert {(r["payment"]["status"], r["payment"]["outcomeUnknown"]) for r in first} == {
        ("PROCESSING", True)
    }
    retried = await asyncio.gather(*(attempt(k) for k in keys))  # clients retry: replays
    assert [r["payment"]["id"] for r in retried] == [r["payment"]["id"] for r in first]

    too_early = await run_reconcile(api)
    assert too_early.resolved == []  # in-flight requests get their grace period
    clock.advance(timedelta(minutes=2))
    report = await run_reconcile(api)
    assert (len(report.resolved), report.unresolved, report.stuck) == (200, [], [])

    sandbox = api.runtime.psps.sandbox
    assert len(sandbox._payments) == 200  # one PSP charge per payment: no double charge
    async with api.engine.connect() as connection:
        captured = await connection.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT payment_id), sum(amount_minor) "
                "FROM payment_events WHERE type = 'payment.captured'"
            )
        )
        assert tuple(captured.one()) == (200, 200, 200 * 700)
        unknown = await connection.scalar(
            sa.text("SELECT count(*) FROM payments WHERE outcome_unknown_since IS NOT NULL")
        )
        assert unknown == 0
    payment = await get_payment(api, first[0]["payment"]["id"])
    assert (payment["status"], payment["outcomeUnknown"]) == ("SUCCEEDED", False)
    assert any(e["source"] == "reconciliation" for e in payment["events"])


async def test_unreachable_psp_leaves_it_unresolved_then_stuck(
    api: Api, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = api.runtime.psps.sandbox
    monkeypatch.setattr(sandbox, "sink", None)
    customer = await customer_with(api, "tok_timeout")
    payment = (await pay(api, customer))["payment"]

    async def down(_reference: str) -> Any:
        raise PspUnavailable("down", psp="sandbox")

    monkeypatch.setattr(sandbox, "retrieve_payment", down)
    clock.advance(timedelta(minutes=2))
    report = await run_reconcile(api, stuck_after=timedelta(hours=1))
    assert [str(i) for i in report.unresolved] and report.stuck == []
    clock.advance(timedelta(hours=1))
    report = await run_reconcile(api, stuck_after=timedelta(hours=1))
    assert len(report.stuck) == 1
    assert (await get_payment(api, payment["id"]))["status"] == "PROCESSING"


async def test_a_timeout_whose_webhook_arrived_resolves_at_once(api: Api) -> None:
    customer = await customer_with(api, "tok_timeout")
    payment = (await pay(api, customer))["payment"]
    assert (payment["status"], payment["outcomeUnknown"]) == ("SUCCEEDED", False)
    assert {e["source"] for e in payment["events"]} == {"api", "webhook"}
