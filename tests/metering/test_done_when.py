"""Issue 24's "Done when", through the public surface: a meter and a graduated usage price
made in GraphQL, usage sent to ``POST /usage`` (as with curl), a test clock moved across
the period, an invoice whose usage line matches the meter, and a late event billed as an
adjustment on the next invoice. On PostgreSQL and on SQLite (what ``make run`` serves)."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.factories import advance, clock_and_customer, subscribe
from tests.metering.usage import create_meter, invoices, send_usage, usage_price

pytestmark = pytest.mark.both_databases

GRADUATED = {
    "model": "TIERED_GRADUATED",
    "tiers": [
        {"upTo": 1000, "unitAmount": "0"},  # the first 1,000 calls are free
        {"upTo": 100000, "unitAmount": "0.01", "flatAmount": "5.00"},
        {"upTo": None, "unitAmount": "0.0025"},
    ],
}


def _calls(customer: str, day: int, count: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {
            "idempotencyKey": f"call-{day}-{n}",
            "meterKey": "api_calls",
            "customerId": customer,
            "timestamp": f"2026-01-{day:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
        }
        for n in range(start, start + count)
    ]


async def test_usage_from_meter_to_invoice_and_a_late_adjustment(api: Api) -> None:
    meter = await create_meter(api, "api_calls", "COUNT")
    price = await usage_price(api, meter, **GRADUATED)
    clock, customer = await clock_and_customer(api, "tok_visa")
    created = await subscribe(api, customer, price)
    assert created["userErrors"] == []
    subscription = created["subscription"]["id"]
    assert created["subscription"]["status"] == "ACTIVE"  # nothing to pay in advance

    await advance(api, clock, "2026-01-20T00:00:00Z")
    sent = 0
    for day in range(2, 15):  # 13 days x 100 calls
        answer = await send_usage(api, _calls(customer, day, 100))
        assert (answer["accepted"], answer["refused"]) == (100, 0), answer
        sent += 100
    # a client that timed out sends its batch again: nothing counts twice
    again = await send_usage(api, _calls(customer, 14, 100))
    assert (again["accepted"], again["duplicates"]) == (0, 100)

    usage = await api.data(
        'query($c: ID!) { customer(id: $c) { usage(meterKey: "api_calls", '
        'from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z") { quantity '
        "buckets { start quantity } } } }",
        {"c": customer},
    )
    assert usage["customer"]["usage"]["quantity"] == "1300"
    assert sum(int(b["quantity"]) for b in usage["customer"]["usage"]["buckets"]) == 1300

    # The period ends; its invoice waits an hour (the grace window) for late usage.
    await advance(api, clock, "2026-02-01T00:30:00Z")
    waiting = (await invoices(api, subscription))[-1]
    assert (waiting["status"], waiting["number"]) == ("DRAFT", None)
    late = await send_usage(api, _calls(customer, 31, 2))  # within the grace window
    assert late["accepted"] == 2

    await advance(api, clock, "2026-02-01T02:00:00Z")
    january = (await invoices(api, subscription))[-1]
    assert january["status"] == "PAID"
    [line] = [line for line in january["lines"] if line["usageQuantity"] is not None]
    assert line["usageQuantity"] == "1302"
    assert (line["periodStart"], line["periodEnd"]) == (
        "2026-01-01T00:00:00+00:00",
        "2026-02-01T00:00:00+00:00",
    )
    # 1,000 free, then 302 calls at 1 cent and the second tier's 5.00 flat fee
    assert line["amount"]["amountMinor"] == str(302 + 500)
    assert line["usageAdjustment"] is False

    # An event of January arrives after January's invoice was finalized: that invoice
    # never changes; the difference is billed on the next one, naming January.
    late = await send_usage(api, _calls(customer, 31, 4, start=2))
    assert late["accepted"] == 4
    assert (await invoices(api, subscription))[-1] == january
    await advance(api, clock, "2026-03-01T02:00:00Z")
    february = (await invoices(api, subscription))[-1]
    usage_lines = {line["usageAdjustment"]: line for line in february["lines"]}
    adjustment = usage_lines[True]
    assert adjustment["usageQuantity"] == "1306"
    assert adjustment["amount"]["amountMinor"] == "4"
    assert adjustment["periodStart"] == "2026-01-01T00:00:00+00:00"
    assert "adjustment" in adjustment["description"]
    assert usage_lines[False]["usageQuantity"] == "0"  # February: no usage
    assert usage_lines[False]["amount"]["amountMinor"] == "0"
    assert february["total"]["amountMinor"] == "4"
