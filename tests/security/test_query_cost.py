"""Query cost (README: Query cost and time limits): the issue's two expensive documents
refused before they run, with their estimate; each actor's budget; ``extensions.cost`` on
request; the rate limit by cost per caller (anonymous callers per client address); and the
compiled path (trusted documents) applying the same rules with the same answers.

"Before it runs" is checked without timing: a refused request takes no connection from the
pool (a checkout is counted synchronously), so no statement of it can have run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event

from app.domain.clock import FrozenClock
from app.graphql.compiled_path.registry import load_documents
from app.graphql.schema import schema
from app.main import create_app
from app.security.cost import CostAnalysis
from app.settings import QueryCostSettings, Settings
from bench.bench_ids import customer_cursor, customer_global_id
from bench.load_paygate import transform, write
from tests.api.test_bench_round_trips import BenchData, Shape
from tests.factories import staff_key
from tests.security.conftest import secured

# The issue's documents, as sent: 30 aliases each.
ANONYMOUS_DOCUMENT = (
    "{ "
    + " ".join(
        f"a{i}: products(first: 100) {{ edges {{ node {{ prices {{ product {{ prices {{ "
        f"product {{ prices {{ unitAmount {{ formatted }} }} }} }} }} }} }} }} }}"
        for i in range(30)
    )
    + " }"
)
ADMIN_DOCUMENT = (
    "{ "
    + " ".join(
        f"c{i}: customers(first: 100) {{ edges {{ node {{ id email invoices {{ number "
        f"total {{ amount }} lines {{ description amount {{ amount }} }} payments {{ id "
        f"amount {{ amount }} refunds {{ id amount {{ amount }} }} }} }} }} }} }}"
        for i in range(30)
    )
    + " }"
)
DOCUMENTS = {d.name: d for d in load_documents()}
STAFF = ("support", "finance", "growth", "readonly")


def page(first: int) -> str:
    """A document whose estimate is 2 + 2 * first: the root, the connection, and per
    edge the edge and its node."""
    return f"{{ products(first: {first}) {{ edges {{ node {{ id }} }} }} }}"


def estimate(document: str, variables: dict[str, Any] | None = None) -> int:
    found = CostAnalysis(schema._schema).estimate(document, None, variables)
    assert found is not None
    return found.cost


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code", "") for e in body.get("errors", [])]


@dataclass
class Served:
    """One app over HTTP, with its pool checkouts and the statements on its connections."""

    app: Any
    clock: FrozenClock
    checkouts: int = 0
    wire: list[str] = field(default_factory=list)
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def http(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """A client calling from ``address`` (anonymous callers are limited per address)."""
        if address not in self.clients:
            transport = httpx.ASGITransport(app=self.app, client=(address, 40_000))
            self.clients[address] = httpx.AsyncClient(
                transport=transport, base_url="http://paygate.test"
            )
        return self.clients[address]

    async def key(self, role: str) -> str:
        return f"Bearer {await staff_key(self.runtime, role, role)}"

    def token(self, customer: int) -> str:
        minted = self.runtime.tokens.mint(
            customer_global_id(customer), now=self.clock.now(), ttl=timedelta(hours=1)
        )
        return f"Bearer {minted}"

    async def post(
        self, body: dict[str, Any], authorization: str | None = None, address: str = "127.0.0.1"
    ) -> dict[str, Any]:
        headers = {} if authorization is None else {"authorization": authorization}
        response = await self.http(address).post("/graphql", json=body, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def refused_unrun(
        self, body: dict[str, Any], authorization: str | None = None, address: str = "127.0.0.1"
    ) -> dict[str, Any]:
        """The answer to ``body``, which must have taken no connection (nothing ran)."""
        before = self.checkouts
        answer = await self.post(body, authorization, address)
        assert self.checkouts == before, "a refused request took a connection"
        assert answer["data"] is None, answer
        return answer


@asynccontextmanager
async def serve(settings: Settings, clock: FrozenClock) -> AsyncIterator[Served]:
    app = create_app(settings, clock=clock)
    served = Served(app, clock)
    engine = app.state.runtime.engine

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(*_: Any) -> None:
        served.checkouts += 1

    @event.listens_for(engine.sync_engine, "connect")
    def _log_wire(dbapi_connection: Any, _record: Any) -> None:
        if engine.dialect.driver == "asyncpg":
            dbapi_connection._connection.add_query_logger(lambda q: served.wire.append(q.query))

    try:
        yield served
    finally:
        for client in served.clients.values():
            await client.aclose()
        await app.state.runtime.dispose()


def limits(**changes: Any) -> QueryCostSettings:
    return QueryCostSettings(**changes)


@pytest.fixture
async def seeded(database_url: str) -> None:
    """The benchmark's shape: 5 products and 20 prices, customers with subscriptions,
    invoices, lines, payments and refunds (``bench/load_paygate.py``'s mapping)."""
    data = BenchData()
    start = datetime(2022, 1, 1, tzinfo=UTC)
    for n in range(3, 6):
        data.tables["products"].append(
            {"id": n, "name": f"P{n}", "description": "", "active": True, "created_at": start}
        )
    for n in range(3, 21):
        data.tables["prices"].append({
            "id": n, "product_id": n % 5 + 1, "nickname": f"price {n}", "currency": "usd",
            "unit_amount": 100 * n, "billing_interval": "month", "interval_count": 1,
            "active": True, "created_at": start,
        })  # fmt: skip
    for n in range(1, 35):
        data.add_customer(n, Shape(subscriptions=2, invoices=4))
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await write(connection, transform(data.tables))
    finally:
        await connection.close()


async def test_the_issues_documents_are_refused_before_they_run_with_their_estimate(
    settings: Settings, clock: FrozenClock, seeded: None
) -> None:
    async with serve(secured(settings), clock) as served:
        admin = await served.key("admin")
        await served.post({"query": page(1)}, admin)  # the key verified and cached
        expected = {
            (None, ANONYMOUS_DOCUMENT): 5_000,
            (admin, ADMIN_DOCUMENT): 100_000,
            # one alias of each is over budget too
            (None, ANONYMOUS_DOCUMENT.split(" a1:")[0] + " }"): 5_000,
            (admin, ADMIN_DOCUMENT.split(" c1:")[0] + " }"): 100_000,
        }
        for (credential, document), budget in expected.items():
            cost = estimate(document)
            assert cost > budget
            body = {"query": document, "extensions": {"cost": True}}
            answer = await served.refused_unrun(body, credential)
            assert answer["errors"][0]["extensions"] == {
                "code": "QUERY_TOO_EXPENSIVE",
                "cost": cost,
                "budget": budget,
            }
            assert answer["extensions"]["cost"]["estimate"] == cost
        # the anonymous document: 50 million objects estimated (5 products, 20 prices
        # made it 0.8 s); the admin's: ~66 million
        assert estimate(ANONYMOUS_DOCUMENT) > 50_000_000
        assert estimate(ADMIN_DOCUMENT) > 60_000_000
        # what they may ask instead runs
        cheap = "{ products(first: 5) { edges { node { prices { unitAmount { formatted } } } } } }"
        assert "errors" not in await served.post({"query": cheap})


async def test_each_actor_has_its_budget(
    settings: Settings, clock: FrozenClock, seeded: None
) -> None:
    budgets = {"anonymous": 40, "customer": 60, "staff": 80, "admin": 100}
    cost_limits = limits(**budgets)
    async with serve(secured(settings, query_cost=cost_limits), clock) as served:
        callers: dict[str, tuple[str, str | None]] = {
            "anonymous": ("anonymous", None),
            "customer": ("customer", served.token(3)),
            "admin": ("admin", await served.key("admin")),
        }
        for role in STAFF:
            callers[role] = ("staff", await served.key(role))
        for name, (tier, credential) in callers.items():
            budget = budgets[tier]
            first = (budget - 2) // 2
            assert estimate(page(first)) == budget
            within = await served.post({"query": page(first)}, credential)
            assert "errors" not in within, (name, within)
            assert len(within["data"]["products"]["edges"]) == 5
            over = await served.refused_unrun({"query": page(first + 1)}, credential)
            assert over["errors"][0]["extensions"] == {
                "code": "QUERY_TOO_EXPENSIVE",
                "cost": budget + 2,
                "budget": budget,
            }, name
            assert f"for {tier} callers" in over["errors"][0]["message"]


async def test_the_estimate_is_reported_on_request(
    settings: Settings, clock: FrozenClock, seeded: None
) -> None:
    async with serve(secured(settings), clock) as served:
        document = "query($n: Int) { products(first: $n) { edges { node { prices { id } } } } }"
        asked = await served.post(
            {"query": document, "variables": {"n": 2}, "extensions": {"cost": True}}
        )
        assert asked["extensions"] == {
            "cost": {
                "estimate": estimate(document, {"n": 2}),
                "budget": 5_000,
                "rateLimit": "100000 per 1 minute",
            }
        }
        assert len(asked["data"]["products"]["edges"]) == 2
        plain = await served.post({"query": document, "variables": {"n": 2}})
        assert "extensions" not in plain


async def test_queries_are_rate_limited_by_cost_per_caller(
    settings: Settings, clock: FrozenClock, seeded: None
) -> None:
    cost_limits = limits(
        anonymous=50, staff=50, rate_anonymous="100/minute", rate_staff="100/minute"
    )
    async with serve(secured(settings, query_cost=cost_limits), clock) as served:
        document = {"query": page(20)}  # 42
        first = [codes(await served.post(document, address="203.0.113.1")) for _ in range(3)]
        assert first == [[], [], ["RATE_LIMITED"]]
        refused = await served.refused_unrun(document, address="203.0.113.1")
        extensions = refused["errors"][0]["extensions"]
        assert extensions["retryAfterSeconds"] >= 1 and extensions["cost"] == 42
        # a smaller query still fits what is left (100 - 84)
        assert codes(await served.post({"query": page(5)}, address="203.0.113.1")) == []
        # another client address, and each key, has its own
        assert codes(await served.post(document, address="203.0.113.2")) == []
        support, readonly = await served.key("support"), await served.key("readonly")
        assert [codes(await served.post(document, support)) for _ in range(3)] == [
            [],
            [],
            ["RATE_LIMITED"],
        ]
        assert codes(await served.post(document, readonly)) == []
        # mutations are limited on their own (PAYGATE_RATE_LIMIT_MUTATIONS), not by cost
        create = 'mutation { createCustomer(input: {name: "X"}) { customer { id } } }'
        assert codes(await served.post({"query": create}, support)) == []


def _by_id(name: str, variables: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"documentId": DOCUMENTS[name].document_id, "variables": variables, **extra}


@asynccontextmanager
async def compiled_and_reference(
    settings: Settings, clock: FrozenClock, cost_limits: QueryCostSettings
) -> AsyncIterator[tuple[Served, Served, str]]:
    """The same settings with compiled plans and without (every document through the
    resolvers), over one database, and an admin key verified by both."""
    base = secured(settings, query_cost=cost_limits)
    async with (
        serve(base, clock) as compiled,
        serve(base.model_copy(update={"compiled_documents": False}), clock) as reference,
    ):
        assert DOCUMENTS["customers_list"].sha256 in compiled.app.state.trusted_documents.plans
        admin = await compiled.key("admin")
        for side in (compiled, reference):
            await side.post({"query": "{ __typename }"}, admin)  # the key verified and cached
        yield compiled, reference, admin


async def both_answers(
    compiled: Served, reference: Served, admin: str
) -> tuple[dict[str, Any], bool, bool]:
    """customers_list by id from the compiled app and as text from the reference, which
    must answer alike; whether the plan's statement ran, and whether any connection was
    taken for it."""
    variables = {"after": customer_cursor(30)}
    compiled.wire.clear()
    before = compiled.checkouts
    got = await compiled.post(_by_id("customers_list", variables, extensions={"cost": True}), admin)
    await asyncio.sleep(0.02)  # asyncpg's logger callbacks
    planned = any(q.startswith("/* trusted document") for q in compiled.wire)
    text = DOCUMENTS["customers_list"].text
    body = {"query": text, "variables": variables, "extensions": {"cost": True}}
    want = await reference.post(body, admin)
    for answer in (got, want):  # seconds to wait: read a moment apart
        for error in answer.get("errors", []):
            if "retryAfterSeconds" in error["extensions"]:
                assert error["extensions"].pop("retryAfterSeconds") >= 1
                error["message"] = error["message"].split(" Retry in")[0]
    assert got == want
    return got, planned, compiled.checkouts != before


async def test_the_compiled_path_refuses_over_budget_like_the_resolvers(
    settings: Settings, clock: FrozenClock, seeded: None
) -> None:
    cost = estimate(DOCUMENTS["customers_list"].text)
    assert cost == 2_102
    cost_limits = limits(anonymous=1_000, admin=2_000)
    async with compiled_and_reference(settings, clock, cost_limits) as sides:
        answer, planned, connected = await both_answers(*sides)
        assert answer["errors"][0]["extensions"] == {
            "code": "QUERY_TOO_EXPENSIVE",
            "cost": cost,
            "budget": 2_000,
        }
        assert answer["data"] is None and not planned and not connected


async def test_the_compiled_path_reports_and_spends_the_estimate_like_the_resolvers(
    settings: Settings, clock: FrozenClock, seeded: None
) -> None:
    # two of them a minute
    cost_limits = limits(anonymous=1_000, admin=2_102, rate_admin="4300/minute")
    async with compiled_and_reference(settings, clock, cost_limits) as sides:
        for _ in range(2):
            answer, planned, _ = await both_answers(*sides)
            assert planned and len(answer["data"]["customers"]["edges"]) == 29
            assert answer["extensions"] == {
                "cost": {"estimate": 2_102, "budget": 2_102, "rateLimit": "4300 per 1 minute"}
            }
        answer, planned, connected = await both_answers(*sides)
        assert codes(answer) == ["RATE_LIMITED"]
        assert answer["data"] is None and not planned and not connected
