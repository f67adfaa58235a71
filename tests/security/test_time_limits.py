"""Time limits (README: Query cost and time limits): a statement past
``PAYGATE_DB_STATEMENT_TIMEOUT_SECONDS`` and a query past ``PAYGATE_REQUEST_TIMEOUT_SECONDS``
answer ``REQUEST_TIMEOUT``, on the resolvers and on the compiled path, and the request's
connection goes back to the pool (a statement still running for it is cancelled on the
server). The slow statements are real ones on the request's own connection: a test-only
``pg_sleep`` run before a read (``app.graphql.read.records.Read``) or around a compiled plan's
statement. SQLite has no statement timeout: a progress handler interrupts the statement.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from time import perf_counter
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from app.db import is_statement_timeout, make_engine
from app.domain.clock import FrozenClock
from app.graphql.compiled_path.registry import load_documents
from app.graphql.read import pages, records
from app.graphql.read.loaders import Loaders
from app.settings import Settings
from bench.bench_ids import customer_cursor
from tests.security.conftest import secured
from tests.security.test_query_cost import Served, seeded, serve

__all__ = ["seeded"]  # the fixture, used here too

PAGE = "{ products(first: 5) { edges { node { id } } } }"
WITH_PRICES = "{ products(first: 5) { edges { node { id prices { id } } } } }"
CUSTOMERS_LIST = next(d for d in load_documents() if d.name == "customers_list")


def slow_reads(monkeypatch: pytest.MonkeyPatch, seconds: float, reads: set[int]) -> list[int]:
    """The ``reads``-th reads of the loaders and pages (1: the first) run ``pg_sleep`` on
    their connection first; the list counts the reads made."""
    made: list[int] = []
    original = records.Read._values

    async def _values(self: records.Read, source: records.ReadSource, params: Any) -> Any:
        made.append(1)
        if len(made) in reads:
            assert source.driver is not None  # PostgreSQL: reads on the driver
            await source.driver.execute(f"SELECT pg_sleep({seconds})")
        return await original(self, source, params)

    monkeypatch.setattr(records.Read, "_values", _values)
    return made


# SQLite: a statement that never ends by itself
FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


async def settled(served: Served) -> None:
    """The request's connections back in the pool and its slot free (waits a little: the
    answer is sent before the request's context is closed)."""
    runtime = served.runtime
    pool = runtime.engine.pool
    slots = runtime.settings.db_pool_size * 2  # overflow: as many as the pool
    for _ in range(100):
        if pool.checkedout() == 0 and runtime.connection_slots._value == slots:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{pool.checkedout()} connections still out")


async def sleeping(database_url: str, seconds: float) -> int:
    """How many ``pg_sleep(seconds)`` statements run now in the test's database."""
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND query = $1",
            f"SELECT pg_sleep({seconds})",
        )
        return count
    finally:
        await connection.close()


def timed_out(answer: dict[str, Any], limit: str, seconds: float) -> None:
    assert [e["extensions"] for e in answer["errors"]] == [
        {"code": "REQUEST_TIMEOUT", "limit": limit, "timeoutSeconds": seconds}
    ], answer


