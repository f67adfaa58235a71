"""Each job, deferred on the real queue and run by a procrastinate worker: its effect."""

from __future__ import annotations

from datetime import timedelta
from itertools import islice

import procrastinate
import pytest
import sqlalchemy as sa

from app.domain.clock import FrozenClock
from app.psp.base import DeleteCustomerRequest
from app.psp.errors import PspUnavailable
from tests.conftest import Api
from tests.engines.conftest import statuses, work
from tests.experiments.helpers import offer, price_test, product_with_prices, visitors
from tests.factories import customer_with, get_payment, monthly_price, pay, subscribe, subscription


async def test_a_renewal_due_on_the_wall_clock_is_invoiced_and_charged(
    api: Api, queue: procrastinate.App, clock: FrozenClock
) -> None:
    # Given a monthly subscription whose first period ends on 2026-02-15
    customer = await customer_with(api, "tok_visa")
    created = await subscribe(api, customer, await monthly_price(api, "29.00"))
    assert created["userErrors"] == []
    subscription_id = created["subscription"]["id"]
    assert created["subscription"]["currentPeriodEnd"] == "2026-02-15T12:00:00+00:00"

    # When the period has ended and the billing job runs
    clock.advance(timedelta(days=31, hours=1))
    await queue.configure_task("bill_due_subscriptions").defer_async()
    await work(queue)

    # Then the next period is invoiced and charged off session, once
    assert await statuses(queue) == {"bill_due_subscriptions": ["succeeded"]}
    billed = await subscription(api, subscription_id)
    assert billed["status"] == "ACTIVE"
    assert billed["currentPeriodEnd"] == "2026-03-15T12:00:00+00:00"
    first, renewal = billed["invoices"]
    assert first["billingReason"] == "SUBSCRIPTION_CREATE"
    assert (renewal["billingReason"], renewal["status"]) == ("SUBSCRIPTION_CYCLE", "PAID")
    assert renewal["periodStart"] == "2026-02-15T12:00:00+00:00"
    assert renewal["amountPaid"]["amountMinor"] == "2900"
    assert [(p["status"], p["offSession"]) for p in renewal["payments"]] == [("SUCCEEDED", True)]

    # And running it again bills nothing more
    await queue.configure_task("bill_due_subscriptions").defer_async()
    await work(queue)
    assert len((await subscription(api, subscription_id))["invoices"]) == 2


