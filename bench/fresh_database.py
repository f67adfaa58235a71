"""A fresh, migrated PostgreSQL database for a bench script (dropped first if it exists).
Imported by the scripts beside it (`python bench/<script>.py` puts this folder on the path)."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import make_url

from app.migrations import upgrade_to_head


async def fresh_database(url: str) -> None:
    parsed = make_url(url)
    admin = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database="postgres"
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade_to_head, url)
