"""GraphQL hardening: limits, batching, masking, transport rules (GET, content type,
CORS), introspection and GraphiQL under the production profile, and rate limits."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import FrozenClock
from app.main import create_app
from app.services import customers
from app.settings import Settings
from tests.conftest import Api, StatementLog
from tests.security.conftest import Secure, secured

PRODUCTS = "{ products(first: 1) { totalCount } }"
CREATE = 'mutation { createCustomer(input: {name: "X"}) { customer { id } userErrors { code } } }'


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code", "") for e in body.get("errors", [])]


async def count_customers(api: Api) -> int:
    async with api.engine.connect() as connection:
        return int((await connection.execute(sa.text("SELECT count(*) FROM customers"))).scalar())


async def test_depth_tokens_aliases_and_page_size_are_limited(api: Api) -> None:
    deep = (
        "{ products { edges { node { prices { product { prices { product { prices { product "
        "{ prices { product { id } } } } } } } } } } } }"
    )
    assert "errors" in await api.graphql(deep)
    many_tokens = "{ " + " ".join("__typename" for _ in range(4100)) + " }"
    assert "errors" in await api.graphql(many_tokens)
    aliases = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    assert "errors" in await api.graphql(aliases)
    body = await api.graphql("{ products(first: 101) { totalCount } }")
    assert body["data"] is None and "errors" in body


async def test_batches_are_limited_to_ten_operations(api: Api) -> None:
    two = await api.http.post("/graphql", json=[{"query": PRODUCTS}, {"query": "{ __typename }"}])
    assert two.status_code == 200
    assert [item["data"] for item in two.json()] == [
        {"products": {"totalCount": 0}},
        {"__typename": "Query"},
    ]
    eleven = await api.http.post("/graphql", json=[{"query": CREATE}] * 11)
    assert eleven.status_code == 400
    assert await count_customers(api) == 0


async def test_mutations_never_run_over_get_and_only_json_is_accepted(api: Api) -> None:
    response = await api.http.get("/graphql", params={"query": CREATE})
    assert response.status_code in (400, 405) or "text/html" in response.headers["content-type"]
    for content_type, content in (
        ("text/plain", json.dumps({"query": CREATE})),
        ("application/x-www-form-urlencoded", "query=" + CREATE),
        ("multipart/form-data; boundary=x", "--x\r\n"),
    ):
        response = await api.http.post(
            "/graphql", content=content, headers={"content-type": content_type}
        )
        assert response.status_code >= 400, content_type
    assert await count_customers(api) == 0


async def test_cors_allows_listed_origins_only(settings: Settings, clock: FrozenClock) -> None:
    app = create_app(
        settings.model_copy(update={"cors_origins": ["https://shop.example"]}), clock=clock
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://paygate.test"
    ) as http:
        preflight = {"access-control-request-method": "POST"}
        allowed = await http.options(
            "/graphql", headers={"origin": "https://shop.example", **preflight}
        )
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        refused = await http.options(
            "/graphql", headers={"origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in refused.headers
        simple = await http.post(
            "/graphql", json={"query": PRODUCTS}, headers={"origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in simple.headers
    await app.state.runtime.dispose()


async def test_unexpected_errors_are_masked_to_a_request_id(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(session: AsyncSession, **_: Any) -> Any:
        raise RuntimeError('relation "customers" violates SELECT * FROM secret_table')

    monkeypatch.setattr(customers, "create_customer", broken)
    response = await api.http.post(
        "/graphql", json={"query": CREATE}, headers={"x-request-id": "req-masked-0001"}
    )
    (error,) = response.json()["errors"]
    assert error["message"] == "Internal error. Quote request id req-masked-0001 to support."
    assert error["extensions"] == {"code": "INTERNAL_ERROR", "requestId": "req-masked-0001"}
    for leak in ("secret_table", "SELECT", "relation", "Traceback", "RuntimeError"):
        assert leak not in response.text
    # User errors stay readable.
    monkeypatch.undo()
    body = await api.graphql('mutation { createCustomer(input: {email: "nope"}) '
                             "{ userErrors { field code message } } }")  # fmt: skip
    assert body["data"]["createCustomer"]["userErrors"][0]["code"] == "INVALID_EMAIL"


@pytest.fixture
async def production(settings: Settings, clock: FrozenClock) -> Any:
    app = create_app(secured(settings, profile="production"), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:
        yield Secure(Api(http=http, sql=StatementLog(), app=app))
    await app.state.runtime.dispose()


async def test_production_refuses_introspection_graphiql_and_anonymous_callers(
    production: Secure,
) -> None:
    admin = await production.key("admin")
    for credential in (None, admin):
        body = await production.body(credential, "{ __schema { types { name } } }")
        assert body["data"] is None and codes(body) in (["FORBIDDEN"], ["UNAUTHENTICATED"])
        body = await production.body(credential, '{ __type(name: "Customer") { name } }')
        assert "errors" in body
    assert (await production.data(admin, "{ __typename }")) == {"__typename": "Query"}
    page = await production.api.http.get("/graphql", headers={"accept": "text/html"})
    assert "graphiql" not in page.text.lower()
    assert codes(await production.body(None, CREATE)) == ["UNAUTHENTICATED"]
    assert (await production.data(None, PRODUCTS)) == {"products": {"totalCount": 0}}


async def test_mutations_are_rate_limited_per_caller(
    settings: Settings, clock: FrozenClock
) -> None:
    limited = secured(settings, rate_limit_mutations="5/minute", rate_limit_guessable="2/minute")
    app = create_app(limited, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:
        secure = Secure(Api(http=http, sql=StatementLog(), app=app))
        support, other = await secure.key("support"), await secure.key("support")
        results = [codes(await secure.body(support, CREATE)) for _ in range(7)]
        assert results == [[]] * 5 + [["RATE_LIMITED"]] * 2
        refused = await secure.body(support, CREATE)
        assert refused["errors"][0]["extensions"]["retryAfterSeconds"] >= 1
        assert codes(await secure.body(other, CREATE)) == []  # each caller has its own budget
        assert codes(await secure.body(support, PRODUCTS)) == []  # queries are not counted
        assert await count_customers(secure.api) == 6

        # Coupon codes are guessable: a tighter budget for mutations carrying one.
        admin = await secure.key("admin")
        attempt = (
            "mutation($c: ID!, $p: ID!, $code: String) { createSubscription(input: "
            '{customerId: $c, idempotencyKey: "%s", items: [{priceId: $p}], couponCode: $code})'
            " { userErrors { code } } }"
        )
        customer = (await secure.data(admin, CREATE))["createCustomer"]["customer"]["id"]
        guesses = []
        for i in range(3):
            body = await secure.body(
                admin, attempt % i, {"c": customer, "p": customer, "code": f"GUESS{i}"}
            )
            guesses.append(codes(body))
        assert guesses[:2] == [[], []] and guesses[2] == ["RATE_LIMITED"]
    await app.state.runtime.dispose()
