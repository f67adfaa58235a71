"""Alembic environment: async engine, URL from the caller or from paygate's settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.db import is_sqlite, make_engine
from app.migrations import include_name
from app.models import Base
from app.settings import Settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    """The caller's URL, else PostgreSQL's own (``PAYGATE_DATABASE_DIRECT_URL``, else
    ``PAYGATE_DATABASE_URL``; never a transaction pooler's: the limits below are session
    settings, and a migration's statements must share one server connection)."""
    url = config.attributes.get("url")
    return str(url) if url else Settings().session_url_for("alembic")


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(_url()),
        compare_type=True,
        compare_server_default=True,
        include_name=include_name,
    )


# PostgreSQL: a migration that cannot take a lock within 10 s fails (run it again later)
# rather than queue and hold every query behind it; none runs longer than an hour. Session
# settings: they hold for CONCURRENTLY statements run outside the transaction too.
_LIMITS = ("SET lock_timeout = '10s'", "SET statement_timeout = '1h'")


def _limits(dialect_name: str) -> None:
    if dialect_name == "postgresql":
        for statement in _LIMITS:
            context.execute(statement)


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        _limits(connection.dialect.name)
        context.run_migrations()


async def _run_online() -> None:
    engine = make_engine(_url(), pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        _limits(context.get_context().dialect.name)
        context.run_migrations()
else:
    asyncio.run(_run_online())