async def test_reconciliation_job_resolves_unknown_outcomes(
    api: Api, queue: procrastinate.App, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a payment that timed out after the PSP charged, its webhooks lost
    monkeypatch.setattr(api.runtime.psps.sandbox, "sink", None)
    customer = await customer_with(api, "tok_timeout")
    paid = (await pay(api, customer, "7.00"))["payment"]
    assert (paid["status"], paid["outcomeUnknown"]) == ("PROCESSING", True)

    # When the reconciliation job runs after the grace period
    clock.advance(timedelta(minutes=2))
    await queue.configure_task("reconcile_payments").defer_async()
    await work(queue)

    # Then the PSP was asked and the payment is known to have succeeded
    assert await statuses(queue) == {"reconcile_payments": ["succeeded"]}
    payment = await get_payment(api, paid["id"])
    assert (payment["status"], payment["outcomeUnknown"]) == ("SUCCEEDED", False)
    assert payment["amountReceived"]["amount"] == "7.00"


async def test_purge_job_deletes_expired_idempotency_keys(
    api: Api, queue: procrastinate.App, clock: FrozenClock
) -> None:
    customer = await customer_with(api, "tok_visa")
    await pay(api, customer)

    async def keys() -> int:
        async with api.engine.connect() as connection:
            return int(await connection.scalar(sa.text("SELECT count(*) FROM idempotency_keys")))

    kept = await keys()
    assert kept >= 1
    await queue.configure_task("purge_idempotency_keys").defer_async()
    await work(queue)
    assert await keys() == kept  # still within their 24 hours

    clock.advance(timedelta(hours=25))
    await queue.configure_task("purge_idempotency_keys").defer_async()
    await work(queue)
    assert await keys() == 0
    assert await statuses(queue) == {"purge_idempotency_keys": ["succeeded", "succeeded"]}


async def test_purge_job_keeps_the_log_for_its_retention_period(
    api: Api, queue: procrastinate.App
) -> None:
    await customer_with(api, "tok_visa")  # customer.created, payment_method.attached

    async def age(days: int, seq: int) -> None:
        """Events carry their commit's wall-clock time: make one ``days`` old."""
        async with api.engine.begin() as connection:
            await connection.execute(
                sa.text("UPDATE events SET created_at = now() - make_interval(days => :d) "
                        "WHERE seq = :s"),
                {"d": days, "s": seq},
            )  # fmt: skip

    async def left() -> list[int]:
        async with api.engine.connect() as connection:
            return list(await connection.scalars(sa.text("SELECT seq FROM events ORDER BY seq")))

    first, second = await left()
    await age(29, first)
    await age(31, second)
    await queue.configure_task("purge_events").defer_async()
    await work(queue)
    assert await left() == [first]  # replayable for 30 days (the default)
    assert await statuses(queue) == {"purge_events": ["succeeded"]}


async def test_the_erasure_job_deletes_at_the_psp_what_failed_at_erasure(
    api: Api, queue: procrastinate.App, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a customer erased while the PSP was down
    customer = await customer_with(api, "tok_visa")
    sandbox = api.runtime.psps.sandbox

    async def down(request: DeleteCustomerRequest) -> None:
        raise PspUnavailable("down for maintenance", psp="sandbox")

    with monkeypatch.context() as patched:
        patched.setattr(sandbox, "delete_customer", down)
        erased = await api.data(
            "mutation($c: ID!) { eraseCustomer(input: {customerId: $c}) "
            "{ pendingPspDeletions userErrors { code } } }",
            {"c": customer},
        )
    assert erased["eraseCustomer"] == {"pendingPspDeletions": ["SANDBOX"], "userErrors": []}
    assert sandbox.deleted_customers == frozenset()

    # When the PSP is back and the job runs after the back-off
    clock.advance(timedelta(minutes=2))
    await queue.configure_task("delete_erased_psp_customers").defer_async()
    await work(queue)

    # Then the customer is deleted at the PSP
    assert await statuses(queue) == {"delete_erased_psp_customers": ["succeeded"]}
    assert len(sandbox.deleted_customers) == 1


async def test_the_guardrail_job_pauses_an_experiment_over_its_threshold(
    api: Api, queue: procrastinate.App
) -> None:
    # Given a running price test whose lower price's first payments all fail
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (
        await price_test(
            api, product, prices,
            guardrails={"maxPaymentFailureRate": "25", "minimumPayments": 2},
        )
    )["experiment"]  # fmt: skip
    for visitor in islice(visitors(experiment, 1), 2):
        await offer(api, product, anon=visitor)
        customer = (
            await api.data(
                "mutation($a: String!) { createCustomer(input: {anonymousId: $a}) "
                "{ customer { id } } }",
                {"a": visitor},
            )
        )["createCustomer"]["customer"]["id"]
        await api.data(
            "mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, "
            'token: "tok_chargeDeclined"}) { userErrors { code } } }',
            {"c": customer},
        )
        assert (await subscribe(api, customer, prices[1]))["userErrors"] == []

    # When the guardrail job runs
    await queue.configure_task("check_experiment_guardrails").defer_async()
    await work(queue)

    # Then the experiment is paused, and says why
    assert await statuses(queue) == {"check_experiment_guardrails": ["succeeded"]}
    found = await api.data(
        "query($id: ID!) { experiment(id: $id) { status statusReason } }", {"id": experiment["id"]}
    )
    assert found["experiment"]["status"] == "PAUSED"
    assert "payment failure rate of variant 'lower'" in found["experiment"]["statusReason"]
