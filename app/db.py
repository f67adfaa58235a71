"""Async engine and session factory, and the statement timeout of the API's connections."""

from __future__ import annotations

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
) -> AsyncEngine:
    """The engine; ``statement_timeout`` (seconds, 0: none) bounds each statement run on its
    connections: PostgreSQL's ``statement_timeout``, set when a connection is opened (so it
    holds for the session's statements, the loaders' reads on the driver and the compiled
    plans alike, at no cost per request), or on SQLite a progress handler."""
    if is_sqlite(url):
        engine = create_async_engine(url)
        if statement_timeout > 0:
            _sqlite_statement_timeout(engine, statement_timeout)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    overflow = pool_size if max_overflow is None else max_overflow
    # No pre-ping by default: it costs three round trips (BEGIN, ``;``, ROLLBACK) on every
    # checkout. A connection that died in the pool fails its first statement instead;
    # SQLAlchemy recognises the disconnect and invalidates the pool's connections older than
    # it, so one request fails where pre-ping would have reconnected silently.
    connect_args: dict[str, Any] = {}
    if statement_timeout > 0:
        # Behind PgBouncer (transaction pooling), which refuses this start-up parameter, set
        # 0 here and the timeout on the role instead (ALTER ROLE … SET statement_timeout).
        milliseconds = max(1, round(statement_timeout * 1000))
        connect_args["server_settings"] = {"statement_timeout": str(milliseconds)}
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=overflow,
        pool_pre_ping=pre_ping,
        pool_recycle=POOL_RECYCLE_SECONDS,
        connect_args=connect_args,
    )


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


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