async def test_a_statement_past_its_timeout_is_a_typed_error_and_its_connection_returns(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = secured(settings, db_statement_timeout_seconds=0.2, request_timeout_seconds=0)
    async with serve(limited, clock) as served:
        reads = slow_reads(monkeypatch, 3, {1})
        started = perf_counter()
        answer = await served.post({"query": PAGE})
        assert perf_counter() - started < 2
        timed_out(answer, "statement", 0.2)
        assert answer["errors"][0]["path"] == ["products"]
        await settled(served)
        assert "errors" not in await served.post({"query": PAGE})  # the pool still serves
        assert len(reads) == 2


@pytest.mark.parametrize("connection", ["reader", "session"])
async def test_a_query_past_the_request_timeout_is_cut_off_with_its_statements(
    settings: Settings,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    seeded: None,
    database_url: str,
    connection: str,
) -> None:
    """The second level is read by a loader batch, a task of its own: the request's timeout
    cancels it too, and with it its statement on the server, on the request's pooled
    reader (customers' subscriptions) or on its session (products' prices)."""
    limited = secured(settings, db_statement_timeout_seconds=0, request_timeout_seconds=0.5)
    async with serve(limited, clock) as served:
        admin = await served.key("admin")
        if connection == "reader":
            document = "{ customers(first: 5) { edges { node { subscriptions { id } } } } }"
            slow_reads(monkeypatch, 5, {2})
        else:
            document = WITH_PRICES
            original = Loaders._prices_of_products

            async def slow_prices(self: Loaders, keys: Any) -> Any:
                async with self._db() as session:
                    await session.execute(sa.text("SELECT pg_sleep(5)"))
                return await original(self, keys)

            monkeypatch.setattr(Loaders, "_prices_of_products", slow_prices)
        started = perf_counter()
        answer = await served.post({"query": document}, admin)
        assert perf_counter() - started < 2.5
        timed_out(answer, "request", 0.5)
        assert answer["data"] is None
        await settled(served)
        for _ in range(100):
            if await sleeping(database_url, 5) == 0:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the statement still runs on the server")
        monkeypatch.undo()
        assert "errors" not in await served.post({"query": document}, admin)


async def test_the_compiled_path_answers_its_time_limits(
    settings: Settings, clock: FrozenClock, seeded: None, database_url: str
) -> None:
    body = {"documentId": CUSTOMERS_LIST.document_id, "variables": {"after": customer_cursor(9)}}
    for changes, limit, seconds in (
        ({"db_statement_timeout_seconds": 0.2, "request_timeout_seconds": 0}, "statement", 0.2),
        ({"db_statement_timeout_seconds": 0, "request_timeout_seconds": 0.3}, "request", 0.3),
    ):
        async with serve(secured(settings, **changes), clock) as served:
            admin = await served.key("admin")
            plans = served.app.state.trusted_documents.plans
            plan = plans[CUSTOMERS_LIST.sha256]
            # the plan's statement, 3 s later
            slow = f"SELECT pg_sleep(3)::text || t.data FROM ({plan.sql}) AS t(data)"
            plans[CUSTOMERS_LIST.sha256] = dataclasses.replace(plan, sql=slow)
            served.wire.clear()
            started = perf_counter()
            answer = await served.post(body, admin)
            assert perf_counter() - started < 2
            timed_out(answer, limit, seconds)
            assert answer["data"] is None
            await asyncio.sleep(0.02)  # asyncpg's logger callbacks
            # answered there: the resolvers did not run the document again
            assert [q for q in served.wire if "FROM customers" in q] == [slow]
            await settled(served)
            for _ in range(100):
                if await sleeping(database_url, 3) == 0:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the statement still runs on the server")
            plans[CUSTOMERS_LIST.sha256] = plan
            assert "errors" not in await served.post(body, admin)


async def test_on_sqlite_a_progress_handler_is_the_statement_timeout(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'limits.db'}"
    engine = make_engine(url, statement_timeout=0.1)
    try:
        async with engine.connect() as connection:
            started = perf_counter()
            with pytest.raises(sa.exc.OperationalError) as raised:
                await connection.execute(sa.text(FOREVER))
            assert perf_counter() - started < 1 and is_statement_timeout(raised.value)
            assert await connection.scalar(sa.text("SELECT 2")) == 2  # the next one runs
            await connection.execute(sa.text("CREATE TABLE t (x int)"))
            await connection.commit()  # never interrupted
    finally:
        await engine.dispose()
    # through the API: the same typed error
    settings = Settings(database_url=url, db_statement_timeout_seconds=0.2, seed_demo=False)
    async with serve(settings, clock) as served, served.app.router.lifespan_context(served.app):
        original = pages.read_select

        async def forever_first(source: records.ReadSource, *args: Any) -> Any:
            assert source.session is not None  # SQLite reads through the session
            await source.session.execute(sa.text(FOREVER))
            return await original(source, *args)

        monkeypatch.setattr(pages, "read_select", forever_first)
        timed_out(await served.post({"query": PAGE}), "statement", 0.2)
        monkeypatch.undo()
        assert "errors" not in await served.post({"query": PAGE})
