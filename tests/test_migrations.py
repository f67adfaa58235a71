"""Models and migrations never drift, on PostgreSQL and on SQLite; migrations go down too."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from app.db import make_engine
from app.migrations import alembic_config, include_name, upgrade_to_head
from app.models import Base


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": True, "include_name": include_name},
    )
    return list(compare_metadata(context, Base.metadata))


async def _drift(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_diff)
    finally:
        await engine.dispose()


async def test_postgres_schema_matches_models(database_url: str) -> None:
    assert await _drift(database_url) == []


async def test_sqlite_schema_matches_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'drift.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    assert await _drift(url) == []


async def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _drift(database_url) == []


# squawk's rules about the schema's style, not about locks: paygate's text columns carry
# their length (the API's limits), its small counters are int, its keys are UUIDs
SQUAWK_STYLE = (
    "prefer-text-field,prefer-bigint-over-int,prefer-bigint-over-smallint,prefer-identity"
)
# What migrations written before squawk ran in the suite do, accepted: indexes, foreign keys
# and CHECKs built on tables that were new or empty in the release that added them; and
# 0014's drop of usage_events' primary key (a catalog change taken under lock_timeout)
SQUAWK_ACCEPTED: dict[str, Counter[str]] = {
    "0004": Counter({"require-concurrent-index-creation": 2, "constraint-missing-not-valid": 2,
                     "adding-foreign-key-constraint": 2}),
    "0005": Counter({"constraint-missing-not-valid": 3, "adding-foreign-key-constraint": 3}),
    "0007": Counter({"require-concurrent-index-creation": 1}),
    "0008": Counter({"constraint-missing-not-valid": 4, "adding-foreign-key-constraint": 4,
                     "require-concurrent-index-creation": 2}),
    "0009": Counter({"require-concurrent-index-deletion": 1,
                     "require-concurrent-index-creation": 1}),
    "0010": Counter({"constraint-missing-not-valid": 4}),
    "0013": Counter({"constraint-missing-not-valid": 3, "require-concurrent-index-creation": 1,
                     "ban-drop-constraint": 1, "adding-foreign-key-constraint": 1}),
    "0014": Counter({"ban-drop-constraint": 1}),
}  # fmt: skip


def test_every_migration_passes_squawk(tmp_path: Path) -> None:
    """Each revision's SQL on PostgreSQL (alembic's offline mode) linted by squawk: a new
    migration has no finding (expand/contract, CONCURRENTLY, NOT VALID then VALIDATE, lock
    and statement timeouts from alembic/env.py); an old one nothing beyond what it had."""
    config = alembic_config("postgresql+asyncpg://postgres@127.0.0.1/offline")
    squawk = Path(sys.executable).parent / "squawk"
    found: dict[str, Counter[str]] = {}
    for revision in ScriptDirectory.from_config(config).walk_revisions():
        output = io.StringIO()
        config.output_buffer = output
        span = f"{revision.down_revision}:{revision.revision}"
        command.upgrade(config, span if revision.down_revision else revision.revision, sql=True)
        sql = tmp_path / f"{revision.revision}.sql"
        sql.write_text(output.getvalue())
        report = subprocess.run(
            [str(squawk), "--reporter", "gcc", "--pg-version", "15", "--exclude",
             SQUAWK_STYLE, str(sql)],
            capture_output=True, text=True, check=False, env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        found[revision.revision] = Counter(re.findall(r"warning: ([a-z-]+)", report.stdout))
        assert report.returncode in (0, 1), report.stderr
    assert "0001" in found and len(found) >= 14
    for revision, rules in sorted(found.items()):
        extra = rules - SQUAWK_ACCEPTED.get(revision, Counter())
        assert not extra, f"migration {revision}: squawk finds {dict(extra)}"
    # the lint itself works: an unsafe statement is found
    unsafe = tmp_path / "unsafe.sql"
    unsafe.write_text("CREATE INDEX ix_a ON customers (name);\n")
    report = subprocess.run(
        [str(squawk), "--reporter", "gcc", "--exclude", SQUAWK_STYLE, str(unsafe)],
        capture_output=True, text=True, check=False, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert "require-concurrent-index-creation" in report.stdout
