"""A single operation is answered by the endpoint's resolver path
(``app/graphql/resolver_path/handler.py``), a batch by
FastAPI's router and strawberry's view: the same operation gets the same answer both ways,
errors included, and every answer carries its request id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api

UNKNOWN_KEY = "Bearer pgk_abcdefghijkm_" + "x" * 43

OPERATIONS: list[dict[str, Any]] = [
    {"query": "{ products(first: 2) { totalCount edges { node { id name } } } }"},
    {"query": "query Q($n: Int) { products(first: $n) { totalCount } }", "variables": {"n": 1}},
    # beyond 64 bits: reported with its exact value, as ``json`` reads it
    {
        "query": "query Q($n: Int) { products(first: $n) { totalCount } }",
        "variables": {"n": 123456789012345678901},
    },
    {"query": "{ products(first: 2) { nope } }"},  # a validation error
    {"query": "{ products(first: 2) { totalCount }", "operationName": None},  # syntax
    {"query": "query A { __typename } query B { __typename }"},  # which one?
    {"query": '{ customer(id: "not-a-global-id") { id } }'},  # a resolver's error
]


async def both_ways(api: Api, operation: dict[str, Any], **headers: str) -> tuple[Any, Any]:
    body = json.dumps(operation).encode()
    batch = json.dumps([operation]).encode()
    headers = {"content-type": "application/json", **headers}
    single = await api.http.post("/graphql", content=body, headers=headers)
    batched = await api.http.post("/graphql", content=batch, headers=headers)
    assert single.headers["x-request-id"] and batched.headers["x-request-id"]
    return single, batched


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_a_single_operation_is_answered_as_in_a_batch(
    api: Api, operation: dict[str, Any]
) -> None:
    single, batched = await both_ways(api, operation)
    assert (single.status_code, batched.status_code) == (200, 200)
    assert single.headers["content-type"] == "application/json"
    assert [single.json()] == batched.json()


async def test_unknown_credentials_get_the_same_401(api: Api) -> None:
    single, batched = await both_ways(api, OPERATIONS[0], authorization=UNKNOWN_KEY)
    assert (single.status_code, batched.status_code) == (401, 401)
    assert single.headers["www-authenticate"] == batched.headers["www-authenticate"]
    answer, reference = single.json(), batched.json()
    assert answer["errors"][0]["extensions"]["requestId"] == single.headers["x-request-id"]
    for body in (answer, reference):
        del body["errors"][0]["extensions"]["requestId"]
    assert answer == reference
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_big_integer_keeps_its_digits_in_the_error(api: Api) -> None:
    single, _ = await both_ways(api, OPERATIONS[2])
    assert "123456789012345678901" in single.json()["errors"][0]["message"]
