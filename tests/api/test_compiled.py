"""Trusted documents and their compiled plans, against the resolvers as the reference.

Two apps over one bench-shaped database: ``compiled`` (trusted documents answered by their
plan's one SQL statement) and ``reference`` (``compiled_documents`` off: every document
through the resolvers). The differential test sends every registered document, and
variations of it, to both, and requires the same ``data``: the same keys in the same
order, the same values and JSON types (compared as canonical JSON text), and the same
errors. Whatever the compiled path does not answer itself (errors, unusual variables) it
hands to the resolvers, so errors are theirs by construction; the tests check it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event

from app.domain.clock import FrozenClock
from app.graphql.compiled_path.registry import TrustedDocument, document_hash, load_documents
from app.main import create_app
from app.security.principals import Role
from app.settings import Settings
from bench.bench_ids import bench_key, customer_cursor, customer_global_id, global_id
from bench.load_paygate import transform, write
from tests.api.test_bench_round_trips import BenchData, Shape
from tests.conftest import Api, settled
from tests.factories import staff_key
from tests.security.conftest import secured

DOCUMENTS = {d.name: d for d in load_documents()}
EMPTY = 36  # a bench customer without methods, subscriptions or invoices


def _register(text: str, name: str) -> TrustedDocument:
    return TrustedDocument(name, text, document_hash(text))


# Variations inside the compiled subset: arguments as variables at their boundaries,
# aliases, __typename, money amounts, page info.
VARIATIONS = {
    "invoices_last": _register(
        "query Last($id: ID!, $last: Int!) { customer(id: $id) { __typename id "
        "recent: invoices(last: $last) { number total { amount amountMinor currency } "
        "lines { description amount { amount } } } all: invoices { id } "
        "subscriptions { invoices { number } latestInvoice { number billingReason dueDate "
        "amountRemaining { amount } } items { unitAmount { amount currency } "
        "price { type active lookupKey trialPeriodDays createdAt } } } } }",
        "invoices_last",
    ),
    "customers_page": _register(
        "query Page($first: Int, $after: String) { customers(first: $first, after: $after) "
        "{ __typename edges { cursor node { id email locale updatedAt paymentMethods "
        "{ psp wallet email isDetached createdAt } } } "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }",
        "customers_page",
    ),
    "customers_first_page": _register(
        "query FirstPage { customers(first: 3) { edges { node { id } } "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }",
        "customers_first_page",
    ),
}


@dataclass
class Side:
    http: httpx.AsyncClient
    app: Any
    sql: list[str] = field(default_factory=list)
    wire: list[str] = field(default_factory=list)

    async def post(self, body: Any, authorization: str | None) -> httpx.Response:
        headers = {"x-request-id": "differential-test"}  # the same in both answers
        if authorization is not None:
            headers["authorization"] = authorization
        self.sql.clear()
        self.wire.clear()
        response = await self.http.post("/graphql", json=body, headers=headers)
        await settled(self.app.state.runtime.engine)  # every statement of it logged
        return response


@dataclass
class Both:
    compiled: Side
    reference: Side
    callers: dict[str, str | None]


@asynccontextmanager
async def _side(settings: Settings, clock: FrozenClock) -> AsyncIterator[Side]:
    app = create_app(settings, clock=clock)
    side = Side(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t"), app)
    engine = app.state.runtime.engine

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        side.sql.append(statement)

    @event.listens_for(engine.sync_engine, "connect")
    def _log_wire(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection._connection.add_query_logger(lambda q: side.wire.append(q.query))

    for document in VARIATIONS.values():
        app.state.trusted_documents.add(document)
    async with side.http:
        yield side
    await app.state.runtime.dispose()


@pytest.fixture
async def both(settings: Settings, clock: FrozenClock, database_url: str) -> AsyncIterator[Both]:
    data = BenchData()
    data.add_customer(1, Shape(methods=1, subscriptions=1, invoices=2, lines=1))
    data.add_customer(2, Shape())
    data.add_customer(3, Shape())
    data.add_customer(4, Shape(methods=3, subscriptions=3, invoices=14, lines=3))
    for n in range(5, EMPTY):
        data.add_customer(n, Shape(subscriptions=2, invoices=4))
    data.add_customer(EMPTY, Shape(methods=0, subscriptions=0))
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await write(connection, transform(data.tables))
        # variety the bench data lacks: a detached method, a wallet, a locale, a trial
        await connection.execute(
            "UPDATE payment_methods SET detached_at = now(), is_default = false, "
            "wallet = 'apple_pay' WHERE last4 = '4001'"
        )
        await connection.execute("UPDATE customers SET locale = 'de-DE' WHERE email LIKE '%4@%'")
        await connection.execute(
            "UPDATE prices SET trial_period_days = 14, lookup_key = 'p' || nickname"
        )
        # text that JSON must escape (quotes, backslashes, control characters) or keep as it
        # is (non-ASCII, U+2028, </script>), NULL text, and times with microseconds (some
        # ending in zeros, which isoformat keeps)
        await connection.execute(
            "UPDATE customers SET name = $1, created_at = created_at + interval '0.123456 s' "
            "WHERE email LIKE '%5@%'",
            "Zoë \"Q\" \\ back\nline\ttab\r \x01 \x1f \x7f 🚀 </script> \u2028 'x'",
        )
        await connection.execute("UPDATE customers SET name = NULL WHERE email LIKE '%6@%'")
        await connection.execute(
            "UPDATE invoices SET created_at = created_at + interval '0.12 s', "
            "number = number || ' \"№\"' WHERE customer_id IN "
            "(SELECT id FROM customers WHERE email LIKE '%4@%' OR email LIKE '%5@%')"
        )
        await connection.execute(
            "UPDATE invoice_lines SET description = E'Pro \\\\ plan\\u00e9 \"annual\"'"
        )
    finally:
        await connection.close()
    secure = secured(settings)
    async with (
        _side(secure, clock) as compiled,
        _side(secure.model_copy(update={"compiled_documents": False}), clock) as reference,
    ):
        runtime = compiled.app.state.runtime
        callers: dict[str, str | None] = {"anonymous": None, "bad key": "Bearer pgk_nope"}
        for role in (Role.ADMIN, Role.GROWTH):
            callers[role.value] = f"Bearer {await staff_key(runtime, role, 'k')}"
        for n in (4, EMPTY):
            token = runtime.tokens.mint(
                customer_global_id(n), now=runtime.clock.now(), ttl=timedelta(hours=1)
            )
            callers[f"customer {n}"] = f"Bearer {token}"
        yield Both(compiled, reference, callers)


def canonical(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


async def differ(both: Both, document: TrustedDocument, variables: Any, caller: str) -> str:
    """Both paths' answers, which must be the same; which path the compiled app took."""
    authorization = both.callers[caller]
    by_id = {"documentId": document.document_id, "variables": variables}
    got = await both.compiled.post(by_id, authorization)
    planned = any(q.startswith("/* trusted document") for q in both.compiled.wire)
    expected = await both.reference.post(
        {"query": document.text, "variables": variables}, authorization
    )
    assert got.status_code == expected.status_code, (got.text, expected.text)
    assert canonical(got.json()) == canonical(expected.json()), (document.name, variables, caller)
    if planned:  # PostgreSQL wrote the JSON: the very bytes orjson writes for the resolvers
        assert got.content == expected.content, (document.name, variables, caller)
    return "compiled" if planned else "resolvers"


