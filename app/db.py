"""Async engine and session factory."""

from __future__ import annotations

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
    url: str, *, pool_size: int = 10, max_overflow: int | None = None, pre_ping: bool = False
) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(url)

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
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=overflow,
        pool_pre_ping=pre_ping,
        pool_recycle=POOL_RECYCLE_SECONDS,
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
