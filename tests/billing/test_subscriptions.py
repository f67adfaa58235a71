"""Subscriptions on test clocks: trials, renewals, 3-D Secure, dunning, cancellation."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.conftest import Api
from tests.factories import advance, clock_and_customer, monthly_price, subscribe, subscription


async def test_trial_then_three_renewals(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "29.00", trial_days=14)
    created = await subscribe(api, customer, price)
    assert created["userErrors"] == []
    sub = created["subscription"]
    assert sub["status"] == "TRIALING"
    assert sub["trialEnd"] == "2026-01-15T00:00:00+00:00"
    assert sub["invoices"] == []

    await advance(api, clock, "2026-01-15T01:00:00Z")
    sub = await subscription(api, sub["id"])
    assert sub["status"] == "ACTIVE"
    assert (sub["currentPeriodStart"], sub["currentPeriodEnd"]) == (
        "2026-01-15T00:00:00+00:00",
        "2026-02-15T00:00:00+00:00",
    )
    await advance(api, clock, "2026-04-20T00:00:00Z")
    sub = await subscription(api, sub["id"])
    invoices = sub["invoices"]
    assert [i["number"] for i in invoices] == [f"PG-{n:06d}" for n in range(1, 5)]
    assert {i["status"] for i in invoices} == {"PAID"}
    assert [i["periodStart"][:10] for i in invoices] == [
        "2026-01-15", "2026-02-15", "2026-03-15", "2026-04-15",
    ]  # fmt: skip
    for invoice in invoices:
        assert invoice["total"]["amountMinor"] == str(
            int(invoice["subtotal"]["amountMinor"])
            - int(invoice["discount"]["amountMinor"])
            + int(invoice["tax"]["amountMinor"])
        )
        assert invoice["amountRemaining"] == {"amountMinor": "0"}
        assert [p["offSession"] for p in invoice["payments"]] == [True]
    assert sub["items"] == [
        {"quantity": 1, "unitAmount": {"amount": "29.00"}, "price": {"lookupKey": None}}
    ]


async def test_without_trial_the_first_invoice_is_paid_at_once(api: Api) -> None:
    _, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "10.00")
    sub = (await subscribe(api, customer, price, quantity=3))["subscription"]
    assert sub["status"] == "ACTIVE"
    [invoice] = sub["invoices"]
    assert (invoice["billingReason"], invoice["status"]) == ("SUBSCRIPTION_CREATE", "PAID")
    assert invoice["total"] == {"amountMinor": "3000"}
    assert invoice["lines"][0]["description"] == "3 x Pro"
    assert [p["offSession"] for p in invoice["payments"]] == [False]


async def test_three_d_secure_on_the_first_invoice(api: Api) -> None:
    _, customer = await clock_and_customer(api, "tok_threeDSecureRequired")
    price = await monthly_price(api)
    sub = (await subscribe(api, customer, price))["subscription"]
    assert sub["status"] == "INCOMPLETE"
    [payment] = sub["invoices"][0]["payments"]
    assert payment["status"] == "REQUIRES_ACTION"
    path = urlsplit(payment["nextAction"]["redirectUrl"]).path
    await api.http.post(path, data={"outcome": "succeed"})
    sub = await subscription(api, sub["id"])
    assert sub["status"] == "ACTIVE"
    assert sub["latestInvoice"]["status"] == "PAID"


async def test_dunning_retries_on_days_1_3_5_7_then_unpaid(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_chargeDeclined")
    price = await monthly_price(api, trial_days=7)
    sub = (await subscribe(api, customer, price))["subscription"]
    await advance(api, clock, "2026-01-08T01:00:00Z")
    sub = await subscription(api, sub["id"])
    assert sub["status"] == "PAST_DUE"
    assert sub["nextRetryAt"] == "2026-01-09T00:00:00+00:00"
    await advance(api, clock, "2026-01-15T12:00:00Z")
    sub = await subscription(api, sub["id"])
    assert sub["status"] == "UNPAID"
    assert sub["nextRetryAt"] is None
    [invoice] = sub["invoices"]
    assert (invoice["status"], invoice["attemptCount"]) == ("OPEN", 5)
    assert {p["decline"]["code"] for p in invoice["payments"]} == {"CARD_DECLINED"}


async def test_authentication_required_waits_for_the_customer(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_threeDSecureRequired")
    price = await monthly_price(api, trial_days=7)
    sub = (await subscribe(api, customer, price))["subscription"]
    await advance(api, clock, "2026-01-20T00:00:00Z")
    sub = await subscription(api, sub["id"])
    assert (sub["status"], sub["nextRetryAt"]) == ("PAST_DUE", None)
    [invoice] = sub["invoices"]
    assert invoice["attemptCount"] == 1  # no blind retries
    assert invoice["payments"][0]["decline"]["code"] == "AUTHENTICATION_REQUIRED"


async def test_cancel_at_period_end_and_now(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api)
    later = (await subscribe(api, customer, price))["subscription"]
    now = (await subscribe(api, customer, price))["subscription"]
    cancel = (
        "mutation($s: ID!, $e: Boolean!) { cancelSubscription(input: {subscriptionId: $s, "
        "atPeriodEnd: $e}) { subscription { status cancelAtPeriodEnd endedAt } "
        "userErrors { code } } }"
    )
    at_end = (await api.data(cancel, {"s": later["id"], "e": True}))["cancelSubscription"]
    assert at_end["subscription"]["status"] == "ACTIVE"
    assert at_end["subscription"]["cancelAtPeriodEnd"] is True
    immediate = (await api.data(cancel, {"s": now["id"], "e": False}))["cancelSubscription"]
    assert immediate["subscription"]["status"] == "CANCELED"
    await advance(api, clock, "2026-03-01T00:00:00Z")
    later = await subscription(api, later["id"])
    assert (later["status"], later["endedAt"]) == ("CANCELED", "2026-02-01T00:00:00+00:00")
    assert len(later["invoices"]) == 1  # no renewal after the end