def _cases() -> list[tuple[str, Any, str, str]]:
    """(document, variables, caller, the path the compiled app must take)."""
    gid = customer_global_id
    subscription = global_id("Subscription", bench_key("subscription", 1))
    invoice = global_id("Invoice", bench_key("subscription", 999_999))
    cases: list[tuple[str, Any, str, str]] = []
    for n in (1, 4, 5, EMPTY, 999):  # small, large, typical, empty, unknown
        cases.append(("customer_page", {"id": gid(n)}, "admin", "compiled"))
    cases += [
        ("customer_page", {"id": subscription}, "admin", "resolvers"),  # WRONG_ID_TYPE
        ("customer_page", {"id": invoice}, "admin", "resolvers"),  # unknown, another type
        ("customer_page", {"id": "not-an-id"}, "admin", "resolvers"),  # INVALID_ID
        ("customer_page", {"id": 17}, "admin", "resolvers"),
        ("customer_page", {}, "admin", "resolvers"),  # missing variable
        ("customer_page", None, "admin", "resolvers"),
        ("customer_page", {"id": gid(4)}, "customer 4", "compiled"),  # its own
        ("customer_page", {"id": gid(5)}, "customer 4", "compiled"),  # another's: null
        ("customer_page", {"id": gid(EMPTY)}, "customer 36", "compiled"),
        ("customer_page", {"id": gid(4)}, "anonymous", "resolvers"),  # UNAUTHENTICATED
        ("customer_page", {"id": gid(4)}, "bad key", "resolvers"),  # 401 (answered in front)
        ("customer_page", {"id": gid(4)}, "growth", "resolvers"),  # FORBIDDEN (email)
    ]
    for after in (35, 37, 20, 4, 2, 1):  # full page .. empty page
        cases.append(("customers_list", {"after": customer_cursor(after)}, "admin", "compiled"))
    cases += [
        ("customers_list", {"after": "nope"}, "admin", "resolvers"),
        ("customers_list", {"after": customer_cursor(4)}, "customer 4", "resolvers"),
        ("customers_list", {"after": customer_cursor(4)}, "anonymous", "resolvers"),
    ]
    for last in (0, 1, 12, 42, 100):
        for n in (4, EMPTY):
            cases.append(("invoices_last", {"id": gid(n), "last": last}, "admin", "compiled"))
    cases += [
        ("invoices_last", {"id": gid(4), "last": -1}, "admin", "resolvers"),
        ("invoices_last", {"id": gid(4), "last": 101}, "admin", "resolvers"),
        ("invoices_last", {"id": gid(4), "last": 3}, "customer 4", "compiled"),
    ]
    for first in (0, 1, 20, 34, 100):
        for after in (None, customer_cursor(EMPTY + 1), customer_cursor(30)):
            variables = {"first": first, "after": after}
            path = "compiled" if after is not None else "resolvers"  # null: the resolvers
            cases.append(("customers_page", variables, "admin", path))
    cases += [
        ("customers_page", {"first": 101, "after": customer_cursor(30)}, "admin", "resolvers"),
        ("customers_page", {"first": -1, "after": customer_cursor(30)}, "admin", "resolvers"),
        ("customers_first_page", {}, "admin", "compiled"),
    ]
    return cases


