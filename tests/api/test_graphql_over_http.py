"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/), rule by rule.

Under ``Accept: application/graphql-response+json`` a request error (no execution) is a 400
without ``data``; an executed operation is a 200 whatever its field errors. Under
``application/json`` every answer is today's. The ids in the tests' names are those of the
graphql-http audit suite (graphql/graphql-http, ``src/audits/server.ts``) for the same rule.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bench.bench_ids import customer_global_id
from tests.api.test_compiled import DOCUMENTS, Both, both  # noqa: F401 - a fixture
from tests.conftest import Api
from tests.factories import GET_PAYMENT

GRAPHQL_JSON = "application/graphql-response+json"


async def post(api: Api, body: Any, accept: str | None = GRAPHQL_JSON, **headers: str) -> Any:
    sent = {"content-type": "application/json", **headers}
    if accept is not None:
        sent["accept"] = accept
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await api.http.post("/graphql", content=content, headers=sent)


def media(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRAPHQL_JSON, GRAPHQL_JSON),  # 22EB
        ("application/json", "application/json"),  # 4655
        ("*/*", "application/json"),  # 47DE
        (None, "application/json"),  # no Accept: the legacy default
        (f"application/json;q=0.5, {GRAPHQL_JSON}", GRAPHQL_JSON),  # the highest quality
        (f"{GRAPHQL_JSON};q=0.2, application/json", "application/json"),
        (f"{GRAPHQL_JSON}, application/json", GRAPHQL_JSON),  # equal: the most specific
        (f"text/html, {GRAPHQL_JSON};q=0.9", GRAPHQL_JSON),  # what it does not serve skipped
    ],
)
async def test_the_answer_has_the_media_type_the_client_prefers(
    api: Api, accept: str | None, expected: str
) -> None:
    response = await post(api, {"query": "{ __typename }"}, accept)
    assert response.status_code == 200
    assert media(response) == expected
    assert response.json() == {"data": {"__typename": "Query"}}
    if expected == GRAPHQL_JSON:
        assert "charset=utf-8" in response.headers["content-type"]


async def test_an_accept_without_a_supported_type_is_406(api: Api) -> None:
    response = await post(api, {"query": "{ __typename }"}, "text/html, application/xml")
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    zero = await post(api, {"query": "{ __typename }"}, f"{GRAPHQL_JSON};q=0")
    assert zero.status_code == 406  # q=0: "not acceptable" (RFC 9110 §12.4.2)


REQUEST_ERRORS = [
    pytest.param(b'{ "not a JSON', "BAD_REQUEST", id="2163-json-parse-failure"),
    pytest.param({"qeury": "{ __typename }"}, "BAD_REQUEST", id="17C5-missing-query"),
    pytest.param({"query": {"obj": "ect"}}, "BAD_REQUEST", id="4F50-object-query"),
    pytest.param({"query": 0}, "BAD_REQUEST", id="4F51-number-query"),
    pytest.param({"query": ["array"]}, "BAD_REQUEST", id="4F53-array-query"),
    pytest.param(
        {"query": "{ __typename }", "operationName": 0}, "BAD_REQUEST", id="E3E1-operation-name"
    ),
    pytest.param({"query": "{ __typename }", "variables": "x"}, "BAD_REQUEST", id="69B0-variables"),
    pytest.param(
        {"query": "{ __typename }", "extensions": [1]}, "BAD_REQUEST", id="9043-extensions"
    ),
    pytest.param(["not", "an", "object"], "BAD_REQUEST", id="array-body"),
    pytest.param("just a string", "BAD_REQUEST", id="string-body"),
    pytest.param({"query": "{"}, None, id="556A-document-parse-failure"),
    pytest.param({"query": "{ noSuchField }"}, None, id="74FF-validation-failure"),
    pytest.param(
        {"query": "query A { __typename } query B { __typename }"},
        None,
        id="operation-cannot-be-determined",
    ),
    pytest.param(
        {"query": "query A { __typename }", "operationName": "B"},
        "OPERATION_NOT_FOUND",
        id="operation-name-unknown",
    ),
    pytest.param(
        {"query": "query($id: ID!) { payment(id: $id) { id } }", "variables": {}},
        None,
        id="variable-coercion-missing",
    ),
    pytest.param(
        {"query": "query($n: Int) { products(first: $n) { totalCount } }", "variables": {"n": "x"}},
        None,
        id="variable-coercion-wrong-type",
    ),
]


