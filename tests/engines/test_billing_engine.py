"""The billing engine run by hand on a test clock that moved without it: engines running at
once bill each period once, and a dunning policy of its own is followed to its end."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.domain.billing import DunningPolicy, SubscriptionStatus
from app.resolvers.common import key_of
from app.services.billing import renewals
from app.services.billing.renewals import run_due
from tests.conftest import Api
from tests.factories import (
    advance,
    clock_and_customer,
    monthly_price,
    service_move_clock,
    subscribe,
    subscription,
)


@pytest.mark.both_databases
async def test_three_workers_at_once_bill_each_period_once(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "5.00", trial_days=1)
    subs = [(await subscribe(api, customer, price))["subscription"]["id"] for _ in range(10)]
    runtime = api.runtime
    clock_id = key_of(clock, "TestClock")
    async with runtime.sessions() as session:
        await service_move_clock(session, runtime, clock_id, datetime(2026, 7, 1, tzinfo=UTC))

    async def worker() -> int:
        async with runtime.sessions() as session:
            return await run_due(session, psps=runtime.psps, clock=runtime.clock,
                                 test_clock_id=clock_id, page=4)  # fmt: skip

    await asyncio.gather(worker(), worker(), worker())
    async with api.engine.connect() as connection:
        invoices = await connection.execute(
            sa.text("SELECT subscription_id, count(*) FROM invoices GROUP BY subscription_id")
        )
        assert {count for _, count in invoices} == {6}  # Jan 2 … Jun 2: six periods each
        charges = await connection.scalar(
            sa.text("SELECT count(*) FROM payments WHERE invoice_id IS NOT NULL")
        )
        assert charges == 60
    for sub in subs:
        assert (await subscription(api, sub))["status"] == "ACTIVE"


@pytest.mark.both_databases
async def test_a_clock_with_more_subscriptions_than_a_page_bills_them_all(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine reads its candidates a page at a time: every page is billed, each
    advance of the clock (a regression: one page per run left the rest a month behind)."""
    monkeypatch.setattr(renewals, "PAGE", 3)
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "5.00")
    subs = [(await subscribe(api, customer, price))["subscription"]["id"] for _ in range(8)]
    for month in (2, 3, 4):
        await advance(api, clock, f"2026-0{month}-01T12:00:00Z")
        for sub in subs:
            found = await subscription(api, sub)
            assert found["currentPeriodStart"] == f"2026-0{month}-01T00:00:00+00:00", found
    async with api.engine.connect() as connection:
        invoices = await connection.execute(
            sa.text("SELECT subscription_id, count(*) FROM invoices GROUP BY subscription_id")
        )
        assert sorted(count for _, count in invoices) == [4] * 8  # the first and 3 renewals


async def test_a_custom_dunning_policy_cancels_after_two_retries(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_chargeDeclined")
    price = await monthly_price(api, trial_days=7)
    sub = (await subscribe(api, customer, price))["subscription"]
    runtime = api.runtime
    clock_id = key_of(clock, "TestClock")
    policy = DunningPolicy(retry_days=(2, 4), final_status=SubscriptionStatus.CANCELED)
    async with runtime.sessions() as session:
        await service_move_clock(session, runtime, clock_id, datetime(2026, 2, 1, tzinfo=UTC))
        await run_due(session, psps=runtime.psps, clock=runtime.clock, test_clock_id=clock_id,
                      policy=policy)  # fmt: skip
    ended = await subscription(api, sub["id"])
    assert (ended["status"], ended["endedAt"]) == ("CANCELED", "2026-01-12T00:00:00+00:00")
    assert ended["invoices"][0]["attemptCount"] == 3  # 8 Jan, then 10 and 12 Jan
