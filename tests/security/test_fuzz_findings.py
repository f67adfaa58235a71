"""What the fuzzer found (tests/security/test_fuzz.py), one test per kind of bug: each input
used to end in an INTERNAL_ERROR or a failed request; now it is a typed error that changes
nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Api
from tests.factories import clock_and_customer, monthly_price, subscribe
from tests.security.seed import seed


async def raw(api: Api, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST with JSON escapes as they are (a lone surrogate stays ``\\ud800``)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    response = await api.http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def codes(body: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]]


async def test_a_failing_field_does_not_fail_the_request_under_its_siblings(api: Api) -> None:
    """A bad cursor (or a bad ID among ``nodes``) fails its field at once, while sibling
    fields may still be reading through the request's session: the session was closed
    under them and the request failed after its answer was made (HTTP 500)."""
    seeded = await seed(api)
    customer = seeded.ids[0]
    query = (
        "query($c: ID!) { customer(id: $c) { invoices { id } paymentMethods { id } "
        'payments(after: "") { totalCount } } }'
    )
    for _ in range(20):  # the race needed a few rounds to show
        body = await api.graphql(query, {"c": customer})
        assert codes(body) == [("INVALID", ["after"])]
    nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Customer { invoices { id } } } }"
    for _ in range(20):
        body = await api.graphql(nodes, {"ids": [customer, "", customer]})
        assert codes(body) == [("INVALID_ID", None)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (
            '{ customers(filter: {createdAfter: "9999-12-31T23:59:59-14:00"}) { totalCount } }',
            ["filter", "createdAfter"],
        ),
        (
            '{ invoices(filter: {periodStartAfter: "0001-01-01T00:00:00+14:00"}) { totalCount } }',
            ["filter", "periodStartAfter"],
        ),
        (
            '{ invoices(filter: {periodStartBefore: "2026-01-15T12:00:00"}) { totalCount } }',
            ["filter", "periodStartBefore"],
        ),
        (
            '{ customers(filter: {createdBefore: "2026-01-15"}) { totalCount } }',
            ["filter", "createdBefore"],
        ),
    ],
)
async def test_filter_times_outside_utc_or_without_offset_are_refused(
    api: Api, query: str, field: list[str]
) -> None:
    """Years 1 and 9999 with an offset fall outside what UTC can hold (OverflowError), and
    a time without an offset cannot be compared with stored times (ValueError)."""
    assert codes(await api.graphql(query)) == [("INVALID", field)]


async def test_payment_filter_times_are_checked_too(api: Api) -> None:
    seeded = await seed(api)
    body = await api.graphql(
        "query($c: ID!) { customer(id: $c) { payments(filter: "
        '{createdAfter: "0001-01-01T00:00:00+01:00"}) { totalCount } } }',
        {"c": seeded.ids[0]},
    )
    assert codes(body) == [("INVALID", ["filter", "createdAfter"])]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (
            'mutation { createTestClock(input: {frozenTime: "0001-01-01T00:00:00+14:00"}) '
            "{ testClock { id } userErrors { field code } } }",
            "frozenTime",
        ),
        (
            'mutation { createCoupon(input: {code: "LATE", percentOff: "5", '
            'redeemBy: "2026-01-15"}) { coupon { id } userErrors { field code } } }',
            "redeemBy",
        ),
    ],
)
async def test_times_in_mutations_are_checked(api: Api, document: str, field: str) -> None:
    (payload,) = (await api.data(document)).values()
    assert payload["userErrors"] == [{"field": ["input", field], "code": "INVALID"}]
    assert next(value for key, value in payload.items() if key != "userErrors") is None
    async with api.engine.connect() as connection:
        rows = await connection.scalar(
            sa.text("SELECT (SELECT count(*) FROM test_clocks) + (SELECT count(*) FROM coupons)")
        )
    assert rows == 0


@pytest.mark.parametrize("bad", ["a\u0000b", "\ud800", "x\udfff"])
async def test_text_that_postgresql_cannot_store_is_refused(api: Api, bad: str) -> None:
    """NUL is refused by PostgreSQL's text types and a lone surrogate (a JSON escape) cannot be
    encoded in UTF-8: both failed the insert."""
    product = await raw(
        api,
        "mutation($n: String!) { createProduct(input: {name: $n}) "
        "{ product { id } userErrors { field code } } }",
        {"n": bad},
    )
    assert product["data"]["createProduct"] == {
        "product": None,
        "userErrors": [{"field": ["input", "name"], "code": "INVALID"}],
    }
    clock = await raw(
        api,
        'mutation($n: String) { createTestClock(input: {frozenTime: "2026-01-15T00:00:00Z", '
        "name: $n}) { testClock { id } userErrors { field code } } }",
        {"n": bad},
    )
    assert clock["data"]["createTestClock"]["userErrors"] == [
        {"field": ["input", "name"], "code": "INVALID"}
    ]
    customer = await raw(
        api,
        "mutation($m: Metadata) { createCustomer(input: {metadata: $m}) "
        "{ customer { id } userErrors { field code } } }",
        {"m": {"note": bad}},
    )
    assert customer["data"]["createCustomer"]["userErrors"] == [
        {"field": ["input", "metadata"], "code": "INVALID_METADATA"}
    ]
    listed = await api.data("{ products { totalCount } customers { totalCount } }")
    assert listed == {"products": {"totalCount": 0}, "customers": {"totalCount": 0}}


@pytest.mark.parametrize("bad", ["a\u0000b", "\ud800"])
async def test_lookups_by_text_postgresql_cannot_compare_are_refused(api: Api, bad: str) -> None:
    """A NUL or a lone surrogate failed the query itself (a filter, a lookup key, a coupon
    code): no row can hold one, so the answer is a typed error, or "no such coupon"."""
    customers = await raw(
        api, "query($e: String) { customers(filter: {email: $e}) { totalCount } }", {"e": bad}
    )
    assert codes(customers) == [("INVALID", ["filter", "email"])]
    price = await raw(api, "query($k: String) { price(lookupKey: $k) { id } }", {"k": bad})
    assert codes(price) == [("INVALID", ["lookupKey"])]
    clock, customer = await clock_and_customer(api, "tok_visa")
    assert clock
    created = await raw(
        api,
        "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
        "{ subscription { id } userErrors { field code } } }",
        {
            "i": {
                "idempotencyKey": "coupon-with-nul",
                "customerId": customer,
                "items": [{"priceId": await monthly_price(api)}],
                "couponCode": bad,
            }
        },
    )
    assert created["data"]["createSubscription"] == {
        "subscription": None,
        "userErrors": [{"field": ["input", "couponCode"], "code": "INVALID_COUPON"}],
    }


async def test_test_clocks_leave_room_for_billing_before_year_9999(api: Api) -> None:
    """A subscription on a clock at 9999-12-15 had its first period end in year 10000, which
    Python cannot represent (found by reasoning about the times the fuzzer found)."""
    create = (
        "mutation($t: DateTime!) { createTestClock(input: {frozenTime: $t}) "
        "{ testClock { id } userErrors { field code } } }"
    )
    refused = await api.data(create, {"t": "9999-12-15T00:00:00Z"})
    assert refused["createTestClock"] == {
        "testClock": None,
        "userErrors": [{"field": ["input", "frozenTime"], "code": "INVALID"}],
    }
    clock, customer = await clock_and_customer(api, "tok_visa", at="8999-12-15T00:00:00Z")
    created = await subscribe(api, customer, await monthly_price(api))
    assert created["userErrors"] == []
    advance = (
        "mutation($c: ID!, $t: DateTime!) { advanceTestClock(input: {testClockId: $c, "
        "frozenTime: $t}) { testClock { id } userErrors { field code } } }"
    )
    moved = await api.data(advance, {"c": clock, "t": "9000-01-01T00:00:00Z"})
    assert moved["advanceTestClock"]["userErrors"] == [
        {"field": ["input", "frozenTime"], "code": "INVALID"}
    ]


async def test_an_explicit_null_for_a_product_flag_is_refused(api: Api) -> None:
    """``active: null`` (not left out) reached a NOT NULL column."""
    product = (await api.data('mutation { createProduct(input: {name: "P"}) { product { id } } }'))[
        "createProduct"
    ]["product"]["id"]
    update = (
        "mutation($i: UpdateProductInput!) { updateProduct(input: $i) "
        "{ product { active } userErrors { field code } } }"
    )
    refused = await api.data(update, {"i": {"id": product, "active": None, "name": "Q"}})
    assert refused["updateProduct"] == {
        "product": None,
        "userErrors": [{"field": ["input", "active"], "code": "REQUIRED"}],
    }
    kept = await api.data(update, {"i": {"id": product}})
    assert kept["updateProduct"] == {"product": {"active": True}, "userErrors": []}
    name = await api.data("query($p: ID!) { product(id: $p) { name } }", {"p": product})
    assert name["product"]["name"] == "P"


async def test_a_url_that_cannot_be_parsed_is_an_invalid_url(api: Api) -> None:
    """``urlsplit("http://[")`` raises (an unclosed IPv6 address)."""
    seeded = await seed(api)
    body = await api.data(
        "mutation($c: ID!) { startPaymentMethodSetup(input: {customerId: $c, "
        'returnUrl: "http://["}) { setup { kind } userErrors { field code } } }',
        {"c": seeded.ids[0]},
    )
    assert body["startPaymentMethodSetup"] == {
        "setup": None,
        "userErrors": [{"field": ["input", "returnUrl"], "code": "INVALID_URL"}],
    }


async def test_a_manual_invoice_in_an_unknown_currency_is_refused(api: Api) -> None:
    """The currency went to a three-character column unchecked."""
    seeded = await seed(api)
    for currency in ("EURO", "ZZZ"):
        body = await api.data(
            "mutation($c: ID!, $cur: CurrencyCode!, $k: String!) { createInvoice(input: "
            "{customerId: $c, currency: $cur, idempotencyKey: $k}) { invoice { id } "
            "userErrors { field code } } }",
            {"c": seeded.ids[1], "cur": currency, "k": str(uuid.uuid4())},
        )
        assert body["createInvoice"] == {
            "invoice": None,
            "userErrors": [{"field": ["input", "currency"], "code": "UNKNOWN_CURRENCY"}],
        }


async def test_a_test_clock_moves_a_bounded_number_of_periods_at_a_time(api: Api) -> None:
    """Advancing a monthly subscription's clock by a century ran 1,000 renewals and then
    failed ("runaway billing loop"), after committing them. Now it is refused up front."""
    clock, customer = await clock_and_customer(api, "tok_visa")
    sub = await subscribe(api, customer, await monthly_price(api))
    advance = (
        "mutation($c: ID!, $t: DateTime!) { advanceTestClock(input: {testClockId: $c, "
        "frozenTime: $t}) { testClock { frozenTime } userErrors { field code message } } }"
    )
    refused = (await api.data(advance, {"c": clock, "t": "2126-01-01T00:00:00Z"}))[
        "advanceTestClock"
    ]
    assert refused["testClock"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "frozenTime"], "INVALID")
    ]
    assert "2034-05-01T00:00:00+00:00" in refused["userErrors"][0]["message"]  # 100 months
    invoices = await api.data(
        "query($s: ID!) { subscription(id: $s) { invoices { id } } }",
        {"s": sub["subscription"]["id"]},
    )
    assert len(invoices["subscription"]["invoices"]) == 1  # nothing more was billed
    moved = (await api.data(advance, {"c": clock, "t": "2034-05-01T00:00:00Z"}))["advanceTestClock"]
    assert moved == {
        "testClock": {"frozenTime": "2034-05-01T00:00:00+00:00"},
        "userErrors": [],
    }


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "pro\x00monthly"])
async def test_the_audit_log_records_input_postgresql_cannot_store(api: Api, bad: str) -> None:
    """A mutation whose structural input (here a lookup key) held a NUL or a lone surrogate
    was refused with a user error, but its audit event was lost: PostgreSQL's ``jsonb``
    refused the row (and logging that took seconds). Now the value is kept with U+FFFD in
    place of what cannot be stored."""
    seeded = await seed(api)
    product = next(i for i in seeded.ids if i.startswith("UHJvZHVjd"))  # "Product:"
    body = await raw(
        api,
        "mutation($p: ID!, $k: String!) { createPrice(input: {productId: $p, "
        'unitAmount: {amount: "1.00", currency: "EUR"}, lookupKey: $k}) '
        "{ userErrors { code } } }",
        {"p": product, "k": bad},
    )
    assert body["data"]["createPrice"]["userErrors"]
    async with api.runtime.sessions() as session:
        stored = (
            await session.execute(
                sa.text(
                    "SELECT input FROM audit_events WHERE operation = 'createPrice' "
                    "ORDER BY occurred_at DESC, id DESC LIMIT 1"
                )
            )
        ).scalar_one()
    assert stored["input"]["lookupKey"] == bad.replace("\x00", "\ufffd").replace("\ud800", "\ufffd")
