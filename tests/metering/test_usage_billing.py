"""Usage on invoices beyond the period's end: progressive billing at a threshold, usage
alerts as events, the last period's usage of a subscription canceled at its end, and
what frontends read while a period runs (currentUsage, upcomingInvoice)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.events.helpers import all_events
from tests.factories import advance, clock_and_customer, monthly_price, subscribe
from tests.metering.usage import create_meter, invoices, send_usage, usage_price

DIME = {"model": "PER_UNIT", "unitAmountDecimal": "0.10"}


def _usage(customer: str, key: str, day: int, value: int) -> dict[str, Any]:
    return {
        "idempotencyKey": key,
        "meterKey": "gb",
        "customerId": customer,
        "timestamp": f"2026-01-{day:02d}T08:00:00Z",
        "value": str(value),
    }


async def _metered(api: Api) -> tuple[str, str, str, str]:
    meter = await create_meter(api, "gb", "SUM")
    price = await usage_price(api, meter, **DIME)
    clock, customer = await clock_and_customer(api, "tok_visa")
    created = await subscribe(api, customer, price)
    assert created["userErrors"] == [], created
    return meter, clock, customer, created["subscription"]["id"]


@pytest.mark.both_databases
async def test_a_threshold_invoices_usage_mid_period_and_the_period_bills_the_rest(
    api: Api,
) -> None:
    meter, clock, customer, subscription = await _metered(api)
    set_ = await api.data(
        'mutation($s: ID!) { setUsageThreshold(input: {subscriptionId: $s, amount: "5.00"}) '
        "{ subscription { usageThreshold { amount } } userErrors { code } } }",
        {"s": subscription},
    )
    assert set_["setUsageThreshold"]["subscription"]["usageThreshold"] == {"amount": "5.00"}
    alert = await api.data(
        'mutation($m: ID!) { createUsageAlert(input: {meterId: $m, quantity: "50"}) '
        "{ usageAlert { id quantity } userErrors { code } } }",
        {"m": meter},
    )
    assert alert["createUsageAlert"]["usageAlert"]["quantity"] == "50"

    await advance(api, clock, "2026-01-10T00:00:00Z")
    await send_usage(api, [_usage(customer, "a", 9, 30)])  # 3.00 so far
    await advance(api, clock, "2026-01-11T00:00:00Z")
    assert [i["billingReason"] for i in await invoices(api, subscription)] == [
        "SUBSCRIPTION_CREATE"
    ]
    await send_usage(api, [_usage(customer, "b", 10, 30)])  # 6.00: over the threshold
    await advance(api, clock, "2026-01-12T00:00:00Z")
    threshold = (await invoices(api, subscription))[-1]
    assert (threshold["billingReason"], threshold["status"]) == ("SUBSCRIPTION_THRESHOLD", "PAID")
    [line] = threshold["lines"]
    assert (line["usageQuantity"], line["amount"]["amountMinor"]) == ("60", "600")
    [event] = await all_events(api, types=["USAGE_ALERT_TRIGGERED"])
    assert event["data"]["quantity"] == "60"
    assert event["data"]["threshold"] == "50"
    assert event["data"]["customerId"] == customer

    await send_usage(api, [_usage(customer, "c", 11, 10)])
    await advance(api, clock, "2026-02-01T02:00:00Z")
    cycle = (await invoices(api, subscription))[-1]
    assert cycle["billingReason"] == "SUBSCRIPTION_CYCLE"
    [rest] = [line for line in cycle["lines"] if line["usageQuantity"] is not None]
    # 70 GB cost 7.00 in all; 6.00 were billed at the threshold
    assert (rest["usageQuantity"], rest["amount"]["amountMinor"]) == ("70", "100")
    assert len(await all_events(api, types=["USAGE_ALERT_TRIGGERED"])) == 1  # once a period


async def test_a_subscription_canceled_at_period_end_bills_its_last_usage(api: Api) -> None:
    _, clock, customer, subscription = await _metered(api)
    await api.data(
        "mutation($s: ID!) { cancelSubscription(input: {subscriptionId: $s, "
        "atPeriodEnd: true}) { userErrors { code } } }",
        {"s": subscription},
    )
    await advance(api, clock, "2026-01-10T00:00:00Z")
    await send_usage(api, [_usage(customer, "a", 9, 25)])
    await advance(api, clock, "2026-02-01T02:00:00Z")
    found = await api.data(
        "query($s: ID!) { subscription(id: $s) { status } }", {"s": subscription}
    )
    assert found["subscription"]["status"] == "CANCELED"
    last = (await invoices(api, subscription))[-1]
    assert last["status"] == "PAID"
    [line] = last["lines"]
    assert (line["usageQuantity"], line["amount"]["amountMinor"]) == ("25", "250")
    await advance(api, clock, "2026-03-01T02:00:00Z")
    assert len(await invoices(api, subscription)) == 2  # nothing after it ended


async def test_usage_so_far_and_the_upcoming_invoice(api: Api) -> None:
    _, clock, customer, subscription = await _metered(api)
    await advance(api, clock, "2026-01-10T00:00:00Z")
    await send_usage(api, [_usage(customer, "a", 9, 12)])
    found = await api.data(
        "query($s: ID!) { subscription(id: $s) { currentUsage { meter { key } periodStart "
        "quantity amount { amountMinor } adjustment } upcomingInvoice { periodStart "
        "lines { description usageQuantity amount { amountMinor } } total { amountMinor } } } }",
        {"s": subscription},
    )
    [usage] = found["subscription"]["currentUsage"]
    assert usage == {
        "meter": {"key": "gb"},
        "periodStart": "2026-01-01T00:00:00+00:00",
        "quantity": "12",
        "amount": {"amountMinor": "120"},
        "adjustment": False,
    }
    upcoming = found["subscription"]["upcomingInvoice"]
    assert upcoming["periodStart"] == "2026-02-01T00:00:00+00:00"
    assert [line["usageQuantity"] for line in upcoming["lines"]] == ["12"]
    assert upcoming["total"] == {"amountMinor": "120"}


async def test_a_licensed_item_changes_beside_usage_and_the_preview_shows_usage(
    api: Api,
) -> None:
    meter = await create_meter(api, "gb", "SUM")
    usage = await usage_price(api, meter, **DIME)
    seats = await monthly_price(api, "10.00")
    clock, customer = await clock_and_customer(api, "tok_visa")
    created = await api.data(
        "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
        "{ subscription { id } userErrors { code message } } }",
        {
            "i": {
                "idempotencyKey": "two-items",
                "customerId": customer,
                "items": [{"priceId": seats, "quantity": 2}, {"priceId": usage}],
            }
        },
    )
    assert created["createSubscription"]["userErrors"] == []
    subscription = created["createSubscription"]["subscription"]["id"]
    await advance(api, clock, "2026-01-10T00:00:00Z")
    await send_usage(api, [_usage(customer, "a", 9, 40)])
    preview = await api.data(
        "query($s: ID!) { previewSubscriptionChange(subscriptionId: $s, quantity: 3, "
        "prorationBehavior: NONE) { lines { description usageQuantity amount { amountMinor } } "
        "total { amountMinor } } }",
        {"s": subscription},
    )
    lines = preview["previewSubscriptionChange"]["lines"]
    assert [(line["usageQuantity"], line["amount"]["amountMinor"]) for line in lines] == [
        (None, "3000"),  # 3 seats for February
        ("40", "400"),  # January's usage so far
    ]
    changed = await api.data(
        'mutation($s: ID!) { updateSubscription(input: {idempotencyKey: "q3", '
        "subscriptionId: $s, quantity: 3, prorationBehavior: NONE}) "
        "{ userErrors { code message } } }",
        {"s": subscription},
    )
    assert changed["updateSubscription"]["userErrors"] == []
    await advance(api, clock, "2026-02-01T02:00:00Z")
    february = (await invoices(api, subscription))[-1]
    assert sorted(line["amount"]["amountMinor"] for line in february["lines"]) == ["3000", "400"]


@pytest.mark.both_databases
async def test_a_meter_corrected_after_its_invoice_is_credited_on_the_next(api: Api) -> None:
    meter, clock, customer, subscription = await _metered(api)
    await advance(api, clock, "2026-01-10T00:00:00Z")
    eu = {**_usage(customer, "eu", 9, 20), "properties": {"region": "eu"}}
    test = {**_usage(customer, "test", 9, 5), "properties": {"region": "test"}}
    await send_usage(api, [eu, test])
    await advance(api, clock, "2026-02-01T02:00:00Z")
    [january] = [i for i in await invoices(api, subscription) if i["number"] == "PG-000002"]
    assert [line["usageQuantity"] for line in january["lines"]] == ["25"]
    # The test traffic should never have counted: the meter's filters are corrected
    corrected = await api.data(
        'mutation($m: ID!) { updateMeter(input: {id: $m, filters: [{property: "region", '
        'values: ["eu"]}]}) { meter { filters { property values } } userErrors { code } } }',
        {"m": meter},
    )
    assert corrected["updateMeter"]["userErrors"] == []
    assert (await invoices(api, subscription))[1] == january  # never changed
    await advance(api, clock, "2026-03-01T02:00:00Z")
    february = (await invoices(api, subscription))[-1]
    credit = [line for line in february["lines"] if line["usageAdjustment"]]
    assert [(c["usageQuantity"], c["amount"]["amountMinor"]) for c in credit] == [("20", "-50")]
    assert february["status"] == "PAID"  # a net credit: nothing charged, carried forward


async def test_a_subscription_canceled_at_once_bills_its_usage_so_far(api: Api) -> None:
    _, clock, customer, subscription = await _metered(api)
    await advance(api, clock, "2026-01-10T00:00:00Z")
    await send_usage(api, [_usage(customer, "a", 9, 15)])
    canceled = await api.data(
        "mutation($s: ID!) { cancelSubscription(input: {subscriptionId: $s}) "
        "{ subscription { status } userErrors { code } } }",
        {"s": subscription},
    )
    assert canceled["cancelSubscription"]["subscription"]["status"] == "CANCELED"
    await advance(api, clock, "2026-01-10T02:00:00Z")  # after the grace window
    last = (await invoices(api, subscription))[-1]
    assert last["status"] == "PAID"
    [line] = last["lines"]
    assert (line["usageQuantity"], line["amount"]["amountMinor"]) == ("15", "150")
    assert (line["periodStart"], line["periodEnd"]) == (
        "2026-01-01T00:00:00+00:00",
        "2026-01-10T00:00:00+00:00",
    )
