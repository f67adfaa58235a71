"""Requests take the pool's connections in turn (``Runtime.connection_slots``): more requests
than connections all get their answer, whether they succeed or fail, and each gives its
slot back when it is done."""

import asyncio
import uuid
from typing import Any

import httpx

from app.context import RequestContext
from app.domain.clock import FrozenClock
from app.main import create_app
from app.models import Customer
from app.security.principals import Principal, Role
from app.settings import Settings

PAGE = "query($after: String) { customers(first: 3, after: $after) { edges { node { id } } } }"


async def test_more_requests_than_connections_all_answered_and_slots_returned(
    settings: Settings, clock: FrozenClock
) -> None:
    narrow = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0})
    app = create_app(narrow, clock=clock)
    slots = app.state.runtime.connection_slots
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:

            async def post(query: str, variables: dict[str, Any]) -> dict[str, Any]:
                response = await http.post(
                    "/graphql", json={"query": query, "variables": variables}
                )
                assert response.status_code == 200, response.text
                answer: dict[str, Any] = response.json()
                return answer

            for n in range(4):
                created = await post(
                    "mutation($n: String!) { createCustomer(input: {name: $n}) "
                    "{ customer { id } userErrors { message } } }",
                    {"n": f"Customer {n}"},
                )
                assert created["data"]["createCustomer"]["userErrors"] == [], created
            answers = await asyncio.wait_for(
                asyncio.gather(
                    *(post(PAGE, {"after": None}) for _ in range(8)),
                    post(PAGE, {"after": "not a cursor"}),  # fails after taking its slot
                    *(post(PAGE, {"after": None}) for _ in range(8)),
                ),
                timeout=60,
            )
            pages, failed = answers[:8] + answers[9:], answers[8]
            assert all(len(page["data"]["customers"]["edges"]) == 3 for page in pages)
            assert failed["errors"][0]["extensions"]["code"] == "INVALID"
            assert not slots.locked()  # every slot back: the next request goes at once
            assert len((await post(PAGE, {"after": None}))["data"]["customers"]["edges"]) == 3
    finally:
        await app.state.runtime.dispose()


async def test_a_request_holds_one_connection_and_reads_see_its_writes(
    settings: Settings, clock: FrozenClock
) -> None:
    """The loaders read on a pooled connection of their own until the request makes its
    session (``RequestContext.reads``); the session then takes the pool's only connection
    (the reader went back), and later reads go through the session and see its writes."""
    narrow = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0})
    app = create_app(narrow, clock=clock)
    runtime = app.state.runtime
    pool = runtime.engine.sync_engine.pool
    try:
        context = RequestContext(runtime, "r1", Principal.api_key(uuid.uuid4(), Role.ADMIN))
        async with context.reads() as source:
            assert source.session is None and source.driver is not None
            assert await source.driver.fetchval("SELECT count(*) FROM customers") == 0
        assert pool.checkedout() == 1
        async with asyncio.timeout(10):  # the pool's one connection: the reader gave it back
            async with context.db() as session:
                now = clock.now()
                session.add(
                    Customer(
                        email="one@example.com",
                        name="One",
                        country="FR",
                        created_at=now,
                        updated_at=now,
                    )
                )
                await session.flush()
        async with context.reads() as source:
            assert source.session is not None
            assert await source.driver.fetchval("SELECT count(*) FROM customers") == 1
        assert pool.checkedout() == 1
        await context.close()
        assert pool.checkedout() == 0
        assert not runtime.connection_slots.locked()

        # A read that fails (or is cancelled) mid-statement: its connection is discarded.
        context = RequestContext(runtime, "r2", Principal.api_key(uuid.uuid4(), Role.ADMIN))
        try:
            async with context.reads() as source:
                await source.driver.fetchval("SELECT 1/0")
        except Exception as error:
            assert "division by zero" in str(error)
        else:
            raise AssertionError("no error")
        assert pool.checkedout() == 0
        async with context.reads() as source:  # a new one, and nothing written
            assert await source.driver.fetchval("SELECT count(*) FROM customers") == 0
        await context.close()
        assert pool.checkedout() == 0
    finally:
        await runtime.dispose()
