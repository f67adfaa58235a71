"""paygate through PgBouncer in transaction pooling mode (Debian's 1.18, which knows nothing
of prepared statements; README, PgBouncer): ``PAYGATE_DATABASE_URL`` through a private
PgBouncer (``pool_mode=transaction``) with ``PAYGATE_DATABASE_TRANSACTION_POOLING``, and
``PAYGATE_DATABASE_DIRECT_URL`` on PostgreSQL itself for what keeps session state.

Through it, with a few server connections shared by many more client connections: the
statements of concurrent requests run and leave no prepared statement behind; concurrent
duplicate and racing refunds stay exact; billing engines in processes of their own bill
each step once (the per-subscription lock is a transaction's, held on a guard connection);
an invoice's collection attempts run one at a time; the live hub polls when it cannot
LISTEN; ``paygate migrate`` and ``paygate worker`` run, or refuse without a direct URL. The
last tests show why: asyncpg's defaults and a session-level advisory lock break through the
pooler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.db import make_engine
from app.domain.clock import FrozenClock
from app.main import create_app
from app.services.billing import retry_guard
from app.settings import Settings
from tests.cli_process import cli_process
from tests.conftest import Api, StatementLog, make_settings
from tests.deploy.servers import PgBouncer, pgbouncer
from tests.engines.test_worker_cli import _schedule_ran, query
from tests.factories import (
    GET_PAYMENT,
    REFUND,
    clock_and_customer,
    customer_with,
    key,
    monthly_price,
    paid_payment,
    pay,
    pay_invoice,
    refund,
    service_move_clock,
    service_subscriber,
    service_test_clock,
)

ROOT = Path(__file__).resolve().parents[2]
SMALL_POOL = 3  # server connections per database at PgBouncer: shared by many more clients


@pytest.fixture
async def bouncer(request: pytest.FixtureRequest) -> AsyncIterator[PgBouncer]:
    """A PgBouncer in transaction mode of this test's own; ``SMALL_POOL`` server
    connections, or the test's ``indirect`` parameter."""
    async with pgbouncer(pool_size=getattr(request, "param", SMALL_POOL)) as started:
        yield started


def pooled_settings(bouncer: PgBouncer, database_url: str, **overrides: Any) -> Settings:
    """A test app's settings with its database through ``bouncer``, PostgreSQL itself as the
    direct URL, and no statement timeout (a pooler refuses it as a start-up parameter)."""
    given: dict[str, Any] = {
        "database_transaction_pooling": True,
        "database_direct_url": database_url,
        "db_statement_timeout_seconds": 0,
    }
    return make_settings(bouncer.url(database_url), **{**given, **overrides})


