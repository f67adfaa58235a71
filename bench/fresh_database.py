"""A fresh, migrated PostgreSQL database for a bench script (dropped first if it exists),
and the version of the code a script measured. Imported by the scripts beside it
(`python bench/<script>.py` puts this folder on the path)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from app.migrations import upgrade_to_head


async def fresh_database(url: str) -> None:
    await drop_database(url, create=True)
    await asyncio.to_thread(upgrade_to_head, url)


async def drop_database(url: str, *, create: bool = False) -> None:
    """Drop the database of ``url`` if it exists (and make it again, empty, if ``create``)."""
    parsed = make_url(url)
    admin = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database="postgres"
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        if create:
            await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()


ROOT = Path(__file__).resolve().parent.parent


def checkout() -> str:
    """The code measured: the commit, and how many of the app's files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "alembic"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown version (not a git checkout)"
    return f"commit {head}" + (
        f" + {len(changed)} changed files under app/ and alembic/" if changed else ""
    )
