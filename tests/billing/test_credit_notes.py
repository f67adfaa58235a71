"""Credit notes (issue 28): a paid invoice partly credited with a refund, an open invoice
owing less, a credit balance the next renewal uses, the void rules, racing notes, and bad
input that changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app.psp.errors import PspUnavailable
from app.schema.node import encode_gid
from tests.conftest import Api
from tests.factories import (
    advance,
    api_key,
    clock_and_customer,
    key,
    monthly_price,
    new_customer,
    subscribe,
)

NOTE = """
  id number status reason memo
  subtotal { amountMinor } tax { amountMinor } total { amountMinor currency }
  prePaymentAmount { amountMinor } refundAmount { amountMinor }
  creditBalanceAmount { amountMinor } outOfBandAmount { amountMinor }
  lines { description quantity amount { amountMinor } tax { amountMinor } invoiceLineId }
  refund { id status amount { amountMinor } pspReference }
  invoice { id }
"""
CREATE = (
    "mutation($i: CreateCreditNoteInput!) { createCreditNote(input: $i) "
    f"{{ creditNote {{ {NOTE} }} userErrors {{ field code message }} }} }}"
)
VOID = (
    "mutation($i: VoidCreditNoteInput!) { voidCreditNote(input: $i) "
    "{ creditNote { id status } userErrors { field code message } } }"
)
INVOICE = """
query($id: ID!) { invoice(id: $id) {
  id number status total { amountMinor } tax { amountMinor } amountPaid { amountMinor }
  amountRemaining { amountMinor } amountCredited { amountMinor }
  creditBalanceApplied { amountMinor }
  lines { id description amount { amountMinor } tax { amountMinor } }
  creditNotes { number status total { amountMinor } }
  payments { id amountRefunded { amountMinor } }
} }
"""


def minor(money: dict[str, Any]) -> int:
    return int(money["amountMinor"])


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


async def invoice_view(api: Api, invoice: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.data(INVOICE, {"id": invoice}))["invoice"]
    return found


async def credit(api: Api, invoice: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("idempotencyKey", key())
    result: dict[str, Any] = (await api.data(CREATE, {"i": {"invoiceId": invoice, **fields}}))[
        "createCreditNote"
    ]
    return result


async def void(api: Api, note: str) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(VOID, {"i": {"creditNoteId": note}}))["voidCreditNote"]
    return result


async def vat(api: Api) -> None:
    made = await api.data(
        'mutation { createTaxRate(input: {displayName: "VAT", percentage: "19", '
        'inclusive: false, country: "DE"}) { userErrors { code } } }'
    )
    assert made["createTaxRate"]["userErrors"] == []


async def invoice_of(api: Api, customer: str, *amounts: str, pay: bool) -> str:
    """A finalized manual invoice of one item per amount (USD), paid if ``pay``."""
    for number, amount in enumerate(amounts, 1):
        item = await api.data(
            "mutation($i: CreateInvoiceItemInput!) { createInvoiceItem(input: $i) "
            "{ userErrors { code } } }",
            {"i": {"idempotencyKey": key(), "customerId": customer, "amount": usd(amount),
                   "description": f"Item {number}"}},
        )  # fmt: skip
        assert item["createInvoiceItem"]["userErrors"] == []
    made = await api.data(
        "mutation($c: ID!, $k: String!) { createInvoice(input: {customerId: $c, "
        'currency: "USD", idempotencyKey: $k}) { invoice { id } userErrors { code } } }',
        {"c": customer, "k": key()},
    )
    invoice: str = made["createInvoice"]["invoice"]["id"]
    final = await api.data(
        "mutation($i: ID!, $k: String!) { finalizeInvoice(input: {invoiceId: $i, "
        "idempotencyKey: $k}) { invoice { status } userErrors { code } } }",
        {"i": invoice, "k": key()},
    )
    assert final["finalizeInvoice"]["invoice"]["status"] == "OPEN", final
    if pay:
        paid = await api.data(
            "mutation($i: ID!, $k: String!) { payInvoice(input: {invoiceId: $i, "
            "idempotencyKey: $k}) { invoice { status } userErrors { code message } } }",
            {"i": invoice, "k": key()},
        )
        assert paid["payInvoice"]["invoice"]["status"] == "PAID", paid
    return invoice


async def count(api: Api, sql: str) -> int:
    async with api.engine.connect() as connection:
        return int(await connection.scalar(sa.text(sql)))


@pytest.mark.both_databases
async def test_a_paid_invoice_partly_credited_with_a_refund_has_exact_number_and_tax(
    api: Api,
) -> None:
    await vat(api)
    customer = await new_customer(api, "tok_visa", country="DE")
    invoice = await invoice_of(api, customer, "10.00", "5.05", pay=True)
    before = await invoice_view(api, invoice)
    line_a, line_b = before["lines"]
    # 10.00 x 19 % = 1.90; 5.05 x 19 % = 0.9595 -> 0.96 (half to even, per line)
    assert [minor(line["tax"]) for line in (line_a, line_b)] == [190, 96]
    assert minor(before["total"]) == 1791 and before["status"] == "PAID"

    first = await credit(
        api, invoice, lines=[{"invoiceLineId": line_a["id"], "amount": usd("3.33")}],
        reason="PRODUCT_UNSATISFACTORY", memo="Partly unsatisfied", refund={},
    )  # fmt: skip
    assert first["userErrors"] == []
    note = first["creditNote"]
    assert note["number"] == "PG-CN-000001" and note["status"] == "ISSUED"
    # 3.33 of 10.00: 1.90 x 333 / 1000 = 0.63270 -> 0.63
    assert (minor(note["subtotal"]), minor(note["tax"]), minor(note["total"])) == (333, 63, 396)
    assert minor(note["refundAmount"]) == 396 and note["refund"]["status"] == "SUCCEEDED"
    sandbox = api.app.state.runtime.psps.sandbox
    at_psp = await sandbox.retrieve_refund(note["refund"]["pspReference"])
    assert at_psp.amount.amount_minor == 396

    second = await credit(
        api, invoice, lines=[{"invoiceLineId": line_b["id"], "quantity": 1}],
        outOfBand=usd("6.01"),
    )  # fmt: skip
    assert second["userErrors"] == []
    assert second["creditNote"]["number"] == "PG-CN-000002"
    assert minor(second["creditNote"]["tax"]) == 96  # the whole line: its whole tax
    assert second["creditNote"]["refund"] is None

    rest = await credit(
        api, invoice, lines=[{"invoiceLineId": line_a["id"], "amount": usd("6.67")}],
        refund={"amount": usd("7.94")},
    )  # fmt: skip
    assert rest["userErrors"] == []
    # the note that credits the rest of a line credits the rest of its tax: 1.90 - 0.63
    assert rest["creditNote"]["number"] == "PG-CN-000003"
    assert minor(rest["creditNote"]["tax"]) == 127

    after = await invoice_view(api, invoice)
    assert [n["number"] for n in after["creditNotes"]] == [
        "PG-CN-000001", "PG-CN-000002", "PG-CN-000003"
    ]  # fmt: skip
    assert sum(minor(n["total"]) for n in after["creditNotes"]) == minor(after["total"])
    assert after["lines"] == before["lines"]  # the invoice never changes
    assert minor(after["payments"][0]["amountRefunded"]) == 396 + 794
    more = await credit(api, invoice, amount=usd("0.01"), outOfBand=usd("0.01"))
    assert [e["code"] for e in more["userErrors"]] == ["CREDIT_EXCEEDS_CREDITABLE"]
    assert await count(api, "SELECT count(*) FROM credit_notes") == 3


async def test_a_repeated_request_replays_its_note(api: Api) -> None:
    customer = await new_customer(api, "tok_visa")
    invoice = await invoice_of(api, customer, "20.00", pay=True)
    fields = {"idempotencyKey": key(), "amount": usd("5.00"), "refund": {}}
    first = await credit(api, invoice, **fields)
    again = await credit(api, invoice, **fields)
    assert again == first and first["creditNote"]["number"] == "PG-CN-000001"
    assert await count(api, "SELECT count(*) FROM refunds") == 1
    reused = await credit(api, invoice, **{**fields, "amount": usd("6.00")})
    assert [e["code"] for e in reused["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]


async def test_an_open_invoice_owes_less_and_a_void_restores_it(api: Api) -> None:
    await vat(api)
    customer = await new_customer(api, None, country="DE")
    invoice = await invoice_of(api, customer, "10.00", pay=False)  # total 11.90
    made = await credit(api, invoice, amount=usd("2.38"), reason="ORDER_CHANGE")
    assert made["userErrors"] == []
    note = made["creditNote"]
    # 2.38 of 11.90 tax included: 2.00 and its 0.38 of tax
    assert (minor(note["subtotal"]), minor(note["tax"])) == (200, 38)
    assert minor(note["prePaymentAmount"]) == 238
    view = await invoice_view(api, invoice)
    assert (minor(view["amountCredited"]), minor(view["amountRemaining"])) == (238, 952)
    too_much = await credit(api, invoice, amount=usd("9.53"))
    assert [e["code"] for e in too_much["userErrors"]] == ["CREDIT_EXCEEDS_CREDITABLE"]
    refund = await credit(api, invoice, amount=usd("1.00"), refund={})
    assert [e["code"] for e in refund["userErrors"]] == ["INVALID_STATE"]

    assert (await void(api, note["id"]))["creditNote"]["status"] == "VOID"
    view = await invoice_view(api, invoice)
    assert (minor(view["amountCredited"]), minor(view["amountRemaining"])) == (0, 1190)
    again = await void(api, note["id"])
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]

    whole = await credit(api, invoice, amount=usd("11.90"))
    assert whole["creditNote"]["number"] == "PG-CN-000002"  # the voided one keeps its number
    assert (await invoice_view(api, invoice))["status"] == "PAID"  # nothing owed: paid
    await void(api, whole["creditNote"]["id"])
    view = await invoice_view(api, invoice)
    assert view["status"] == "OPEN" and minor(view["amountRemaining"]) == 1190


@pytest.mark.both_databases
async def test_a_credit_balance_is_used_by_the_next_renewal(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "10.00")
    sub = (await subscribe(api, customer, price))["subscription"]
    invoices = await api.data(
        "query($c: ID!) { customer(id: $c) { invoices { id status } } }", {"c": customer}
    )
    [first] = invoices["customer"]["invoices"]
    assert first["status"] == "PAID"
    made = await credit(api, first["id"], amount=usd("4.00"), creditBalance=usd("4.00"))
    assert made["userErrors"] == [] and made["creditNote"]["refund"] is None
    balance = "query($c: ID!) { customer(id: $c) { creditBalance { amountMinor currency } } }"
    assert (await api.data(balance, {"c": customer}))["customer"]["creditBalance"] == [
        {"amountMinor": "400", "currency": "USD"}
    ]
    await advance(api, clock, "2026-02-01T00:00:01Z")
    renewal = await api.data(
        "query($s: ID!) { subscription(id: $s) { latestInvoice { status total { amountMinor } "
        "creditBalanceApplied { amountMinor } amountPaid { amountMinor } "
        "amountRemaining { amountMinor } payments { amount { amountMinor } } } } }",
        {"s": sub["id"]},
    )
    latest = renewal["subscription"]["latestInvoice"]
    assert latest["status"] == "PAID"
    assert [minor(latest[k]) for k in ("total", "creditBalanceApplied", "amountPaid")] == [
        1000, 400, 600
    ]  # fmt: skip
    assert [minor(p["amount"]) for p in latest["payments"]] == [600]
    assert minor(latest["amountRemaining"]) == 0
    assert (await api.data(balance, {"c": customer}))["customer"]["creditBalance"] == []
    spent = await void(api, made["creditNote"]["id"])
    assert [e["code"] for e in spent["userErrors"]] == ["CREDIT_BALANCE_SPENT"]


async def test_void_rules(api: Api) -> None:
    customer = await new_customer(api, "tok_visa")
    invoice = await invoice_of(api, customer, "30.00", pay=True)
    refunded = await credit(api, invoice, amount=usd("5.00"), refund={})
    refused = await void(api, refunded["creditNote"]["id"])
    assert [e["code"] for e in refused["userErrors"]] == ["CREDIT_NOTE_REFUNDED"]
    kept = await credit(api, invoice, amount=usd("5.00"), creditBalance=usd("5.00"))
    assert (await void(api, kept["creditNote"]["id"]))["creditNote"]["status"] == "VOID"
    balance = await api.data(
        "query($c: ID!) { customer(id: $c) { creditBalance { amountMinor } } }", {"c": customer}
    )
    assert balance["customer"]["creditBalance"] == []  # taken back
    statuses = await api.data(
        "query($i: ID!) { creditNotes(invoiceId: $i) { edges { node { number status } } } }",
        {"i": invoice},
    )
    assert [e["node"] for e in statuses["creditNotes"]["edges"]] == [
        {"number": "PG-CN-000002", "status": "VOID"},
        {"number": "PG-CN-000001", "status": "ISSUED"},
    ]
    events = await count(
        api, "SELECT count(*) FROM events WHERE type IN ('credit_note.created', "
        "'credit_note.voided')",
    )  # fmt: skip
    assert events == 3


@pytest.mark.both_databases
async def test_racing_notes_never_over_credit_and_number_without_gaps(api: Api) -> None:
    customer = await new_customer(api, None)
    invoice = await invoice_of(api, customer, "10.00", pay=False)
    other = await invoice_of(api, customer, "10.00", pay=False)
    racing = [credit(api, invoice, amount=usd("4.00")) for _ in range(6)]
    racing += [credit(api, other, amount=usd("1.00")) for _ in range(4)]
    answers = await asyncio.gather(*racing)
    made = [a["creditNote"]["number"] for a in answers if a["creditNote"]]
    refused = [e["code"] for a in answers for e in a["userErrors"]]
    assert len(made) == 6 and refused == ["CREDIT_EXCEEDS_CREDITABLE"] * 4
    assert sorted(made) == [f"PG-CN-{n:06d}" for n in range(1, 7)]
    view = await invoice_view(api, invoice)
    assert (minor(view["amountCredited"]), minor(view["amountRemaining"])) == (800, 200)
    assert minor((await invoice_view(api, other))["amountRemaining"]) == 600


async def test_bad_input_changes_nothing(api: Api) -> None:
    customer = await new_customer(api, "tok_visa")
    invoice = await invoice_of(api, customer, "10.00", pay=True)
    other = await invoice_of(api, customer, "7.00", pay=True)
    foreign_line = (await invoice_view(api, other))["lines"][0]["id"]
    line = (await invoice_view(api, invoice))["lines"][0]["id"]
    item = await api.data(
        "mutation($i: CreateInvoiceItemInput!) { createInvoiceItem(input: $i) "
        "{ userErrors { code } } }",
        {"i": {"idempotencyKey": key(), "customerId": customer, "amount": usd("1.00"),
               "description": "Later"}},
    )  # fmt: skip
    assert item["createInvoiceItem"]["userErrors"] == []
    drafted = await api.data(
        "mutation($c: ID!, $k: String!) { createInvoice(input: {customerId: $c, "
        'currency: "USD", idempotencyKey: $k}) { invoice { id } } }',
        {"c": customer, "k": key()},
    )
    draft = drafted["createInvoice"]["invoice"]["id"]
    unknown = encode_gid("Invoice", uuid.uuid4())
    cases: list[tuple[str, dict[str, Any], str]] = [
        (customer, {"amount": usd("1.00"), "outOfBand": usd("1.00")}, "WRONG_ID_TYPE"),
        (unknown, {"amount": usd("1.00"), "outOfBand": usd("1.00")}, "NOT_FOUND"),
        (invoice, {"lines": [{"invoiceLineId": foreign_line, "amount": usd("1.00")}],
                   "outOfBand": usd("1.00")}, "NOT_FOUND"),
        (invoice, {"amount": usd("10.01"), "outOfBand": usd("10.01")},
         "CREDIT_EXCEEDS_CREDITABLE"),
        (invoice, {"lines": [{"invoiceLineId": line, "quantity": 2}], "outOfBand": usd("1")},
         "INVALID"),
        (invoice, {"amount": {"amount": "1.00", "currency": "EUR"},
                   "outOfBand": usd("1.00")}, "CURRENCY_MISMATCH"),
        (invoice, {"amount": usd("-1.00"), "outOfBand": usd("1.00")}, "NEGATIVE_AMOUNT"),
        (invoice, {"amount": usd("99999999999999999999"), "outOfBand": usd("1.00")},
         "AMOUNT_OUT_OF_RANGE"),
        (invoice, {"amount": usd("1.00"), "outOfBand": usd("0.50")}, "INVALID_AMOUNT"),
        (invoice, {"amount": usd("1.00")}, "REQUIRED"),
        (invoice, {"amount": usd("1.00"), "lines": [{"invoiceLineId": line, "quantity": 1}],
                   "outOfBand": usd("1.00")}, "INVALID"),
        (draft, {"amount": usd("1.00")}, "INVALID_STATE"),
        (invoice, {"amount": usd("1.00"), "refund": {"paymentId": customer}},
         "WRONG_ID_TYPE"),
    ]  # fmt: skip
    for target, fields, code in cases:
        answer = await credit(api, target, **fields)
        assert answer["creditNote"] is None, (fields, answer)
        assert code in [e["code"] for e in answer["userErrors"]], (fields, answer)
    assert await count(api, "SELECT count(*) FROM credit_notes") == 0
    assert await count(api, "SELECT count(*) FROM refunds") == 0
    assert await count(api, "SELECT next_number FROM invoice_sequences WHERE prefix = 'PG-CN'") == 1


async def test_only_finance_and_admin_may_credit(api: Api) -> None:
    customer = await new_customer(api, "tok_visa")
    invoice = await invoice_of(api, customer, "10.00", pay=True)
    variables = {"i": {"idempotencyKey": key(), "invoiceId": invoice, "amount": usd("1.00"),
                       "outOfBand": usd("1.00")}}  # fmt: skip
    support = await api_key(api, "SUPPORT")
    denied = await api.graphql(CREATE, variables, Authorization=f"Bearer {support}")
    assert "errors" in denied and not (denied.get("data") or {}).get("createCreditNote")
    finance = await api_key(api, "FINANCE")
    allowed = await api.graphql(CREATE, variables, Authorization=f"Bearer {finance}")
    assert allowed["data"]["createCreditNote"]["userErrors"] == [], allowed
    audited = await count(
        api, "SELECT count(*) FROM audit_events WHERE operation = 'createCreditNote'"
    )
    assert audited == 2  # the refusal and the note, like every staff mutation


async def test_a_refund_the_psp_refuses_leaves_a_note_that_can_be_voided(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await new_customer(api, "tok_visa")
    invoice = await invoice_of(api, customer, "10.00", pay=True)

    async def unavailable(*_: Any, **__: Any) -> Any:
        raise PspUnavailable("down for maintenance", psp="sandbox")

    monkeypatch.setattr(api.app.state.runtime.psps.sandbox, "refund", unavailable)
    made = await credit(api, invoice, amount=usd("2.00"), refund={})
    assert [e["code"] for e in made["userErrors"]] == ["PSP_UNAVAILABLE"]
    note = made["creditNote"]
    assert note["refund"]["status"] == "FAILED" and note["number"] == "PG-CN-000001"
    payment = (await invoice_view(api, invoice))["payments"][0]
    assert minor(payment["amountRefunded"]) == 0  # the failed refund gave its reservation back
    assert (await void(api, note["id"]))["creditNote"]["status"] == "VOID"  # nothing refunded
    monkeypatch.undo()
    again = await credit(api, invoice, amount=usd("10.00"), refund={})
    assert again["userErrors"] == [] and again["creditNote"]["refund"]["status"] == "SUCCEEDED"
