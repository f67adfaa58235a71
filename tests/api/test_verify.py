"""``paygate verify``: every money invariant it checks is found when broken, on PostgreSQL
and SQLite, and the command exits 1 then (0 on a sound database).

Each rule is broken the way a bug would break it: rows changed behind the services' back
(constraints that would refuse the change are lifted first, as a migration gone wrong
could have)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.services.invariants import RULES
from tests.conftest import Api
from tests.factories import (
    advance,
    clock_and_customer,
    customer_with,
    key,
    monthly_price,
    pay,
    refund,
    subscribe,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.both_databases, pytest.mark.breaks_invariants]


async def verify(database_url: str) -> tuple[int, dict[str, Any]]:
    """Run ``paygate verify --json``: its exit code and report."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "verify", "--json", "--database-url", database_url,
        cwd=ROOT, env=dict(os.environ), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None, stderr
    return process.returncode, json.loads(stdout)


async def run(api: Api, *statements: str, unchecked: bool = False) -> None:
    """Change rows directly; ``unchecked`` lifts CHECK constraints for it (SQLite: for the
    connection; PostgreSQL: those named in the statements' ``-- drop:`` hints)."""
    async with api.engine.begin() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if unchecked and sqlite:
            await connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        for statement in statements:
            if statement.startswith("-- drop "):
                if not sqlite:
                    table, constraint = statement.removeprefix("-- drop ").split()
                    await connection.exec_driver_sql(
                        f"ALTER TABLE {table} DROP CONSTRAINT {constraint}"
                    )
                continue
            await connection.execute(sa.text(statement))
        if unchecked and sqlite:
            await connection.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")


def literal_id(database_url: str, n: int) -> str:
    """A new primary key as SQL: SQLite keeps UUIDs as 32 hex digits."""
    hex_id = f"0000000000007000800000000000000{n}"
    return f"'{hex_id}'" if "sqlite" in database_url else f"'{hex_id}'::uuid"


def rules_of(report: dict[str, Any]) -> list[str]:
    return sorted({v["rule"] for v in report["violations"]})


async def test_a_sound_database_passes(api: Api, database_url: str) -> None:
    customer = await customer_with(api)
    paid = (await pay(api, customer, "30.00"))["payment"]
    await refund(api, paid["id"], "5.00")
    clock, subscriber = await clock_and_customer(api, "tok_visa")
    await subscribe(api, subscriber, await monthly_price(api))
    await advance(api, clock, "2026-03-05T00:00:00Z")
    code, report = await verify(database_url)
    assert (code, report["violations"]) == (0, [])
    assert report["rules"] == list(RULES)


async def test_refund_bookkeeping_that_disagrees_is_found(api: Api, database_url: str) -> None:
    customer = await customer_with(api)
    paid = (await pay(api, customer, "30.00"))["payment"]
    await refund(api, paid["id"], "5.00")
    await run(api, "UPDATE payments SET amount_refunded_minor = 0")  # the race's outcome
    code, report = await verify(database_url)
    assert code == 1
    assert rules_of(report) == ["payment.refunded"]
    (violation,) = report["violations"]
    assert "amountRefunded is 0" in violation["detail"] and "500" in violation["detail"]


async def test_more_received_than_charged_is_found(api: Api, database_url: str) -> None:
    customer = await customer_with(api)
    await pay(api, customer, "30.00")
    await run(
        api,
        "-- drop payments ck_payments_received_within_amount",
        "UPDATE payments SET amount_received_minor = amount_minor + 1",
        unchecked=True,
    )
    code, report = await verify(database_url)
    assert (code, rules_of(report)) == (1, ["payment.amounts"])


async def test_invoices_that_do_not_add_up_or_are_paid_twice_are_found(
    api: Api, database_url: str
) -> None:
    _, customer = await clock_and_customer(api, "tok_visa")
    await subscribe(api, customer, await monthly_price(api, "29.00"))
    await run(api, "UPDATE invoice_lines SET amount_minor = amount_minor + 1")
    code, report = await verify(database_url)
    assert (code, rules_of(report)) == (1, ["invoice.total"])
    await run(api, "UPDATE invoice_lines SET amount_minor = amount_minor - 1")
    # a second successful charge of the same invoice
    await run(
        api,
        "INSERT INTO payments (id, customer_id, payment_method_id, invoice_id, psp, "
        "psp_reference, psp_idempotency_key, status, capture_method, off_session, currency, "
        "amount_minor, amount_capturable_minor, amount_received_minor, amount_refunded_minor, "
        "metadata, created_at, updated_at) SELECT "
        + literal_id(database_url, 1)
        + ", customer_id, payment_method_id, invoice_id, psp, 'second', 'second', status, "
        "capture_method, off_session, currency, amount_minor, 0, amount_received_minor, 0, "
        "metadata, created_at, updated_at FROM payments WHERE invoice_id IS NOT NULL",
    )  # fmt: skip
    code, report = await verify(database_url)
    assert (code, rules_of(report)) == (1, ["invoice.paid"])
    assert "received 5800" in report["violations"][0]["detail"]


