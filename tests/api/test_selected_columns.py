"""Batched fields read only the columns their selection needs (``app.graphql.read.fields.reads``,
``NarrowLoader``), and answer exactly as with whole rows.

Every field of a type declared with ``reads`` is asked alone, through each batched field that
narrows such rows, over rows with a value in every column: with narrowing and without it
(``Loaders.narrow``), the same data; and the narrowed statement did leave columns out (the
test fails if nothing was narrowed). A field the declaration forgets fails the first test; a
field declared with the wrong columns answers ``null`` (or a wrong amount) and fails the
second."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa
from graphql import GraphQLObjectType, get_named_type, is_leaf_type

from app.graphql.read.fields import READS
from app.graphql.read.loaders import Loaders
from app.graphql.schema import schema
from bench.bench_ids import customer_global_id
from bench.load_paygate import transform, write
from tests.api.test_bench_round_trips import BenchData, Shape
from tests.conftest import Api

GRAPHQL = schema._schema
CUSTOMER = 4

# Each narrowing path to a declared type: (type, document with FIELD where the field goes).
PATHS = [
    ("PaymentMethod", "customer(id: $id) { paymentMethods { FIELD } }"),
    ("PaymentMethod", "customer(id: $id) { defaultPaymentMethod { FIELD } }"),
    ("Subscription", "customer(id: $id) { subscriptions { FIELD } }"),
    ("Invoice", "customer(id: $id) { invoices { FIELD } }"),
    ("Invoice", "customer(id: $id) { invoices(last: 5) { FIELD } }"),
    ("Invoice", "customer(id: $id) { subscriptions { invoices { FIELD } } }"),
    ("Invoice", "customer(id: $id) { subscriptions { latestInvoice { FIELD } } }"),
    ("InvoiceLine", "customer(id: $id) { invoices(last: 3) { lines { FIELD } } }"),
]
# What to select under a field of an object type: what shows the parent's columns at work.
UNDER = {
    "Money": "{ amountMinor currency }",
    "InvoiceLine": "{ amount { amountMinor currency } }",
    "SubscriptionItem": "{ quantity unitAmount { amountMinor currency } }",
    "CollectionStop": "{ reason customerAction message stoppedAt }",
}


def _cases() -> list[tuple[str, str]]:
    cases = []
    for type_name, path in PATHS:
        object_type = GRAPHQL.type_map[type_name]
        assert isinstance(object_type, GraphQLObjectType)
        for name, field in object_type.fields.items():
            named = get_named_type(field.type)
            under = "" if is_leaf_type(named) else UNDER.get(named.name, "{ __typename }")
            cases.append((type_name, path.replace("FIELD", f"{name} {under}")))
    return cases


def test_every_field_of_a_narrowed_type_is_declared() -> None:
    declared_types = set()
    for cls, declared in READS.items():
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        declared_types.add(definition.name)
        object_type = GRAPHQL.type_map[definition.name]
        assert isinstance(object_type, GraphQLObjectType)
        fields = {
            field.extensions["strawberry-definition"].python_name
            for field in object_type.fields.values()
        }
        assert set(declared.fields) == fields, definition.name
        columns = set(sa.inspect(declared.model).column_attrs.keys())
        for read in (declared.always, *declared.fields.values()):
            assert read <= columns, (definition.name, read - columns)
    assert declared_types == {type_name for type_name, _ in PATHS}


@pytest.fixture
async def rows(api: Api, database_url: str) -> str:
    """Bench-shaped customers whose rows of the declared types have a value in every column
    (null and zero are what a forgotten column reads as); the global ID of a large one."""
    data = BenchData()
    data.add_customer(1, Shape())
    data.add_customer(CUSTOMER, Shape(methods=3, subscriptions=2, invoices=4, lines=3))
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await write(connection, transform(data.tables))
        await connection.execute(
            "UPDATE payment_methods SET wallet = 'apple_pay', email = 'pay@example.com'"
        )
        await connection.execute(
            "UPDATE subscriptions SET trial_end = current_period_start + interval '1 day', "
            "canceled_at = current_period_end - interval '2 days', cancel_at_period_end = true, "
            "ended_at = current_period_end + interval '3 days', "
            "next_retry_at = current_period_end + interval '4 days', status = 'past_due', "
            "currency = 'EUR', collection_stop_reason = 'payment_method_refused', "
            "collection_stop_action = 'add_payment_method', "
            "collection_stopped_at = current_period_end + interval '6 hours'"
        )
        await connection.execute(
            "UPDATE invoices SET subtotal_minor = total_minor + 17, discount_minor = 31, "
            "tax_minor = 14, tax_included_minor = 5, amount_paid_minor = total_minor - 7, "
            "attempt_count = 3, paid_at = period_end + interval '5 hours', currency = 'EUR', "
            "billing_reason = 'subscription_cycle', collection_stop_reason = 'retries_exhausted', "
            "collection_stop_action = 'contact_bank', "
            "collection_stopped_at = period_end + interval '7 hours'"
        )
        await connection.execute(
            "UPDATE invoice_lines SET discount_minor = 3, tax_minor = 2, tax_included_minor = 1, "
            "proration = true, period_start = created_at - interval '9 days', "
            "period_end = created_at + interval '21 days'"
        )
    finally:
        await connection.close()
    return customer_global_id(CUSTOMER)


@pytest.mark.parametrize(("type_name", "selection"), _cases())
async def test_each_field_alone_answers_as_with_whole_rows(
    api: Api, rows: str, monkeypatch: pytest.MonkeyPatch, type_name: str, selection: str
) -> None:
    document = f"query($id: ID!) {{ {selection} }}"
    api.sql.clear()
    narrowed = await api.data(document, {"id": rows})
    left_out = [q for q in api.sql.statements if "NULL AS" in q]
    monkeypatch.setattr(Loaders, "narrow", False)
    api.sql.clear()
    whole = await api.data(document, {"id": rows})
    assert not any("NULL AS" in q for q in api.sql.statements)
    assert narrowed == whole, (type_name, selection)
    assert narrowed["customer"] is not None
    assert left_out, f"nothing narrowed: {api.sql.statements}"
