"""No N+1: SQL statements per request depend on the query's depth, not on list lengths."""

from __future__ import annotations

from tests.conftest import Api

CATALOG = """
query($first: Int!) {
  products(first: $first) {
    totalCount
    edges {
      node {
        id name
        prices { id unitAmount { amount currency } product { id name } }
        activePrices: prices(active: true) { id }
      }
    }
  }
}
"""


async def seed_catalog(api: Api, products: int, prices_each: int) -> None:
    for p in range(products):
        product = (
            await api.data(
                "mutation($n: String!) { createProduct(input: {name: $n}) { product { id } } }",
                {"n": f"Product {p}"},
            )
        )["createProduct"]["product"]["id"]
        for q in range(prices_each):
            await api.data(
                "mutation($p: ID!, $a: String!) { createPrice(input: {productId: $p, "
                'unitAmount: {amount: $a, currency: "USD"}}) { price { id } } }',
                {"p": product, "a": f"{q + 1}.00"},
            )


async def statements_for(api: Api, first: int) -> tuple[int, int]:
    api.sql.clear()
    data = await api.data(CATALOG, {"first": first})
    edges = data["products"]["edges"]
    assert len(edges) == first
    assert all(len(edge["node"]["prices"]) == 3 for edge in edges)
    return api.sql.count, len(edges)


async def test_products_with_prices_cost_the_same_for_2_and_50(api: Api) -> None:
    await seed_catalog(api, products=50, prices_each=3)
    small, _ = await statements_for(api, 2)
    large, _ = await statements_for(api, 50)
    # products page + count + one prices batch (both aliases share it) + one product batch
    assert small == large == 4, api.sql.statements


async def test_node_batches_by_type(api: Api) -> None:
    await seed_catalog(api, products=5, prices_each=1)
    ids = [
        e["node"]["id"]
        for e in (await api.data("{ products(first: 5) { edges { node { id } } } }"))["products"][
            "edges"
        ]
    ]
    api.sql.clear()
    await api.data("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert api.sql.count == 1, api.sql.statements