@contextlib.asynccontextmanager
async def serving(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    """The gateway on ``settings``, as the ``api`` fixture serves it (GraphQL over HTTP)."""
    app = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:
            yield Api(http=http, sql=StatementLog(), app=app)
    finally:
        await app.state.runtime.dispose()


@pytest.fixture
async def pooled(bouncer: PgBouncer, database_url: str, clock: FrozenClock) -> AsyncIterator[Api]:
    """The gateway with its database through ``bouncer``."""
    async with serving(pooled_settings(bouncer, database_url), clock) as api:
        yield api


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_of(url: str) -> str:
    return str(make_url(url).database)


async def admin(bouncer: PgBouncer, command: str) -> list[dict[str, str]]:
    """The rows of a ``SHOW …`` of PgBouncer's admin console, which speaks only the simple
    query protocol (psql's)."""
    process = await asyncio.create_subprocess_exec(
        "psql", "-X", "-A", "-F", "\t", "-P", "footer=off", "-h", "127.0.0.1",
        "-p", str(bouncer.port), "-U", "postgres", "-d", "pgbouncer", "-c", command,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    header, *rows = out.decode().splitlines()
    names = header.split("\t")
    return [dict(zip(names, row.split("\t"), strict=True)) for row in rows]


async def pooled_count(bouncer: PgBouncer, command: str, database: str) -> int:
    """The connections of ``SHOW CLIENTS`` / ``SHOW SERVERS`` to ``database``."""
    return sum(row["database"] == database for row in await admin(bouncer, command))


async def transactions_through(bouncer: PgBouncer, database: str) -> int:
    rows = await admin(bouncer, "SHOW STATS")
    return sum(int(row["total_xact_count"]) for row in rows if row["database"] == database)


async def rows(api: Api, sql: str) -> list[Any]:
    async with api.engine.connect() as connection:
        return list((await connection.execute(sa.text(sql))).all())


CUSTOMERS = """
query { customers(first: 20) { edges { node {
  id name paymentMethods { brand last4 isDefault } defaultPaymentMethod { id }
  payments(first: 5) { edges { node { id status amount { amount }
    refunds { status amount { amount } } } } }
} } } }
"""


async def test_concurrent_requests_share_three_server_connections(
    pooled: Api, bouncer: PgBouncer, database_url: str
) -> None:
    """Fifty requests at once, of five shapes (the resolvers' session and loaders, a
    compiled document on the driver, payments and refunds written), twice over: every
    one answers, with more client connections than PgBouncer's three server connections,
    and no prepared statement is left on any of these."""
    customers = [await customer_with(pooled) for _ in range(4)]
    payments = [await paid_payment(pooled, customer, "30.00") for customer in customers]
    page = (ROOT / "app/graphql/compiled_path/documents/customer_page.graphql").read_text()

    async def request(n: int) -> None:
        customer, payment = customers[n % 4], payments[n % 4]
        shape = n % 5
        if shape == 0:
            found = (await pooled.data(GET_PAYMENT, {"id": payment}))["payment"]
            assert found["status"] == "SUCCEEDED"
        elif shape == 1:
            listed = (await pooled.data(CUSTOMERS))["customers"]["edges"]
            assert {edge["node"]["id"] for edge in listed} == set(customers)
        elif shape == 2:  # served by its compiled plan: one statement on the driver
            assert (await pooled.data(page, {"id": customer}))["customer"]["id"] == customer
        elif shape == 3:
            assert (await pay(pooled, customer, "1.00"))["payment"]["status"] == "SUCCEEDED"
        else:
            assert (await refund(pooled, payment, "0.25"))["refund"]["status"] == "SUCCEEDED"

    for _ in range(2):
        await asyncio.gather(*(request(n) for n in range(50)))
    assert (await pooled.http.get("/readyz")).status_code == 200

    database = database_of(database_url)
    clients = await pooled_count(bouncer, "SHOW CLIENTS", database)
    servers = await pooled_count(bouncer, "SHOW SERVERS", database)
    assert servers == SMALL_POOL < clients, (servers, clients)
    # Three clients in a transaction each hold the three server connections, one each.
    dsn = libpq(bouncer.url(database_url))
    holders = [await asyncpg.connect(dsn, statement_cache_size=0) for _ in range(SMALL_POOL)]
    try:
        left = {}
        for holder in holders:
            await holder.execute("BEGIN")
            left[await holder.fetchval("SELECT pg_backend_pid()")] = await holder.fetchval(
                "SELECT count(*) FROM pg_prepared_statements"
            )
    finally:
        for holder in holders:
            await holder.close()
    assert list(left.values()) == [0] * SMALL_POOL  # three server processes, none left
    assert (await rows(pooled, "SELECT count(*) FROM payments"))[0][0] == 4 + 2 * 10


async def test_a_hundred_concurrent_duplicate_refunds_make_one_refund(pooled: Api) -> None:
    customer = await customer_with(pooled)
    paid = (await pay(pooled, customer, "100.00"))["payment"]
    variables = {
        "input": {
            "idempotencyKey": key(),
            "paymentId": paid["id"],
            "amount": {"amount": "25.00", "currency": "USD"},
        }
    }
    answers = await asyncio.gather(*(pooled.data(REFUND, variables) for _ in range(100)))
    refunds = {a["createRefund"]["refund"]["id"] for a in answers}
    assert len(refunds) == 1 and None not in refunds
    assert all(a["createRefund"]["userErrors"] == [] for a in answers)
    assert await rows(pooled, "SELECT amount_minor, status FROM refunds") == [(2500, "succeeded")]


async def test_racing_refunds_never_refund_more_than_was_paid(pooled: Api) -> None:
    """Five payments of 10.00, each with three refunds of 6.00 at once (fifteen requests
    together): one refund per payment passes."""
    customer = await customer_with(pooled)
    payments = [await paid_payment(pooled, customer, "10.00") for _ in range(5)]
    answers = await asyncio.gather(
        *(refund(pooled, payment, "6.00") for payment in payments for _ in range(3))
    )
    codes = sorted(a["userErrors"][0]["code"] if a["userErrors"] else "OK" for a in answers)
    assert codes == ["OK"] * 5 + ["REFUND_EXCEEDS_CAPTURED"] * 10
    over = await rows(
        pooled,
        "SELECT p.id FROM payments p WHERE (SELECT coalesce(sum(amount_minor), 0) FROM refunds r"
        " WHERE r.payment_id = p.id AND r.status <> 'failed') > p.amount_received_minor",
    )
    assert over == []


# Billing engines: each holds up to three server connections at once (its work, the
# subscription's guard, the invoice's collection guard): three engines and the test's app.
ENGINES_POOL = 10


@pytest.mark.slow
@pytest.mark.parametrize("bouncer", [ENGINES_POOL], indirect=True)
async def test_three_billing_engines_bill_each_step_once(
    pooled: Api, bouncer: PgBouncer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 subscriptions, a tenth of them on a declining card, billed for three months by
    three engine processes at once through PgBouncer: each renewal and retry taken once
    (a step taken twice would count twice), nothing invoiced or charged twice."""
    runtime = pooled.runtime
    monkeypatch.setattr(runtime.psps.sandbox, "sink", None)  # webhooks: not under test here
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    price = await monthly_price(pooled, "9.00", trial_days=14)
    failing = set()
    async with runtime.sessions() as session:
        clock_id = await service_test_clock(session, runtime, "pooled", start)
        for n in range(40):
            subscription_id = await service_subscriber(
                session, runtime, at=FrozenClock(start), test_clock_id=clock_id, name=f"c{n}",
                token="tok_chargeDeclined" if n % 10 == 0 else "tok_visa",
                price=price, idempotency_key=f"pooled-{n}",
            )  # fmt: skip
            if n % 10 == 0:
                failing.add(subscription_id)
        await service_move_clock(session, runtime, clock_id, end)

    async def start_engine() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.engines.billing_engine_process",
            runtime.settings.database_url, str(clock_id), "--transaction-pooling",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        assert await process.stdout.readline() == b"ready\n"
        return process

    async def steps_of(process: asyncio.subprocess.Process) -> int:
        out, _ = await process.communicate(b"go\n")
        assert process.returncode == 0
        return int(out.decode().strip().splitlines()[-1])

    engines = await asyncio.gather(*(start_engine() for _ in range(3)))
    steps = await asyncio.gather(*map(steps_of, engines))
    # Renewals on 15 January, February and March; the failing cards' four retries.
    assert sum(steps) == 3 * 40 + 4 * len(failing), steps
    found = await rows(
        pooled,
        "SELECT s.id, s.status, count(i.id), count(i.id) FILTER (WHERE i.status = 'paid'), "
        "coalesce(sum(i.attempt_count), 0), (SELECT count(*) FROM payments p JOIN invoices j "
        "ON j.id = p.invoice_id WHERE j.subscription_id = s.id) "
        "FROM subscriptions s LEFT JOIN invoices i ON i.subscription_id = s.id GROUP BY s.id",
    )
    assert len(found) == 40
    for subscription_id, *billed in found:
        if subscription_id in failing:  # 15 January and four retries failed: unpaid
            assert billed == ["unpaid", 3, 0, 5, 5]
        else:
            assert billed == ["active", 3, 3, 3, 3]


INVOICE = (
    "mutation($c: ID!, $k: String!) { createInvoiceItem(input: {customerId: $c, "
    'idempotencyKey: $k, description: "Setup", amount: {amount: "49.99", currency: "EUR"}}) '
    "{ userErrors { code } } }"
)


@pytest.mark.parametrize("bouncer", [ENGINES_POOL], indirect=True)
async def test_an_invoices_collection_attempts_run_one_at_a_time(
    pooled: Api, bouncer: PgBouncer, database_url: str
) -> None:
    """The collection guard through the pooler: six holders over two engines never overlap,
    and four concurrent payInvoice of an invoice whose card must never be charged again
    after its decline (tok_lostCard) make one charge."""
    _, customer = await clock_and_customer(pooled, "tok_lostCard")
    assert (await pooled.data(INVOICE, {"c": customer, "k": key()}))["createInvoiceItem"][
        "userErrors"
    ] == []
    draft = (
        await pooled.data(
            "mutation($c: ID!, $k: String!) { createInvoice(input: {customerId: $c, "
            'idempotencyKey: $k, currency: "EUR"}) { invoice { id } userErrors { code } } }',
            {"c": customer, "k": key()},
        )
    )["createInvoice"]["invoice"]["id"]
    finalized = await pooled.data(
        "mutation($i: ID!, $k: String!) { finalizeInvoice(input: {invoiceId: $i, "
        "idempotencyKey: $k}) { invoice { status } userErrors { code } } }",
        {"i": draft, "k": key()},
    )
    assert finalized["finalizeInvoice"]["invoice"]["status"] == "OPEN"
    invoice_id = (await rows(pooled, "SELECT id FROM invoices"))[0][0]

    other = make_engine(pooled.runtime.settings.database_url, pool_size=3, transaction_pooling=True)
    inside, most = 0, 0

    async def hold(engine: Any) -> None:
        nonlocal inside, most
        async with (
            pooled.runtime.sessions(bind=engine) as session,
            retry_guard.one_attempt_at_a_time(session, invoice_id),
        ):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.05)
            inside -= 1

    try:
        await asyncio.gather(*(hold(other if n % 2 else pooled.engine) for n in range(6)))
    finally:
        await other.dispose()
    assert most == 1

    answers = await asyncio.gather(*(pay_invoice(pooled, draft, key()) for _ in range(4)))
    assert {a["invoice"]["status"] for a in answers if a["invoice"]} <= {"OPEN"}
    charged = await rows(pooled, f"SELECT status FROM payments WHERE invoice_id = '{invoice_id}'")
    assert charged == [("failed",)]  # declined, do not retry: never charged again


async def test_without_a_direct_url_the_live_hub_polls(
    bouncer: PgBouncer, database_url: str, clock: FrozenClock
) -> None:
    """LISTEN through a transaction pooler would hear nothing: the hub listens on the direct
    URL, and without one it reads the log every poll interval."""
    listening = pooled_settings(bouncer, database_url)
    assert listening.live_listen_url == database_url
    settings = pooled_settings(bouncer, database_url, database_direct_url=None)
    assert settings.live_listen_url is None
    async with serving(settings, clock) as api:
        hub = api.runtime.hub
        subscriber = await hub.subscribe()
        try:
            await customer_with(api)
            event = await asyncio.wait_for(subscriber.next(), timeout=5)
            assert not hub.listening and hub.reads > 0
            assert event.type == "customer.created"
        finally:
            hub.unsubscribe(subscriber)


async def test_migrate_and_the_worker_use_the_direct_url(
    bouncer: PgBouncer, database_url: str
) -> None:
    """``paygate migrate`` and ``paygate worker`` refuse a transaction pooler's URL alone;
    with the direct URL, migrate applies the queue's schema there and the worker runs its
    schedule, the jobs' statements through PgBouncer, and stops on SIGTERM."""
    pooled_env = {
        "PAYGATE_DATABASE_URL": bouncer.url(database_url),
        "PAYGATE_DATABASE_TRANSACTION_POOLING": "true",
    }
    direct = {"PAYGATE_DATABASE_DIRECT_URL": database_url}
    async with cli_process() as cli:
        for command in ("migrate", "worker", "relay"):
            env = {**pooled_env, "PAYGATE_EVENT_BUS_URL": "nats://127.0.0.1:1"}
            refused = await cli.run(command, **env)
            assert refused.returncode == 2, refused
            assert "set PAYGATE_DATABASE_DIRECT_URL" in refused.stderr, refused
        migrated = await cli.run("migrate", **pooled_env, **direct)
    assert migrated.returncode == 0, migrated.stderr
    assert "created the job queue's tables" in migrated.stderr

    database = database_of(database_url)
    before = await transactions_through(bouncer, database)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "worker", "--concurrency", "2",
        cwd=ROOT, env={**os.environ, **pooled_env, **direct},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        ran = await _schedule_ran(database_url)
        jobs = await query(database_url, "SELECT task_name, status FROM procrastinate_jobs")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    log = stderr.decode()
    assert (ran, jobs, process.returncode) == (True, [], 0), log
    assert "Stopped worker" in log
    # The jobs' sessions went through PgBouncer (the queue itself talks to PostgreSQL).
    assert await transactions_through(bouncer, database) > before


async def test_the_statement_timeout_comes_from_the_server_side(
    bouncer: PgBouncer, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PgBouncer refuses ``statement_timeout`` as a start-up parameter: with transaction
    pooling none is sent, and a warning says when the server sets none either."""
    url = bouncer.url(database_url)
    refused = make_engine(url, statement_timeout=5)
    try:
        with pytest.raises(Exception, match="unsupported startup parameter"):
            async with refused.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
    finally:
        await refused.dispose()

    async def timeout_through_pooler() -> str:
        engine = make_engine(url, statement_timeout=5, transaction_pooling=True)
        try:
            async with engine.connect() as connection:
                return str(await connection.scalar(sa.text("SHOW statement_timeout")))
        finally:
            await engine.dispose()

    with caplog.at_level(logging.WARNING, logger="paygate.db"):
        assert await timeout_through_pooler() == "0"
    assert "ALTER ROLE" in caplog.text
    caplog.clear()
    database = database_of(database_url)
    engine = make_engine(database_url, pool_size=1)
    try:  # as ALTER ROLE … SET would, for this test's database only
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(f"ALTER DATABASE \"{database}\" SET statement_timeout = '5s'")
            )
    finally:
        await engine.dispose()
    async with pgbouncer(pool_size=1) as fresh:  # new server connections read the setting
        url = fresh.url(database_url)
        with caplog.at_level(logging.WARNING, logger="paygate.db"):
            assert await timeout_through_pooler() == "5s"
    assert "ALTER ROLE" not in caplog.text


# --- why: what breaks through a transaction pooler ----------------------------------------


@pytest.mark.parametrize("bouncer", [2], indirect=True)
async def test_asyncpgs_defaults_and_session_locks_break_through_the_pooler(
    bouncer: PgBouncer, database_url: str
) -> None:
    """Negative controls. asyncpg's named, cached prepared statements are missing on the
    next server connection a client gets (the pooler hands each transaction whichever is
    free); the settings of ``transaction_pooling`` run the same statement there. A
    session-level advisory lock stays on the server connection that took it, which the next
    client then gets with it: a client "takes" a lock another holds. A transaction's lock
    excludes as it should."""
    url = bouncer.url(database_url)
    dsn = libpq(url)

    async def on_the_other_server(**options: Any) -> str:
        """One statement run twice by one client, on each server connection in turn: what
        the second run raised, or "ran"."""
        engine = make_engine(url, pool_size=1, **options)
        pinned = [await asyncpg.connect(dsn, statement_cache_size=0) for _ in range(2)]
        statement = sa.text("SELECT pg_backend_pid() + 0 * :n")
        try:
            async with engine.connect() as connection:
                first = await connection.scalar(statement, {"n": 1})
            pids = []
            for holder in pinned:  # both server connections held, one each
                await holder.execute("BEGIN")
                pids.append(await holder.fetchval("SELECT pg_backend_pid()"))
            await pinned[1 - pids.index(first)].execute("ROLLBACK")  # only the other is free
            try:
                async with engine.connect() as connection:
                    second = await connection.scalar(statement, {"n": 2})
            except Exception as error:
                return str(error)
            assert second != first
            return "ran"
        finally:
            for holder in pinned:
                await holder.close()
            await engine.dispose()

    refused = await on_the_other_server()
    assert "prepared statement" in refused and "does not exist" in refused, refused
    assert await on_the_other_server(transaction_pooling=True) == "ran"

    holder, first, second = [await asyncpg.connect(dsn, statement_cache_size=0) for _ in range(3)]
    try:
        await holder.execute("SELECT pg_advisory_lock(42)")  # autocommit: server back in the pool
        taken = []
        for other in (first, second):  # both server connections, one each
            await other.execute("BEGIN")
            taken.append(await other.fetchval("SELECT pg_try_advisory_lock(42)"))
        assert sorted(taken) == [False, True]  # one "took" the lock the holder holds
        for other in (first, second):
            await other.execute("ROLLBACK")
        await holder.execute("BEGIN")
        assert await holder.fetchval("SELECT pg_try_advisory_xact_lock(43)")
        await first.execute("BEGIN")
        assert not await first.fetchval("SELECT pg_try_advisory_xact_lock(43)")
        await first.execute("ROLLBACK")
        await holder.execute("ROLLBACK")
    finally:
        for connection in (holder, first, second):
            await connection.close()
