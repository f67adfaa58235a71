"""Customers through GraphQL over HTTP: create, read, update, list, and refusals."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.domain.clock import FrozenClock
from app.schema.node import encode_gid
from tests.conftest import Api

CREATE = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    customer { id email name country locale metadata createdAt updatedAt }
    userErrors { field code message }
  }
}
"""
UPDATE = """
mutation Update($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) {
    customer { id email name country locale metadata updatedAt }
    userErrors { field code message }
  }
}
"""
LIST = """
query List($first: Int, $after: String, $filter: CustomerFilter) {
  customers(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id email } }
  }
}
"""
GET = "query Get($id: ID!) { customer(id: $id) { id email name } }"


async def create(api: Api, **fields: object) -> dict[str, object]:
    payload = (await api.data(CREATE, {"input": fields}))["createCustomer"]
    assert payload["userErrors"] == []
    customer: dict[str, object] = payload["customer"]
    return customer


async def total(api: Api) -> int:
    return int((await api.data(LIST, {"first": 0}))["customers"]["totalCount"])


async def test_create_then_read_back_normalised(api: Api) -> None:
    customer = await create(
        api,
        email="Ada@Example.COM",
        name="  Ada Lovelace ",
        country="gb",
        locale="en_GB",
        metadata={"crm_id": "A-42"},
    )
    assert customer["email"] == "Ada@example.com"  # domain lower-cased, local part kept
    assert customer["name"] == "Ada Lovelace"
    assert customer["country"] == "GB"
    assert customer["locale"] == "en-GB"
    assert customer["metadata"] == {"crm_id": "A-42"}
    assert customer["createdAt"] == "2026-01-15T12:00:00+00:00"

    fetched = (await api.data(GET, {"id": customer["id"]}))["customer"]
    assert fetched == {"id": customer["id"], "email": "Ada@example.com", "name": "Ada Lovelace"}


async def test_update_changes_only_given_fields_and_merges_metadata(
    api: Api, clock: FrozenClock
) -> None:
    customer = await create(api, email="a@example.com", name="A", metadata={"k1": "1", "k2": "2"})
    clock.advance(timedelta(minutes=5))
    result = (
        await api.data(
            UPDATE,
            {"input": {"id": customer["id"], "name": "B", "metadata": {"k2": "", "k3": "3"}}},
        )
    )["updateCustomer"]
    assert result["userErrors"] == []
    updated = result["customer"]
    assert updated["email"] == "a@example.com"
    assert updated["name"] == "B"
    assert updated["metadata"] == {"k1": "1", "k3": "3"}
    assert updated["updatedAt"] == "2026-01-15T12:05:00+00:00"

    cleared = (
        await api.data(UPDATE, {"input": {"id": customer["id"], "email": None, "metadata": None}})
    )["updateCustomer"]["customer"]
    assert cleared["email"] is None
    assert cleared["metadata"] == {}


async def test_list_pages_newest_first_with_cursors(api: Api) -> None:
    ids = [(await create(api, email=f"c{i}@example.com"))["id"] for i in range(5)]
    first = (await api.data(LIST, {"first": 2}))["customers"]
    assert first["totalCount"] == 5
    assert [e["node"]["id"] for e in first["edges"]] == [ids[4], ids[3]]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False

    second = (await api.data(LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]}))[
        "customers"
    ]
    assert [e["node"]["id"] for e in second["edges"]] == [ids[2], ids[1]]
    third = (await api.data(LIST, {"first": 2, "after": second["pageInfo"]["endCursor"]}))[
        "customers"
    ]
    assert [e["node"]["id"] for e in third["edges"]] == [ids[0]]
    assert third["pageInfo"]["hasNextPage"] is False


async def test_filters_by_email_and_creation_time(api: Api, clock: FrozenClock) -> None:
    await create(api, email="old@example.com")
    clock.advance(timedelta(days=1))
    newer = await create(api, email="New@Example.com")
    by_email = (await api.data(LIST, {"filter": {"email": "new@example.com"}}))["customers"]
    assert [e["node"]["id"] for e in by_email["edges"]] == [newer["id"]]
    assert by_email["totalCount"] == 1

    after = await api.data(LIST, {"filter": {"createdAfter": "2026-01-15T12:00:00+00:00"}})
    assert [e["node"]["id"] for e in after["customers"]["edges"]] == [newer["id"]]
    before = await api.data(LIST, {"filter": {"createdBefore": "2026-01-16T00:00:00Z"}})
    assert [e["node"]["email"] for e in before["customers"]["edges"]] == ["old@example.com"]


