"""Subscription changes with previews, invoice items and manual invoices, invoice actions."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Api
from tests.factories import advance, clock_and_customer, monthly_price, subscribe, subscription

PREVIEW = """
query($s: ID!, $p: ID, $q: Int, $b: ProrationBehavior!) {
  previewSubscriptionChange(subscriptionId: $s, priceId: $p, quantity: $q,
                            prorationBehavior: $b) {
    immediate periodStart periodEnd subtotal { amountMinor } total { amountMinor }
    lines { description amount { amountMinor } proration }
  }
}
"""
UPDATE = """
mutation($i: UpdateSubscriptionInput!) {
  updateSubscription(input: $i) {
    subscription { id status items { quantity unitAmount { amountMinor } } }
    userErrors { field code message }
  }
}
"""
INVOICE_FIELDS = (
    "id number status total { amountMinor } amountPaid { amountMinor } "
    "lines { description amount { amountMinor } }"
)


async def update(api: Api, subscription_id: str, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.data(
            UPDATE,
            {
                "i": {
                    "idempotencyKey": str(uuid.uuid4()),
                    "subscriptionId": subscription_id,
                    **fields,
                }
            },
        )
    )["updateSubscription"]
    return result


async def test_upgrade_mid_period_preview_then_always_invoice(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")  # 2026-01-01
    basic, pro = await monthly_price(api, "10.00"), await monthly_price(api, "40.00")
    sub = (await subscribe(api, customer, basic))["subscription"]  # Jan 1 - Feb 1 (31 days)
    await advance(api, clock, "2026-01-16T12:00:00Z")  # 15.5 days left of 31: half

    preview = (await api.data(PREVIEW, {"s": sub["id"], "p": pro, "b": "ALWAYS_INVOICE"}))[
        "previewSubscriptionChange"
    ]
    assert preview["immediate"] is True
    assert [(line["amount"]["amountMinor"], line["proration"]) for line in preview["lines"]] == [
        ("-500", True),
        ("2000", True),
    ]
    assert preview["total"] == {"amountMinor": "1500"}
    unchanged = await subscription(api, sub["id"])
    assert len(unchanged["invoices"]) == 1  # a dry run changes nothing

    changed = await update(api, sub["id"], priceId=pro, prorationBehavior="ALWAYS_INVOICE")
    assert changed["userErrors"] == []
    assert changed["subscription"]["items"][0]["unitAmount"] == {"amountMinor": "4000"}
    after = await subscription(api, sub["id"])
    invoice = after["invoices"][-1]
    assert invoice["billingReason"] == "SUBSCRIPTION_UPDATE"
    assert (invoice["status"], invoice["total"]) == ("PAID", {"amountMinor": "1500"})
    assert [line["amount"]["amountMinor"] for line in invoice["lines"]] == [
        line["amount"]["amountMinor"] for line in preview["lines"]
    ]
    await advance(api, clock, "2026-02-01T01:00:00Z")
    renewal = (await subscription(api, sub["id"]))["invoices"][-1]
    assert renewal["total"] == {"amountMinor": "4000"}  # the new price from now on


async def test_create_prorations_go_on_the_next_invoice(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "30.00")
    sub = (await subscribe(api, customer, price))["subscription"]
    await advance(api, clock, "2026-01-16T12:00:00Z")
    preview = (await api.data(PREVIEW, {"s": sub["id"], "q": 3, "b": "CREATE_PRORATIONS"}))[
        "previewSubscriptionChange"
    ]
    assert preview["immediate"] is False
    assert [line["amount"]["amountMinor"] for line in preview["lines"]] == ["9000", "-1500", "4500"]
    await update(api, sub["id"], quantity=3)
    await advance(api, clock, "2026-02-01T01:00:00Z")
    renewal = (await subscription(api, sub["id"]))["invoices"][-1]
    assert renewal["total"] == preview["total"] == {"amountMinor": "12000"}
    assert sorted(line["amount"]["amountMinor"] for line in renewal["lines"]) == sorted(
        line["amount"]["amountMinor"] for line in preview["lines"]
    )


async def test_invoice_items_manual_invoice_finalize_pay(api: Api) -> None:
    _, customer = await clock_and_customer(api, "tok_visa")
    item = (
        await api.data(
            "mutation($c: ID!, $k: String!) { createInvoiceItem(input: {customerId: $c, "
            'idempotencyKey: $k, description: "Setup", amount: {amount: "49.99", '
            'currency: "EUR"}}) { invoiceItem { description amount { amount } } '
            "userErrors { code } } }",
            {"c": customer, "k": str(uuid.uuid4())},
        )
    )["createInvoiceItem"]
    assert item["invoiceItem"] == {"description": "Setup", "amount": {"amount": "49.99"}}
    draft = (
        await api.data(
            f"mutation($c: ID!, $k: String!) {{ createInvoice(input: {{customerId: $c, "
            f'idempotencyKey: $k, currency: "EUR"}}) '
            f"{{ invoice {{ {INVOICE_FIELDS} }} userErrors {{ code }} }} }}",
            {"c": customer, "k": str(uuid.uuid4())},
        )
    )["createInvoice"]["invoice"]
    assert (draft["status"], draft["number"], draft["total"]) == (
        "DRAFT", None, {"amountMinor": "4999"}
    )  # fmt: skip
    finalized = (
        await api.data(
            f"mutation($i: ID!, $k: String!) {{ finalizeInvoice(input: {{invoiceId: $i, "
            f"idempotencyKey: $k}}) {{ invoice {{ {INVOICE_FIELDS} }} userErrors {{ code }} }} }}",
            {"i": draft["id"], "k": str(uuid.uuid4())},
        )
    )["finalizeInvoice"]["invoice"]
    assert finalized["status"] == "OPEN" and finalized["number"].startswith("PG-")
    paid = (
        await api.data(
            f"mutation($i: ID!, $k: String!) {{ payInvoice(input: {{invoiceId: $i, "
            f"idempotencyKey: $k}}) {{ invoice {{ {INVOICE_FIELDS} }} userErrors {{ code }} }} }}",
            {"i": draft["id"], "k": str(uuid.uuid4())},
        )
    )["payInvoice"]
    assert paid["invoice"]["status"] == "PAID"
    assert paid["invoice"]["amountPaid"] == {"amountMinor": "4999"}
    again = (
        await api.data(
            "mutation($i: ID!) { voidInvoice(input: {invoiceId: $i}) { invoice { status } "
            "userErrors { code } } }",
            {"i": draft["id"]},
        )
    )["voidInvoice"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]
    empty = (
        await api.data(
            "mutation($c: ID!, $k: String!) { createInvoice(input: {customerId: $c, "
            'idempotencyKey: $k, currency: "EUR"}) { invoice { id } userErrors { code } } }',
            {"c": customer, "k": str(uuid.uuid4())},
        )
    )["createInvoice"]
    assert [e["code"] for e in empty["userErrors"]] == ["INVALID_STATE"]


async def test_open_invoices_are_listed_and_can_be_written_off(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_threeDSecureRequired")
    price = await monthly_price(api, trial_days=7)
    sub = (await subscribe(api, customer, price))["subscription"]
    await advance(api, clock, "2026-01-09T00:00:00Z")
    sub = await subscription(api, sub["id"])
    assert sub["status"] == "PAST_DUE"
    invoices = (
        await api.data(
            "query($c: ID!) { invoices(filter: {customerId: $c, status: [OPEN]}) { totalCount "
            "edges { node { id number } } } }",
            {"c": customer},
        )
    )["invoices"]
    assert invoices["totalCount"] == 1
    invoice_id = invoices["edges"][0]["node"]["id"]
    voided = (
        await api.data(
            "mutation($i: ID!) { markInvoiceUncollectible(input: {invoiceId: $i}) "
            "{ invoice { status } userErrors { code } } }",
            {"i": invoice_id},
        )
    )["markInvoiceUncollectible"]
    assert voided["invoice"]["status"] == "UNCOLLECTIBLE"


async def test_a_downgrade_credit_is_carried_not_lost(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    pro, basic = await monthly_price(api, "40.00"), await monthly_price(api, "10.00")
    sub = (await subscribe(api, customer, pro))["subscription"]
    await advance(api, clock, "2026-01-16T12:00:00Z")  # half of January left
    await update(api, sub["id"], priceId=basic)  # credit 20.00, charge 5.00: net -15.00
    await advance(api, clock, "2026-02-01T01:00:00Z")
    february = (await subscription(api, sub["id"]))["invoices"][-1]
    assert february["total"] == {"amountMinor": "0"}  # 10.00 - 15.00 < 0: closes at zero
    await advance(api, clock, "2026-03-01T01:00:00Z")
    march = (await subscription(api, sub["id"]))["invoices"][-1]
    assert march["total"] == {"amountMinor": "500"}  # 10.00 - the 5.00 carried forward
