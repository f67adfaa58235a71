"""Products and prices through GraphQL: creation, immutability, lookup keys, refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Api

CREATE_PRODUCT = """
mutation($input: CreateProductInput!) {
  createProduct(input: $input) {
    product { id name description active metadata }
    userErrors { field code message }
  }
}
"""
UPDATE_PRODUCT = """
mutation($input: UpdateProductInput!) {
  updateProduct(input: $input) {
    product { id name description active metadata }
    userErrors { field code message }
  }
}
"""
CREATE_PRICE = """
mutation($input: CreatePriceInput!) {
  createPrice(input: $input) {
    price {
      id type active lookupKey nickname trialPeriodDays metadata
      unitAmount { amount amountMinor currency formatted }
      recurring { interval intervalCount }
      product { id name }
    }
    userErrors { field code message }
  }
}
"""
ARCHIVE_PRICE = """
mutation($id: ID!) {
  archivePrice(input: {id: $id}) { price { id active lookupKey } userErrors { field code message } }
}
"""
PRICES = """
query($filter: PriceFilter) {
  prices(first: 100, filter: $filter) { totalCount edges { node { id lookupKey } } }
}
"""


async def product(api: Api, name: str = "Pro", **fields: Any) -> dict[str, Any]:
    payload = (await api.data(CREATE_PRODUCT, {"input": {"name": name, **fields}}))["createProduct"]
    assert payload["userErrors"] == []
    result: dict[str, Any] = payload["product"]
    return result


async def create_price(api: Api, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(CREATE_PRICE, {"input": fields}))["createPrice"]
    return result


async def price_count(api: Api) -> int:
    return int((await api.data(PRICES))["prices"]["totalCount"])


async def test_product_lifecycle(api: Api) -> None:
    created = await product(api, "Pro", description="For teams", metadata={"tier": "2"})
    assert created["active"] is True
    updated = (
        await api.data(
            UPDATE_PRODUCT,
            {"input": {"id": created["id"], "active": False, "description": None}},
        )
    )["updateProduct"]
    assert updated["userErrors"] == []
    assert updated["product"]["active"] is False
    assert updated["product"]["description"] is None
    assert updated["product"]["name"] == "Pro"
    listed = await api.data("{ products(filter: {active: false}) { edges { node { id } } } }")
    assert [e["node"]["id"] for e in listed["products"]["edges"]] == [created["id"]]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"name": ""}, "BLANK"),
        ({"name": "   "}, "BLANK"),
        ({"name": "n" * 257}, "TOO_LONG"),
        ({"name": "ok", "description": "d" * 5001}, "TOO_LONG"),
    ],
)
async def test_bad_products_are_refused(api: Api, fields: dict[str, Any], code: str) -> None:
    payload = (await api.data(CREATE_PRODUCT, {"input": fields}))["createProduct"]
    assert payload["product"] is None
    assert [e["code"] for e in payload["userErrors"]] == [code]
    assert (await api.data("{ products { totalCount } }"))["products"]["totalCount"] == 0


async def test_recurring_price_with_exact_money(api: Api) -> None:
    pro = await product(api)
    result = await create_price(
        api,
        productId=pro["id"],
        unitAmount={"amount": "29.90", "currency": "USD"},
        recurring={"interval": "MONTH", "intervalCount": 3},
        trialPeriodDays=14,
        lookupKey="pro_quarterly_usd",
        nickname="Quarterly",
    )
    assert result["userErrors"] == []
    price = result["price"]
    assert price["type"] == "RECURRING"
    assert price["unitAmount"] == {
        "amount": "29.90",
        "amountMinor": "2990",
        "currency": "USD",
        "formatted": "$29.90",
    }
    assert price["recurring"] == {"interval": "MONTH", "intervalCount": 3}
    assert price["product"] == {"id": pro["id"], "name": "Pro"}
    by_key = await api.data(
        '{ price(lookupKey: "pro_quarterly_usd") { id unitAmount { amountMinor } } }'
    )
    assert by_key["price"]["id"] == price["id"]


@pytest.mark.parametrize(
    ("amount", "currency", "exact", "minor", "formatted"),
    [
        ("1200", "JPY", "1200", "1200", "¥1,200"),
        ("1.005", "KWD", "1.005", "1005", "KWD1.005"),
        ("0", "EUR", "0.00", "0", "€0.00"),
        ("7.5", "USD", "7.50", "750", "$7.50"),
        (
            "92233720368547758.07",
            "USD",
            "92233720368547758.07",
            "9223372036854775807",
            "$92,233,720,368,547,758.07",
        ),
    ],
)
async def test_currency_decimal_places(
    api: Api, amount: str, currency: str, exact: str, minor: str, formatted: str
) -> None:
    pro = await product(api)
    result = await create_price(
        api, productId=pro["id"], unitAmount={"amount": amount, "currency": currency}
    )
    assert result["userErrors"] == []
    money = result["price"]["unitAmount"]
    assert (money["amount"], money["amountMinor"], money["formatted"]) == (exact, minor, formatted)
    assert result["price"]["type"] == "ONE_TIME"
    assert result["price"]["recurring"] is None


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"unitAmount": {"amount": "1.234", "currency": "USD"}}, "amount", "AMOUNT_TOO_PRECISE"),
        ({"unitAmount": {"amount": "1.5", "currency": "JPY"}}, "amount", "AMOUNT_TOO_PRECISE"),
        ({"unitAmount": {"amount": "-1.00", "currency": "USD"}}, "amount", "NEGATIVE_AMOUNT"),
        (
            {"unitAmount": {"amount": "92233720368547758.08", "currency": "USD"}},
            "amount",
            "AMOUNT_OUT_OF_RANGE",
        ),
        ({"unitAmount": {"amount": "1e3", "currency": "USD"}}, "amount", "INVALID_AMOUNT"),
        ({"unitAmount": {"amount": "1,000", "currency": "USD"}}, "amount", "INVALID_AMOUNT"),
        ({"unitAmount": {"amount": " 10", "currency": "USD"}}, "amount", "INVALID_AMOUNT"),
        ({"unitAmount": {"amount": "NaN", "currency": "USD"}}, "amount", "INVALID_AMOUNT"),
        ({"unitAmount": {"amount": "9" * 100, "currency": "USD"}}, "amount", "INVALID_AMOUNT"),
        ({"unitAmount": {"amount": "10", "currency": "XYZ"}}, "currency", "UNKNOWN_CURRENCY"),
        ({"unitAmount": {"amount": "10", "currency": "usd"}}, "currency", "UNKNOWN_CURRENCY"),
        ({"unitAmount": {"amount": "10", "currency": "XAU"}}, "currency", "UNKNOWN_CURRENCY"),
        (
            {
                "unitAmount": {"amount": "10", "currency": "USD"},
                "recurring": {"interval": "MONTH", "intervalCount": 13},
            },
            "intervalCount",
            "INVALID_INTERVAL",
        ),
        (
            {
                "unitAmount": {"amount": "10", "currency": "USD"},
                "recurring": {"interval": "DAY", "intervalCount": 0},
            },
            "intervalCount",
            "INVALID_INTERVAL",
        ),
        (
            {"unitAmount": {"amount": "10", "currency": "USD"}, "trialPeriodDays": 7},
            "trialPeriodDays",
            "INVALID_TRIAL",
        ),
        (
            {
                "unitAmount": {"amount": "10", "currency": "USD"},
                "recurring": {"interval": "YEAR"},
                "trialPeriodDays": 731,
            },
            "trialPeriodDays",
            "INVALID_TRIAL",
        ),
        (
            {"unitAmount": {"amount": "10", "currency": "USD"}, "lookupKey": "has space"},
            "lookupKey",
            "INVALID",
        ),
    ],
)
async def test_bad_prices_are_refused(
    api: Api, fields: dict[str, Any], field: str, code: str
) -> None:
    pro = await product(api)
    result = await create_price(api, productId=pro["id"], **fields)
    assert result["price"] is None
    assert [(e["field"][-1], e["code"]) for e in result["userErrors"]] == [(field, code)]
    assert await price_count(api) == 0


async def test_floats_are_never_accepted(api: Api) -> None:
    pro = await product(api)
    body = await api.graphql(
        CREATE_PRICE,
        {"input": {"productId": pro["id"], "unitAmount": {"amount": 12.5, "currency": "USD"}}},
    )
    assert "String cannot represent a non string value" in body["errors"][0]["message"]
    assert await price_count(api) == 0


async def test_price_ids_are_checked(api: Api) -> None:
    pro = await product(api)
    customer = (await api.data("mutation { createCustomer(input: {}) { customer { id } } }"))[
        "createCustomer"
    ]["customer"]
    money = {"amount": "1", "currency": "USD"}
    for product_id, code in [("garbage", "INVALID_ID"), (customer["id"], "WRONG_ID_TYPE")]:
        result = await create_price(api, productId=product_id, unitAmount=money)
        assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
            (["input", "productId"], code)
        ]
    archived = (await api.data(UPDATE_PRODUCT, {"input": {"id": pro["id"], "active": False}}))[
        "updateProduct"
    ]["product"]
    result = await create_price(api, productId=archived["id"], unitAmount=money)
    assert [e["code"] for e in result["userErrors"]] == ["PRODUCT_ARCHIVED"]
    assert await price_count(api) == 0


async def test_duplicate_lookup_key_and_transfer(api: Api) -> None:
    pro = await product(api)
    old = (
        await create_price(
            api,
            productId=pro["id"],
            unitAmount={"amount": "10", "currency": "USD"},
            recurring={"interval": "MONTH"},
            lookupKey="pro_monthly",
        )
    )["price"]
    duplicate = await create_price(
        api,
        productId=pro["id"],
        unitAmount={"amount": "12", "currency": "USD"},
        recurring={"interval": "MONTH"},
        lookupKey="pro_monthly",
    )
    assert [e["code"] for e in duplicate["userErrors"]] == ["DUPLICATE_LOOKUP_KEY"]
    assert await price_count(api) == 1

    new = await create_price(
        api,
        productId=pro["id"],
        unitAmount={"amount": "12", "currency": "USD"},
        recurring={"interval": "MONTH"},
        lookupKey="pro_monthly",
        transferLookupKey=True,
    )
    assert new["userErrors"] == []
    found = await api.data('{ price(lookupKey: "pro_monthly") { id unitAmount { amount } } }')
    assert found["price"] == {"id": new["price"]["id"], "unitAmount": {"amount": "12.00"}}
    old_now = await api.data(
        "query($id: ID!) { price(id: $id) { lookupKey active } }", {"id": old["id"]}
    )
    assert old_now["price"] == {"lookupKey": None, "active": True}


async def test_archive_price_is_idempotent_and_filters_follow(api: Api) -> None:
    pro = await product(api)
    price = (
        await create_price(api, productId=pro["id"], unitAmount={"amount": "5", "currency": "EUR"})
    )["price"]
    for _ in range(2):
        archived = (await api.data(ARCHIVE_PRICE, {"id": price["id"]}))["archivePrice"]
        assert archived["userErrors"] == []
        assert archived["price"]["active"] is False
    active = await api.data(PRICES, {"filter": {"active": True}})
    assert active["prices"]["totalCount"] == 0
    inactive = await api.data(PRICES, {"filter": {"active": False, "currency": "EUR"}})
    assert inactive["prices"]["totalCount"] == 1
    bad = (await api.data(ARCHIVE_PRICE, {"id": pro["id"]}))["archivePrice"]
    assert [e["code"] for e in bad["userErrors"]] == ["WRONG_ID_TYPE"]


async def test_price_filters(api: Api) -> None:
    a, b = await product(api, "A"), await product(api, "B")
    usd = {"amount": "1", "currency": "USD"}
    await create_price(api, productId=a["id"], unitAmount=usd, lookupKey="a_once")
    await create_price(
        api, productId=a["id"], unitAmount=usd, recurring={"interval": "YEAR"}, lookupKey="a_year"
    )
    await create_price(
        api, productId=b["id"], unitAmount={"amount": "1", "currency": "GBP"}, lookupKey="b_gbp"
    )

    async def keys(filter_: dict[str, Any]) -> set[str]:
        edges = (await api.data(PRICES, {"filter": filter_}))["prices"]["edges"]
        return {e["node"]["lookupKey"] for e in edges}

    assert await keys({"productId": a["id"]}) == {"a_once", "a_year"}
    assert await keys({"productId": a["id"], "recurring": True}) == {"a_year"}
    assert await keys({"recurring": False}) == {"a_once", "b_gbp"}
    assert await keys({"currency": "GBP"}) == {"b_gbp"}
    body = await api.graphql(PRICES, {"filter": {"currency": "ABC"}})
    assert body["errors"][0]["extensions"]["code"] == "UNKNOWN_CURRENCY"
    body = await api.graphql(PRICES, {"filter": {"productId": "nope"}})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"


@pytest.mark.both_databases
async def test_racing_creates_of_one_lookup_key_leave_exactly_one(api: Api) -> None:
    pro = await product(api)
    attempts = [
        api.data(
            CREATE_PRICE,
            {
                "input": {
                    "productId": pro["id"],
                    "unitAmount": {"amount": f"{n}", "currency": "USD"},
                    "lookupKey": "contested",
                }
            },
        )
        for n in range(1, 9)
    ]
    results = [r["createPrice"] for r in await asyncio.gather(*attempts)]
    winners = [r for r in results if r["price"] is not None]
    assert len(winners) == 1
    assert {e["code"] for r in results if r["price"] is None for e in r["userErrors"]} == {
        "DUPLICATE_LOOKUP_KEY"
    }
    assert await price_count(api) == 1