async def test_a_period_billed_twice_is_found(api: Api, database_url: str) -> None:
    if "sqlite" in database_url:
        pytest.skip("SQLite cannot drop the unique constraint that prevents it")
    clock, customer = await clock_and_customer(api, "tok_visa")
    await subscribe(api, customer, await monthly_price(api))
    await advance(api, clock, "2026-02-05T00:00:00Z")  # the first renewal
    await run(
        api,
        "-- drop invoices uq_invoices_subscription_period",
        "UPDATE invoices SET billing_period_start = (SELECT min(billing_period_start) "
        "FROM invoices)",
    )
    code, report = await verify(database_url)
    assert (code, rules_of(report)) == (1, ["subscription.period"])


async def test_a_coupon_counted_wrongly_is_found(api: Api, database_url: str) -> None:
    await api.data(
        'mutation { createCoupon(input: {code: "TEN", percentOff: "10"}) { coupon { id } } }'
    )
    _, customer = await clock_and_customer(api, "tok_visa")
    assert (await subscribe(api, customer, await monthly_price(api), couponCode="TEN"))[
        "userErrors"
    ] == []
    await run(api, "UPDATE coupons SET times_redeemed = 2")
    code, report = await verify(database_url)
    assert (code, rules_of(report)) == (1, ["coupon.redemptions"])
    assert "timesRedeemed 2" in report["violations"][0]["detail"]


async def test_one_key_with_two_effects_is_found(api: Api, database_url: str) -> None:
    customer = await customer_with(api)
    await pay(api, customer, "30.00", idempotencyKey="the-key")
    # what a second effect under the key would leave in the audit log: another payment
    await run(
        api,
        "INSERT INTO audit_events (id, occurred_at, principal, actor, operation, target_ids, "
        "input, outcome, error_codes, request_id) SELECT "
        + literal_id(database_url, 2)
        + ", occurred_at, principal, actor, operation, '[\"UGF5bWVudDpvdGhlcg\"]', input, "
        "outcome, error_codes, 'again' FROM audit_events WHERE operation = 'createPayment'",
    )  # fmt: skip
    code, report = await verify(database_url)
    assert (code, rules_of(report)) == (1, ["idempotency.effects"])


async def credit_note_of(api: Api, **parts: Any) -> str:
    """A paid invoice of 10.00 USD credited 4.00 to ``parts``: the note's ID."""
    customer = await customer_with(api)
    for mutation in (
        "createInvoiceItem(input: {idempotencyKey: $k, customerId: $c, "
        'amount: {amount: "10.00", currency: "USD"}, description: "Item"}) { userErrors { code } }',
        'createInvoice(input: {idempotencyKey: $k, customerId: $c, currency: "USD"}) '
        "{ invoice { id } userErrors { code } }",
    ):
        answer = await api.data(
            f"mutation($c: ID!, $k: String!) {{ {mutation} }}", {"c": customer, "k": key()}
        )
    invoice = answer["createInvoice"]["invoice"]["id"]
    for mutation in ("finalizeInvoice", "payInvoice"):
        done = await api.data(
            f"mutation($i: ID!, $k: String!) {{ {mutation}(input: {{invoiceId: $i, "
            "idempotencyKey: $k}) { userErrors { code } } }",
            {"i": invoice, "k": key()},
        )
        assert done[mutation]["userErrors"] == []
    made = await api.data(
        "mutation($i: CreateCreditNoteInput!) { createCreditNote(input: $i) "
        "{ creditNote { id } userErrors { code } } }",
        {"i": {"idempotencyKey": key(), "invoiceId": invoice,
               "amount": {"amount": "4.00", "currency": "USD"}, **parts}},
    )  # fmt: skip
    assert made["createCreditNote"]["userErrors"] == []
    note: str = made["createCreditNote"]["creditNote"]["id"]
    return note


async def test_a_line_credited_beyond_its_amount_is_found(api: Api, database_url: str) -> None:
    await credit_note_of(api, outOfBand={"amount": "4.00", "currency": "USD"})
    await run(api, "UPDATE credit_note_lines SET amount_minor = amount_minor + 700")
    code, report = await verify(database_url)
    assert (code, rules_of(report)) == (1, ["credit_note.within_invoice"])


async def test_a_credit_balance_without_its_movements_is_found(api: Api, database_url: str) -> None:
    await credit_note_of(api, creditBalance={"amount": "4.00", "currency": "USD"})
    await run(api, "UPDATE customer_balances SET balance_minor = balance_minor + 1")
    code, report = await verify(database_url)
    assert (code, rules_of(report)) == (1, ["credit_balance.ledger"])