CASES = _cases()


async def test_every_document_and_variation_answers_like_the_resolvers(both: Both) -> None:
    documents = {**DOCUMENTS, **VARIATIONS}
    assert {"customer_page", "customers_list"} <= set(DOCUMENTS)
    assert not both.compiled.app.state.trusted_documents.unsupported
    paths = []
    for name, variables, caller, path in CASES:
        taken = await differ(both, documents[name], variables, caller)
        paths.append((name, variables, caller, taken))
        assert taken == path, (name, variables, caller)
    # every registered document was answered by its plan at least once
    assert {name for name, *_, taken in paths if taken == "compiled"} >= set(documents)


async def test_a_compiled_document_costs_one_statement(both: Both) -> None:
    for name, variables in (
        ("customer_page", {"id": customer_global_id(4)}),
        ("customers_list", {"after": customer_cursor(35)}),
    ):
        document = DOCUMENTS[name]
        body = {"documentId": document.document_id, "variables": variables}
        await both.compiled.post(body, both.callers["admin"])  # the key is verified, cached
        response = await both.compiled.post(body, both.callers["admin"])
        assert response.status_code == 200
        assert "errors" not in response.json()
        assert both.compiled.sql == []  # nothing through the ORM
        statements = [q for q in both.compiled.wire if q.startswith("/* trusted document")]
        assert len(statements) == 1, both.compiled.wire
        # no bookkeeping: the pool's pre-ping is off by default (PAYGATE_DB_POOL_PRE_PING)
        assert [q for q in both.compiled.wire if q not in statements] == []


async def test_the_exact_text_is_the_document_too(both: Both) -> None:
    document = DOCUMENTS["customer_page"]
    body = {"query": document.text, "variables": {"id": customer_global_id(4)}}
    response = await both.compiled.post(body, both.callers["admin"])
    assert any(q.startswith("/* trusted document") for q in both.compiled.wire)
    apollo = {
        "variables": {"id": customer_global_id(4)},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": document.sha256}},
    }
    assert (await both.compiled.post(apollo, both.callers["admin"])).json() == response.json()


