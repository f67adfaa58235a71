"""Async engine and session factory, and the statement timeout of the API's connections."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

logger = logging.getLogger("paygate.db")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# Without pre-ping, connections older than this are closed and replaced when checked out, so
# that none outlives a server-side or middlebox idle timeout of the usual 1 hour or more.
POOL_RECYCLE_SECONDS = 1800


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    pre_ping: bool = False,
    statement_timeout: float = 0,
    transaction_pooling: bool = False,
) -> AsyncEngine:
    """The engine; ``statement_timeout`` (seconds, 0: none) bounds each statement run on its
    connections: PostgreSQL's ``statement_timeout``, set when a connection is opened (so it
    holds for the session's statements, the loaders' reads on the driver and the compiled
    plans alike, at no cost per request), or on SQLite a progress handler.

    ``transaction_pooling``: ``url`` goes through a pooler in transaction mode (PgBouncer
    ``pool_mode=transaction``; :func:`transaction_pooling_args`), where the timeout cannot
    be a start-up parameter: it comes from the role (``ALTER ROLE … SET
    statement_timeout``), and a warning says so at the first connection if the role has
    none."""
    if is_sqlite(url):
        engine = _sqlite_engine(url)
        if statement_timeout > 0:
            _sqlite_statement_timeout(engine, statement_timeout)
        return engine
    overflow = pool_size if max_overflow is None else max_overflow
    # No pre-ping by default: it costs three round trips (BEGIN, ``;``, ROLLBACK) on every
    # checkout. A connection that died in the pool fails its first statement instead;
    # SQLAlchemy recognises the disconnect and invalidates the pool's connections older than
    # it, so one request fails where pre-ping would have reconnected silently.
    connect_args: dict[str, Any] = {}
    if transaction_pooling:
        connect_args.update(transaction_pooling_args())
    elif statement_timeout > 0:
        milliseconds = max(1, round(statement_timeout * 1000))
        connect_args["server_settings"] = {"statement_timeout": str(milliseconds)}
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=overflow,
        pool_pre_ping=pre_ping,
        pool_recycle=POOL_RECYCLE_SECONDS,
        connect_args=connect_args,
    )
    if transaction_pooling and statement_timeout > 0:
        _check_role_statement_timeout(engine)
    return engine


def _unnamed_statement() -> str:
    return ""


def transaction_pooling_args() -> dict[str, Any]:
    """asyncpg's arguments behind a transaction pooler (PgBouncer 1.18, which knows nothing
    of prepared statements): each transaction, and each statement outside one, may run on
    another server connection, so no prepared statement may outlive the message that made
    it. With both statement caches off (asyncpg's and SQLAlchemy's dialect's; the latter is
    a DBAPI argument, as the URL's ``?prepared_statement_cache_size=0`` would pass it) and
    the protocol's unnamed statement (an empty name, asyncpg's own choice when its cache is
    off), asyncpg parses a statement again in the very message that binds and executes it
    (Parse, Bind, Execute, Sync): self-contained, on whatever server connection it lands,
    and gone with the next one, so nothing piles up on PostgreSQL's side either. (Unique
    names, ``__asyncpg_<uuid>__``, as SQLAlchemy's documentation suggests, do neither: a
    name prepared on one server connection is missing on the next outside a transaction,
    and the statements of each transaction stay behind on its server connection.) No
    ``server_settings``: PgBouncer refuses unknown start-up parameters."""
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": _unnamed_statement,
    }


def _check_role_statement_timeout(engine: AsyncEngine) -> None:
    from sqlalchemy.util.concurrency import await_

    @event.listens_for(engine.sync_engine, "first_connect")
    def _warn_without_timeout(dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        if await_(driver.fetchval("SELECT current_setting('statement_timeout')")) == "0":
            logger.warning(
                "PAYGATE_DB_STATEMENT_TIMEOUT_SECONDS cannot be sent through a transaction "
                "pooler (PAYGATE_DATABASE_TRANSACTION_POOLING) and the role has no "
                "statement_timeout: set it with ALTER ROLE … SET statement_timeout"
            )


# How long a SQLite writer waits for another's transaction before failing with "database is
# locked". Writers queue on SQLite's one write lock, and a write transaction of paygate lasts
# milliseconds (no PSP call is ever made inside one), so the wait is long only under a burst.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Statements that neither write nor lock, by their first keyword (everything else, DDL and
# SAVEPOINT included, takes the write lock first).
_SQLITE_READS = frozenset({"SELECT", "WITH", "VALUES", "PRAGMA", "EXPLAIN"})
_SQLITE_TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "RELEASE"})


def _sqlite_engine(url: str) -> AsyncEngine:
    """SQLite with PostgreSQL's guarantees for paygate's write paths.

    SQLite ignores ``SELECT … FOR UPDATE``, and Python's sqlite3 module opens a transaction
    only before the first INSERT/UPDATE/DELETE, so "lock the row, check, write" would read
    outside any transaction and a concurrent writer's change would be overwritten (four
    racing refunds all passed the refundable check). Here the driver's own transaction
    handling is off, and a transaction begins with ``BEGIN IMMEDIATE`` (SQLite's write lock,
    https://sqlite.org/lang_transaction.html) just before its first statement that writes or
    locks (``FOR UPDATE``): from that statement on, the transaction is the only writer and
    reads the latest committed data, as the row lock gives on PostgreSQL. Statements that only
    read run outside a transaction, each on the latest commit (WAL mode: readers never wait
    for the writer), like PostgreSQL's READ COMMITTED statements.
    """
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # paygate begins transactions itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _write_lock_first(
        conn: Any, cursor: Any, statement: str, _parameters: Any, context: Any, _many: bool
    ) -> None:
        if _sqlite_takes_write_lock(statement, context) and not _sqlite_in_transaction(conn):
            cursor.execute("BEGIN IMMEDIATE")

    return engine


def _sqlite_takes_write_lock(statement: str, context: Any) -> bool:
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return True
    compiled = getattr(context, "compiled", None)
    if getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None:
        return True
    first = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    return first not in _SQLITE_READS and first not in _SQLITE_TRANSACTION_CONTROL


def _sqlite_in_transaction(conn: Any) -> bool:
    # the driver connection's own flag (sqlite3.Connection.in_transaction, through aiosqlite)
    return bool(conn.connection.dbapi_connection.driver_connection.in_transaction)


_DEADLINE = "paygate.statement_deadline"
# SQLite calls the progress handler every this many virtual machine instructions (~0.1 ms).
_PROGRESS_STEPS = 10_000


def _sqlite_statement_timeout(engine: AsyncEngine, seconds: float) -> None:
    """SQLite has no statement timeout: a progress handler interrupts a statement that runs
    past its deadline (``sqlite3.OperationalError: interrupted``, SQLITE_INTERRUPT). The
    deadline is set when SQLAlchemy runs a statement (rows are fetched within it) and
    cleared after it, so that commits and rollbacks are never interrupted."""
    from sqlalchemy.util.concurrency import await_

    @event.listens_for(engine.sync_engine, "connect")
    def _progress_handler(_: Any, record: Any) -> None:
        deadline = record.info[_DEADLINE] = [math.inf]

        def past_deadline() -> int:
            return 1 if time.monotonic() > deadline[0] else 0

        await_(record.driver_connection.set_progress_handler(past_deadline, _PROGRESS_STEPS))

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start(connection: Any, *_: Any) -> None:
        deadline = connection.info.get(_DEADLINE)
        if deadline is not None:
            deadline[0] = time.monotonic() + seconds

    def _clear(connection: Any) -> None:
        deadline = connection.info.get(_DEADLINE) if connection is not None else None
        if deadline is not None:
            deadline[0] = math.inf

    event.listen(engine.sync_engine, "after_cursor_execute", lambda conn, *_: _clear(conn))
    event.listen(engine.sync_engine, "handle_error", lambda context: _clear(context.connection))


def is_statement_timeout(error: BaseException | None) -> bool:
    """Whether ``error`` (or what it wraps) is a statement cancelled for running too long:
    PostgreSQL's query_canceled (SQLSTATE 57014: ``statement_timeout``, or a cancel after
    the request's own time ran out) or SQLite's interrupt (the progress handler)."""
    seen = 0
    while error is not None and seen < 8:
        if getattr(error, "sqlstate", None) == "57014":
            return True
        if getattr(error, "sqlite_errorname", None) == "SQLITE_INTERRUPT":
            return True
        error = getattr(error, "orig", None) or error.__cause__
        seen += 1
    return False


async def driver_connection(session: AsyncSession) -> Any:
    """PostgreSQL: the asyncpg connection under ``session``'s transaction (beginning one if
    none), for statements run on the driver itself."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
