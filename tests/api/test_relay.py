"""Relay conventions: node(id:), nodes(ids:), connection limits, cursors."""

from __future__ import annotations

import uuid

from app.schema.node import encode_gid
from tests.conftest import Api

NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Customer { email }
    ... on Product { name }
    ... on Price { unitAmount { amount } }
  }
}
"""


async def seed(api: Api) -> tuple[str, str, str]:
    customer = (
        await api.data(
            'mutation { createCustomer(input: {email: "n@example.com"}) { customer { id } } }'
        )
    )["createCustomer"]["customer"]["id"]
    product = (
        await api.data('mutation { createProduct(input: {name: "Widget"}) { product { id } } }')
    )["createProduct"]["product"]["id"]
    price = (
        await api.data(
            "mutation($p: ID!) { createPrice(input: {productId: $p, "
            'unitAmount: {amount: "3.50", currency: "USD"}}) { price { id } } }',
            {"p": product},
        )
    )["createPrice"]["price"]["id"]
    return customer, product, price


async def test_node_resolves_every_type(api: Api) -> None:
    customer, product, price = await seed(api)
    assert (await api.data(NODE, {"id": customer}))["node"] == {
        "__typename": "Customer",
        "id": customer,
        "email": "n@example.com",
    }
    assert (await api.data(NODE, {"id": product}))["node"]["name"] == "Widget"
    assert (await api.data(NODE, {"id": price}))["node"]["unitAmount"] == {"amount": "3.50"}


async def test_global_ids_are_opaque_and_typed(api: Api) -> None:
    customer, product, _ = await seed(api)
    assert customer != product
    assert "Customer" not in customer  # not readable without decoding
    wrong = await api.graphql("query($id: ID!) { product(id: $id) { id } }", {"id": customer})
    assert wrong["errors"][0]["extensions"]["code"] == "WRONG_ID_TYPE"
    unknown_type = encode_gid("Invoice", uuid.uuid4())
    assert (await api.data(NODE, {"id": unknown_type}))["node"] is None
    malformed = await api.graphql(NODE, {"id": "%%%"})
    assert malformed["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def test_nodes_keeps_order_and_nulls(api: Api) -> None:
    customer, product, price = await seed(api)
    missing = encode_gid("Customer", uuid.uuid4())
    result = await api.data(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [price, missing, customer, product]},
    )
    assert result["nodes"] == [{"id": price}, None, {"id": customer}, {"id": product}]
    too_many = await api.graphql(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [customer] * 101}
    )
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID"


async def test_first_is_capped_at_100(api: Api) -> None:
    for first in (101, -1):
        body = await api.graphql(f"{{ customers(first: {first}) {{ totalCount }} }}")
        assert body["data"] is None
        assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": ["first"]}
    ok = await api.data("{ customers(first: 100) { edges { cursor } } }")
    assert ok["customers"]["edges"] == []


async def test_bad_cursor_is_an_error(api: Api) -> None:
    body = await api.graphql('{ products(after: "bm9wZQ") { totalCount } }')
    assert body["errors"][0]["extensions"]["code"] == "INVALID"


async def test_price_needs_exactly_one_key(api: Api) -> None:
    both = await api.graphql('{ price(id: "x", lookupKey: "y") { id } }')
    assert both["errors"][0]["extensions"]["code"] == "INVALID"
    none = await api.graphql("{ price { id } }")
    assert none["errors"][0]["extensions"]["code"] == "INVALID"


async def test_currencies_list_decimal_places(api: Api) -> None:
    currencies = {
        c["code"]: c["decimalPlaces"]
        for c in (await api.data("{ currencies { code decimalPlaces } }"))["currencies"]
    }
    assert (currencies["USD"], currencies["JPY"], currencies["KWD"]) == (2, 0, 3)
