"""Test fixtures: a real PostgreSQL database per test, the app over HTTP (httpx ASGI).

A template database is migrated once per run; every test gets its own copy of it
(``CREATE DATABASE ... TEMPLATE``) that is dropped afterwards, so tests may commit, race
and run concurrently like production without seeing each other's data.

No card numbers at rest (tests/card_scan.py): before a test's database is dropped it is
scanned for card numbers, and so is everything logged during each test; a finding fails the
test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app.domain.clock import FrozenClock
from app.main import create_app
from app.migrations import upgrade_to_head
from app.services import invariants
from app.settings import Settings
from app.wiring import wire
from tests import card_scan

DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/paygate_test"
TEST_URL = os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_URL)
_counter = itertools.count()


# The sizes of the long simulations, in one place. ``make test`` (the README's command and
# CI's) and a plain ``pytest`` run the first figure, chosen so that the whole suite fits in
# 10 minutes on a 2-core machine while each simulation still proves its point (README,
# Tests). ``make test-long`` (``PAYGATE_TEST_LONG=1``) runs the second, the issues' figures.
# An environment variable of the same name sets one by hand.
LONG = os.environ.get("PAYGATE_TEST_LONG") == "1"


def _size(name: str, test: int, long: int) -> int:
    return int(os.environ.get(name, long if LONG else test))


# A year of billing with three engine processes (tests/engines/test_billing_simulation.py).
SIMULATION_SUBSCRIPTIONS = _size("PAYGATE_SIMULATION_SUBSCRIPTIONS", 60, 2000)
# Derandomized documents per Query and Mutation field (tests/security/test_fuzz.py).
FUZZ_EXAMPLES = _size("PAYGATE_FUZZ_EXAMPLES", 20, 500)
# Webhook events, each delivered three times shuffled (tests/engines/test_webhook_storm.py).
WEBHOOK_STORM_EVENTS = _size("PAYGATE_WEBHOOK_STORM_EVENTS", 300, 1000)
# Usage streams billed and checked to the minor unit (tests/metering/test_exactness.py).
EXACTNESS_EXAMPLES = _size("PAYGATE_EXACTNESS_EXAMPLES", 8, 150)
# Times `paygate worker` is SIGKILLed mid-delivery (tests/webhooks_out/test_worker_killed.py).
WORKER_KILLS = _size("PAYGATE_WORKER_KILLS", 2, 5)
# Three API replicas behind HAProxy (tests/deploy/test_replicas.py): webhook events each
# delivered three times, subscriptions billed by every replica at once, and the request
# rate of the rolling restart.
REPLICA_WEBHOOK_EVENTS = _size("PAYGATE_REPLICA_WEBHOOK_EVENTS", 30, 1000)
REPLICA_SUBSCRIPTIONS = _size("PAYGATE_REPLICA_SUBSCRIPTIONS", 20, 2000)
REPLICA_RESTART_RATE = _size("PAYGATE_REPLICA_RESTART_RATE", 50, 200)
# A card-testing attack among genuine payments (tests/risk/test_card_testing.py): attack
# attempts, the cards they try, and genuine customers paying meanwhile (issue 28: 2,000
# attempts with 500 cards from 3 addresses among 500 genuine payments).
CARD_TESTING_ATTEMPTS = _size("PAYGATE_CARD_TESTING_ATTEMPTS", 120, 2000)
CARD_TESTING_CARDS = _size("PAYGATE_CARD_TESTING_CARDS", 60, 500)
CARD_TESTING_GENUINE = _size("PAYGATE_CARD_TESTING_GENUINE", 30, 500)


def _dsn(url: str, database: str) -> str:
    """A plain libpq DSN to another database of the same server."""
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


def _async_url(database: str) -> str:
    return (
        make_url(TEST_URL)
        .set(drivername="postgresql+asyncpg", database=database)
        .render_as_string(hide_password=False)
    )


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(_dsn(TEST_URL, "postgres"))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _create_if_missing(name: str) -> None:
    connection = await asyncpg.connect(_dsn(TEST_URL, "postgres"))
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            # Both xdist workers may get here at once on a fresh server: one of them wins.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


@pytest.fixture(scope="session", autouse=True)
def wired() -> None:
    """The services' domain-event handlers, wired as every entry point wires them (tests
    that call services without building an app need them too)."""
    wire()


class _Drops:
    """The databases of finished tests, dropped while the next tests run. A ``DROP
    DATABASE`` waits for a checkpoint: from 0.3 s to more than 2 s on a busy machine, that no
    test needs to wait for. Drops that wait together share a checkpoint (8 drops: 0.4 to
    1.2 s at once, 4.6 to 7.1 s one after the other), so they are not queued one by one."""

    def __init__(self) -> None:
        self._pending: list[asyncio.Task[None]] = []
        self._connections = asyncio.Semaphore(8)

    def later(self, name: str) -> None:
        self._pending.append(asyncio.get_running_loop().create_task(self._drop(name)))

    async def _drop(self, name: str) -> None:
        async with self._connections:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def wait(self) -> None:
        """Every drop done; the first failure raised."""
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)


@pytest.fixture(scope="session")
async def template_database() -> AsyncIterator[str]:
    """This run's template: a migrated copy of the test database (created if missing).
    Named per process, so that concurrent runs against one server never collide."""
    base = make_url(TEST_URL).database or "paygate_test"
    await _create_if_missing(base)
    name = f"{base}_tpl_{os.getpid()}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{name}"')
    await asyncio.to_thread(upgrade_to_head, _async_url(name))
    yield name
    try:
        await _DROPS.wait()
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_DROPS = _Drops()


# The databases a test marked ``both_databases`` runs on: the money-safety tests prove the
# embedded default (SQLite, what ``make run`` serves) as correct as PostgreSQL.
BACKENDS = ("postgresql", "sqlite")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``postgresql``, or the database of this run of a ``both_databases`` test."""
    return str(getattr(request, "param", os.environ.get("PAYGATE_TEST_BACKEND", "postgresql")))


