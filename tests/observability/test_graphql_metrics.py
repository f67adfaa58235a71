"""GraphQL operations by bounded name and type; errors by code, as the client got them."""

from __future__ import annotations

from typing import Any

import pytest

from app.context import RequestContext
from app.observability.metrics import BoundedNames
from tests.conftest import Api
from tests.observability.scrape import scrape

CATALOG = "query Catalog { products(first: 1) { totalCount } }"


async def post(api: Api, query: str, **extra: Any) -> dict[str, Any]:
    response = await api.http.post("/graphql", json={"query": query, **extra})
    body: dict[str, Any] = response.json()
    return body


async def test_operations_by_name_and_type(api: Api) -> None:
    await post(api, CATALOG)
    await post(api, CATALOG)
    await post(api, "{ currencies { code } }")
    await post(api, 'mutation Sign { createCustomer(input: {name: "A"}) { customer { id } } }')
    long_name = "Q" * 65  # a valid GraphQL name, too long to be a label
    await post(api, f"query {long_name} {{ __typename }}")
    metrics = await scrape(api)
    count = "paygate_graphql_operation_duration_seconds_count"
    assert metrics.series(count) == {
        (("operation", "Catalog"), ("type", "query")): 2,
        (("operation", "anonymous"), ("type", "query")): 1,
        (("operation", "Sign"), ("type", "mutation")): 1,
        (("operation", "invalid"), ("type", "query")): 1,
    }
    assert long_name not in metrics.text


async def test_distinct_names_are_capped(api: Api) -> None:
    for n in range(203):
        await post(api, f"query Q{n} {{ __typename }}")
    metrics = await scrape(api)
    series = metrics.series("paygate_graphql_operation_duration_seconds_count")
    assert len(series) == 201
    assert series[(("operation", "other"), ("type", "query"))] == 3
    assert series[(("operation", "Q199"), ("type", "query"))] == 1


def test_bounded_names() -> None:
    names = BoundedNames(limit=2)
    assert [names(n) for n in (None, "", "A", "b-c", "B", "C", "A", "_x1")] == [
        "anonymous", "anonymous", "A", "invalid", "B", "other", "A", "other"
    ]  # fmt: skip


async def test_errors_by_code(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    await post(api, '{ customer(id: "not-an-id") { id } }')  # a public error with a code
    await post(api, "{ customer(")  # syntax
    await post(api, "{ noSuchField }")  # validation
    await post(api, 'mutation { createCustomer(input: {name: "4242 4242 4242 4242"}) { '
                    "customer { id } } }")  # fmt: skip
    await post(api, 'mutation { createCustomer(input: {email: "nope"}) { userErrors { field } } }')

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(RequestContext, "db", broken)
    masked = await post(api, CATALOG)
    assert masked["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"
    monkeypatch.undo()

    metrics = await scrape(api)
    errors = metrics.series("paygate_graphql_errors_total")
    assert errors == {
        (("code", "INVALID_ID"),): 1,
        (("code", "GRAPHQL_PARSE_FAILED"),): 1,
        (("code", "GRAPHQL_VALIDATION_FAILED"),): 1,
        (("code", "CARD_DATA_NOT_ALLOWED"),): 1,
        (("code", "INTERNAL_ERROR"),): 1,
    }
    # user errors count even when the client did not select their code
    assert metrics.series("paygate_graphql_user_errors_total") == {(("code", "unselected"),): 1}
    assert "fell over" not in metrics.text