async def test_an_unknown_document_id_is_an_error(both: Both) -> None:
    body = {"documentId": "sha256:" + "0" * 64, "variables": {}}
    response = await both.compiled.post(body, both.callers["admin"])
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "DOCUMENT_NOT_FOUND"
    for odd in ({"documentId": 17}, {"extensions": "x", "query": "{ __typename }"}):
        response = await both.compiled.post(odd, both.callers["admin"])
        assert response.status_code in (200, 400)  # a GraphQL error, never a crash
    apollo = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
    response = await both.compiled.post(apollo, both.callers["admin"])
    (error,) = response.json()["errors"]
    assert (error["message"], error["extensions"]["code"]) == (
        "PersistedQueryNotFound",
        "PERSISTED_QUERY_NOT_FOUND",
    )


async def test_mutations_are_never_compiled(both: Both) -> None:
    text = 'mutation M { createCustomer(input: { email: "m@example.com" }) { customer { email } } }'
    trusted = _register(text, "mutation")
    both.compiled.app.state.trusted_documents.add(trusted)
    assert trusted.sha256 not in both.compiled.app.state.trusted_documents.plans
    response = await both.compiled.post({"documentId": trusted.document_id}, both.callers["admin"])
    assert response.json()["data"]["createCustomer"]["customer"] == {"email": "m@example.com"}
    assert any("INSERT INTO customers" in s for s in both.compiled.sql)


@pytest.fixture
async def only(settings: Settings, clock: FrozenClock) -> AsyncIterator[Side]:
    async with _side(secured(settings, trusted_documents_only=True), clock) as side:
        yield side


async def test_trusted_documents_only_refuses_the_others(only: Side) -> None:
    response = await only.post({"query": "{ __typename }"}, None)
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "DOCUMENT_NOT_TRUSTED"
    assert response.json()["data"] is None
    batch = await only.post([{"query": "{ __typename }"}], None)  # type: ignore[arg-type]
    assert batch.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_NOT_TRUSTED"
    # a registered document is served (here: refused by the field policy, anonymously)
    document = DOCUMENTS["customer_page"]
    body = {"documentId": document.document_id, "variables": {"id": customer_global_id(1)}}
    response = await only.post(body, None)
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_compiler_keeps_the_schema_limits(api: Api) -> None:
    """What the router refuses for its limits is never compiled (depth: the subset cannot
    reach it; aliases: at the limit and beyond it)."""
    from app.graphql.compiled_path import compiler
    from app.graphql.schema import core_schema

    for count, refused in ((30, False), (31, True)):
        aliases = " ".join(f"a{k}: __typename" for k in range(count))
        document = _register(f"{{ {aliases} }}", "aliases")
        body = await api.graphql(document.text)
        assert ("errors" in body) is refused
        if refused:
            with pytest.raises(compiler.Unsupported):
                compiler.compile_document(core_schema, document)
        else:
            compiler.compile_document(core_schema, document)


async def test_on_sqlite_trusted_documents_are_served_by_the_resolvers(tmp_path: Any) -> None:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"))
    assert app.state.trusted_documents.plans == {}
    document = DOCUMENTS["customer_page"]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        body = {"documentId": document.document_id, "variables": {"id": customer_global_id(1)}}
        response = await http.post("/graphql", json=body)
    assert response.json() == {"data": {"customer": None}}


async def test_compiled_answers_carry_the_cors_headers(
    settings: Settings, clock: FrozenClock, database_url: str
) -> None:
    cors = settings.model_copy(update={"cors_origins": ["https://app.example"]})
    async with _side(cors, clock) as side:
        document = DOCUMENTS["customer_page"]
        body = {"documentId": document.document_id, "variables": {"id": customer_global_id(1)}}
        response = await side.http.post(
            "/graphql", json=body, headers={"origin": "https://app.example"}
        )
        await settled(side.app.state.runtime.engine)
        assert any(q.startswith("/* trusted document") for q in side.wire)
        preflight = await side.http.options(
            "/graphql",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization,content-type",
            },
        )
    assert response.json() == {"data": {"customer": None}}
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert len(response.headers.get_list("x-request-id")) == 1
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight.headers["x-request-id"]  # every answer carries one