_sqlite_template: list[Path] = []  # made on first use: a migrated SQLite file


async def _sqlite_copy(factory: pytest.TempPathFactory, path: Path) -> None:
    if not _sqlite_template:
        template = factory.mktemp("sqlite") / "template.db"
        await asyncio.to_thread(upgrade_to_head, f"sqlite+aiosqlite:///{template}")
        _sqlite_template.append(template)
    shutil.copyfile(_sqlite_template[0], path)


@pytest.fixture
async def database_url(
    backend: str,
    template_database: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[str]:
    """A fresh, migrated database of this test's own."""
    if backend == "sqlite":
        path = tmp_path / "paygate.db"
        await _sqlite_copy(tmp_path_factory, path)
        yield f"sqlite+aiosqlite:///{path}"
        findings = card_scan.scan_sqlite(path)
    else:
        name = f"{template_database}_{next(_counter)}"
        await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        # Throwaway data needs no fsync per commit: the tests' figures come from logic.
        await _admin(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
        yield _async_url(name)
        try:
            findings = await card_scan.scan_database(_dsn(TEST_URL, name))
        finally:
            _DROPS.later(name)
    if findings:
        card_scan.STATS.findings += len(findings)
        raise card_scan.CardNumbersFound(
            "card numbers stored in the database:\n" + "\n".join(findings)
        )


@pytest.fixture(autouse=True)
def card_scan_log() -> Iterator[card_scan.LogScan]:
    """Everything logged during the test; scanned for card numbers afterwards."""
    capture = card_scan.LogScan()
    root = logging.getLogger()
    root.addHandler(capture)
    card_scan.STATS.tests += 1
    try:
        yield capture
    finally:
        root.removeHandler(capture)
    findings = capture.findings()
    if findings:
        card_scan.STATS.findings += len(findings)
        raise card_scan.CardNumbersFound("card numbers logged:\n" + "\n".join(findings))


@pytest.fixture(autouse=True)
def no_transaction_left_open() -> Iterator[None]:
    """A mutation that returns with a write transaction open (SQLite: holding the database's
    write lock; ``RequestContext.end_write_transaction`` rolls it back and warns) fails."""
    left: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = left.append  # type: ignore[method-assign]
    watched = logging.getLogger("paygate.transactions")
    watched.addHandler(handler)
    try:
        yield
    finally:
        watched.removeHandler(handler)
    assert not left, [record.getMessage() for record in left]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (a stable sort): started last, one of them would keep a worker
    busy for minutes after the other has finished."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if card_scan.STATS.tests:
        terminalreporter.write_line(card_scan.STATS.summary())


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))


# What the driver sends besides the app's statements: transaction bookkeeping and asyncpg's
# once-per-connection type introspection.
_NOT_STATEMENTS = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b|typeinfo_tree|(current_setting|set_config)\('jit'",
    re.I,
)