async def test_pages_of_one_shape_take_each_requests_values(api: Api, clock: FrozenClock) -> None:
    """A list page's statement is compiled once per shape (filter conditions present, cursor
    or not) and then run with each request's values: the filter's, the cursor's, the size's."""
    ids = []
    for i in range(6):
        ids.append((await create(api, email=f"s{i}@example.com"))["id"])
        clock.advance(timedelta(hours=1))
    start = clock.now() - timedelta(hours=6)  # created at start, start + 1 h, ...

    async def page(after_hours: float, first: int, cursor: str | None = None) -> list[object]:
        since = (start + timedelta(hours=after_hours)).isoformat()
        variables = {"first": first, "after": cursor, "filter": {"createdAfter": since}}
        edges = (await api.data(LIST, variables))["customers"]["edges"]
        return [edge["node"]["id"] for edge in edges]

    assert await page(0.5, 2) == [ids[5], ids[4]]
    assert await page(2.5, 3) == [ids[5], ids[4], ids[3]]
    assert await page(4.5, 5) == [ids[5]]
    cursor = (await api.data(LIST, {"first": 1}))["customers"]["edges"][0]["cursor"]
    assert await page(0.5, 2, cursor) == [ids[4], ids[3]]
    assert await page(1.5, 10, cursor) == [ids[4], ids[3], ids[2]]
    not_a_cursor = encode_gid("Customer", uuid.UUID(int=0))  # refused, nothing read
    body = await api.graphql(LIST, {"first": 1, "after": not_a_cursor})
    assert body["errors"][0]["extensions"]["code"] == "INVALID"


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"email": "not-an-email"}, ["input", "email"], "INVALID_EMAIL"),
        ({"email": "a@example.com", "name": ""}, None, None),  # blank optional name: cleared
        ({"name": "x" * 257}, ["input", "name"], "TOO_LONG"),
        ({"country": "XX"}, ["input", "country"], "INVALID_COUNTRY"),
        ({"country": "EU"}, ["input", "country"], "INVALID_COUNTRY"),
        ({"locale": "zz-Nope"}, ["input", "locale"], "INVALID_LOCALE"),
        ({"metadata": ["a"]}, ["input", "metadata"], "INVALID_METADATA"),
        ({"metadata": {"k": 1}}, ["input", "metadata"], "INVALID_METADATA"),
        (
            {"metadata": {f"k{i}": "v" for i in range(51)}},
            ["input", "metadata"],
            "INVALID_METADATA",
        ),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    api: Api, fields: dict[str, object], field: list[str] | None, code: str | None
) -> None:
    payload = (await api.data(CREATE, {"input": fields}))["createCustomer"]
    if code is None:
        assert payload["userErrors"] == []
        assert payload["customer"]["name"] is None
        return
    assert payload["customer"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)]
    assert payload["userErrors"][0]["message"]
    assert await total(api) == 0


async def test_every_problem_is_reported_at_once(api: Api) -> None:
    payload = (await api.data(CREATE, {"input": {"email": "x", "country": "XX", "locale": "??"}}))[
        "createCustomer"
    ]
    assert {e["code"] for e in payload["userErrors"]} == {
        "INVALID_EMAIL",
        "INVALID_COUNTRY",
        "INVALID_LOCALE",
    }


async def test_update_refusals_change_nothing(api: Api) -> None:
    customer = await create(api, email="keep@example.com", name="Keep")
    product = (await api.data('mutation { createProduct(input: {name: "P"}) { product { id } } }'))[
        "createProduct"
    ]["product"]
    cases = [
        ({"id": "not-a-global-id"}, "INVALID_ID"),
        ({"id": product["id"]}, "WRONG_ID_TYPE"),
        ({"id": customer["id"], "email": "bad"}, "INVALID_EMAIL"),
    ]
    for update, code in cases:
        payload = (await api.data(UPDATE, {"input": {**update, "name": "Changed"}}))[
            "updateCustomer"
        ]
        assert payload["customer"] is None
        assert [e["code"] for e in payload["userErrors"]] == [code]
    fetched = (await api.data(GET, {"id": customer["id"]}))["customer"]
    assert fetched["name"] == "Keep"


async def test_unknown_and_malformed_ids(api: Api) -> None:
    nobody = encode_gid("Customer", uuid.uuid4())
    assert (await api.data(GET, {"id": nobody}))["customer"] is None

    body = await api.graphql(GET, {"id": "Q3VzdG9tZXI6bm9wZQ"})  # "Customer:nope"
    assert body["data"]["customer"] is None
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"
    assert body["errors"][0]["path"] == ["customer"]


async def test_wrong_types_are_graphql_errors(api: Api) -> None:
    body = await api.graphql(CREATE, {"input": {"email": 42}})
    assert body["errors"][0]["message"].startswith("Variable '$input'")
    assert await total(api) == 0