async def test_another_directory_of_documents(settings: Settings, tmp_path: Any) -> None:
    text = "query Mine($id: ID!) { customer(id: $id) { id email } }"
    (tmp_path / "mine.graphql").write_text(text + "\n")
    app = create_app(settings.model_copy(update={"trusted_documents_dir": tmp_path}))
    trusted = app.state.trusted_documents
    assert list(trusted.by_hash) == [document_hash(text)]
    assert list(trusted.plans) == [document_hash(text)]
    await app.state.runtime.dispose()
    with pytest.raises(FileNotFoundError):
        create_app(settings.model_copy(update={"trusted_documents_dir": tmp_path / "none"}))


async def test_batches_go_to_the_resolvers_with_documents_by_id(both: Both) -> None:
    document = DOCUMENTS["customer_page"]
    item = {"documentId": document.document_id, "variables": {"id": customer_global_id(4)}}
    response = await both.compiled.post([item, {"query": "{ __typename }"}], both.callers["admin"])
    first, second = response.json()
    assert first["data"]["customer"]["email"] == "customer4@example.com"
    assert second == {"data": {"__typename": "Query"}}
    assert not any(q.startswith("/* trusted document") for q in both.compiled.wire)


async def test_compiled_answers_are_logged_and_measured_like_the_others(
    settings: Settings, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """The front writes the request's line and metrics as the middleware stack would: the
    same fields as the resolvers' answer to the same request, the caller's request id."""
    logged = settings.model_copy(update={"log_format": "json"})
    document = DOCUMENTS["customer_page"]
    body = {"documentId": document.document_id, "variables": {"id": customer_global_id(1)}}
    lines = {}
    async with (
        _side(logged, clock) as compiled,
        _side(logged.model_copy(update={"compiled_documents": False}), clock) as reference,
    ):
        for name, side in (("compiled", compiled), ("reference", reference)):
            capsys.readouterr()
            response = await side.http.post(
                "/graphql", json=body, headers={"x-request-id": f"request-{name}"}
            )
            assert response.json() == {"data": {"customer": None}}
            assert response.headers.get_list("x-request-id") == [f"request-{name}"]
            assert response.headers["x-content-type-options"] == "nosniff"
            found = [json.loads(x) for x in capsys.readouterr().err.splitlines() if "{" in x[:1]]
            (line,) = [x for x in found if x.get("request_id") == f"request-{name}"]
            lines[name] = line
            metrics = (await side.http.get("/metrics")).text
            assert (
                'paygate_http_request_duration_seconds_count{method="POST",route="/graphql",'
                'status_class="2xx"} 1.0' in metrics
            )
            assert (
                'paygate_graphql_operation_duration_seconds_count{operation="CustomerPage",'
                'type="query"} 1.0' in metrics
            )
        for side in (compiled, reference):
            await settled(side.app.state.runtime.engine)
        assert any(q.startswith("/* trusted document") for q in compiled.wire)
        assert not any(q.startswith("/* trusted document") for q in reference.wire)
    varying = ("duration_ms", "timestamp", "request_id")
    assert {k: v for k, v in lines["compiled"].items() if k not in varying} == {
        k: v for k, v in lines["reference"].items() if k not in varying
    }
    assert lines["compiled"]["operation"] == "CustomerPage"


async def test_concurrent_plans_share_a_small_pool(
    settings: Settings, clock: FrozenClock, database_url: str
) -> None:
    """More requests at once than connections: they wait their turn, none fails."""
    small = settings.model_copy(update={"db_pool_size": 2, "db_max_overflow": 0})
    document = DOCUMENTS["customer_page"]
    async with _side(small, clock) as side:
        bodies = [
            {"documentId": document.document_id, "variables": {"id": customer_global_id(n)}}
            for n in range(40)
        ]
        responses = await asyncio.gather(*(side.http.post("/graphql", json=b) for b in bodies))
        await settled(side.app.state.runtime.engine)
        statements = [q for q in side.wire if q.startswith("/* trusted document")]
    assert [r.status_code for r in responses] == [200] * 40
    assert all(r.json() == {"data": {"customer": None}} for r in responses)
    assert len(statements) == 40