def _code(error: dict[str, Any]) -> str | None:
    return (error.get("extensions") or {}).get("code")


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS)
async def test_a_request_error_is_400_without_data(api: Api, body: Any, code: str | None) -> None:
    response = await post(api, body)
    assert response.status_code == 400, response.text
    assert media(response) == GRAPHQL_JSON
    answer = response.json()
    assert "data" not in answer  # D586, 5E5B, 34D6: execution never began
    assert answer["errors"], answer
    if code is not None:  # the errors paygate words itself; graphql-core's have no code
        assert code in {_code(e) for e in answer["errors"]}, answer


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b'{ "not a JSON', 400, id="D477-json-parse-failure"),
        pytest.param({"qeury": "{ __typename }"}, 400, id="F5AF-invalid-parameters"),
        pytest.param({"query": "{"}, 200, id="572B-document-parse-failure"),
        pytest.param({"query": "{ noSuchField }"}, 200, id="FDE2-validation-failure"),
        pytest.param(
            {"query": "query A { __typename } query B { __typename }"},
            200,
            id="operation-cannot-be-determined",
        ),
        pytest.param(
            {
                "query": "query($n: Int) { products(first: $n) { totalCount } }",
                "variables": {"n": "x"},
            },
            200,
            id="variable-coercion",
        ),
    ],
)
async def test_application_json_keeps_todays_answers(api: Api, body: Any, status: int) -> None:
    """Under ``application/json`` a request error of a well-formed request is a 200 with
    ``errors`` (and ``data: null``), as before; a body that is not a GraphQL request is a
    400 (the specification's "application/json" section allows both)."""
    for accept in ("application/json", None):
        response = await post(api, body, accept)
        assert response.status_code == status, response.text
        if status == 200:
            answer = response.json()
            assert answer["data"] is None and answer["errors"]


async def test_an_executed_operation_is_200_even_with_field_errors(api: Api) -> None:
    """A field error (here a malformed global ID, met while resolving) leaves ``data``
    present, null or partial: 200 under both media types (EE52)."""
    body = {"query": GET_PAYMENT, "variables": {"id": "not-a-global-id"}}
    for accept in (GRAPHQL_JSON, "application/json"):
        response = await post(api, body, accept)
        assert response.status_code == 200
        answer = response.json()
        assert "data" in answer and answer["errors"]
    partial = await post(
        api,
        {"query": '{ __typename payment(id: "nope") { id } }'},
    )
    assert partial.status_code == 200
    assert partial.json()["data"] == {"__typename": "Query", "payment": None}


async def test_nulls_for_optional_parameters_are_allowed(api: Api) -> None:
    for parameter in ("variables", "operationName", "extensions"):  # 94B0-94B2
        response = await post(api, {"query": "{ __typename }", parameter: None})
        assert response.status_code == 200
        assert response.json() == {"data": {"__typename": "Query"}}


async def test_mutations_answer_in_the_negotiated_media_type(api: Api) -> None:
    response = await post(
        api, {"query": 'mutation { createCustomer(input: {name: "H"}) { customer { id } } }'}
    )
    assert response.status_code == 200
    assert media(response) == GRAPHQL_JSON
    assert response.json()["data"]["createCustomer"]["customer"]["id"]


async def test_a_subscription_operation_over_post_is_refused(api: Api) -> None:
    response = await post(api, {"query": "subscription { __typename }"})
    assert response.status_code == 400
    assert "data" not in response.json()


async def test_bad_credentials_are_401(api: Api) -> None:
    response = await post(
        api, {"query": "{ __typename }"}, GRAPHQL_JSON, authorization="Bearer nonsense"
    )
    assert response.status_code == 401


async def test_compiled_answers_and_refusals_follow_the_media_type(both: Both) -> None:  # noqa: F811
    """The compiled path (trusted documents, one SQL statement) answers in the negotiated
    media type too, and its refusals (no document executed) are request errors."""
    document = DOCUMENTS["customer_page"]
    body = {"documentId": document.document_id, "variables": {"id": customer_global_id(4)}}
    admin = both.callers["admin"]
    assert admin is not None
    answers = {}
    for accept in (GRAPHQL_JSON, "application/json"):
        response = await both.compiled.http.post(
            "/graphql", json=body, headers={"accept": accept, "authorization": admin}
        )
        assert response.status_code == 200
        assert media(response) == accept
        answers[accept] = response.json()
    assert answers[GRAPHQL_JSON] == answers["application/json"]
    assert any(q.startswith("/* trusted document") for q in both.compiled.wire)
    for refused in (
        {"documentId": "sha256:" + "0" * 64},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
    ):
        response = await both.compiled.http.post(
            "/graphql", json=refused, headers={"accept": GRAPHQL_JSON, "authorization": admin}
        )
        assert response.status_code == 400
        assert "data" not in response.json() and response.json()["errors"]