async def settled(engine: Any) -> None:
    """Return once every statement sent on ``engine``'s pool so far is in the query logs.

    First every pooled connection is back in the pool: no statement is in flight, and each
    request's session has ended (its ROLLBACK sent: the pool resets a connection before it
    checks it in). Then one turn of the event loop: asyncpg hands a finished statement to
    its query loggers with ``loop.call_soon``, and those callbacks run first in, first out,
    so a callback queued now runs after all of theirs. No guessed sleep: a statement that
    is late is waited for, not missed (an assertion that a statement is absent would pass).
    """
    pool = engine.sync_engine.pool
    returned = asyncio.Event()

    def _returned(*_: Any) -> None:
        returned.set()

    event.listen(pool, "checkin", _returned)
    try:
        async with asyncio.timeout(10):  # a connection never given back: fail, not hang
            while True:
                returned.clear()
                if not pool.checkedout():
                    break
                await returned.wait()
    finally:
        event.remove(pool, "checkin", _returned)
    loop = asyncio.get_running_loop()
    flushed = loop.create_future()
    loop.call_soon(flushed.set_result, None)
    await flushed


@dataclass
class StatementLog:
    """The SQL statements the app sent, for round-trip assertions: those SQLAlchemy executes
    (prepared statements) and those the loaders run on asyncpg directly
    (``app.graphql.read.records``), without transaction bookkeeping."""

    statements: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)


@dataclass
class HttpApi:
    """GraphQL over an HTTP client: the app in process (``Api``) or real servers
    (``tests/deploy/cluster.py``), for the factories of ``tests/factories.py``."""

    http: httpx.AsyncClient

    async def graphql(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        """POST a document; return the JSON body (``data`` and maybe ``errors``)."""
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a document that must not fail."""
        body = await self.graphql(query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result


@dataclass
class Api(HttpApi):
    """The gateway as a client sees it: GraphQL over HTTP."""

    sql: StatementLog
    app: Any

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    @property
    def engine(self) -> Any:
        return self.runtime.engine


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """A test app's settings: its database, nothing migrated or seeded on start, and rate
    limits no load test reaches (load tests make thousands of mutations a minute; the
    limits are tested on their own)."""
    given: dict[str, Any] = {
        "database_url": database_url,
        "migrate_on_start": False,
        "seed_demo": False,
        "rate_limit_mutations": "1000000/minute",
        "rate_limit_guessable": "1000000/minute",
    }
    return Settings(**{**given, **overrides})


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


async def assert_invariants(engine: Any) -> None:
    """What ``paygate verify`` checks: no money invariant broken in the test's database."""
    async with engine.connect() as connection:
        broken = await invariants.violations(connection)
    assert broken == [], "money invariants broken:\n" + "\n".join(map(str, broken))


@pytest.fixture
async def api(
    settings: Settings, clock: FrozenClock, request: pytest.FixtureRequest
) -> AsyncIterator[Api]:
    app = create_app(settings, clock=clock)
    engine = app.state.runtime.engine
    log = StatementLog()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        log.statements.append(statement)

    def _record_direct(query: Any) -> None:
        if not _NOT_STATEMENTS.search(query.query):
            log.statements.append(query.query)

    if engine.dialect.driver == "asyncpg":

        @event.listens_for(engine.sync_engine, "connect")
        def _log_driver(dbapi_connection: Any, _record: Any) -> None:
            # asyncpg's query logger sees the statements run on the driver's own API (not
            # the prepared statements SQLAlchemy runs, counted above).
            dbapi_connection._connection.add_query_logger(_record_direct)

    async def _logged(_response: httpx.Response) -> None:
        # asyncpg calls its query loggers soon after a statement, not during it: one turn
        # of the loop before the response reaches the test, so that a statement of this
        # request is never logged after the test has cleared the log for the next one.
        await asyncio.sleep(0)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://paygate.test", event_hooks={"response": [_logged]}
    ) as http:
        yield Api(http=http, sql=log, app=app)
    try:
        node = request.node
        if not node.get_closest_marker("breaks_invariants") and (
            node.get_closest_marker("both_databases") or os.environ.get("PAYGATE_VERIFY_EVERY_TEST")
        ):
            await assert_invariants(engine)
    finally:
        await app.state.runtime.dispose()


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
