"""Running alembic from code: upgrade to head, read the current and head revisions."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["url"] = url
    return config


def upgrade_to_head(url: str) -> None:
    """Apply every pending migration. Blocking: call it in a thread from async code."""
    command.upgrade(alembic_config(url), "head")


def head_revisions(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def known_revisions(url: str) -> set[str]:
    """Every revision of this release's migrations."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return {revision.revision for revision in script.walk_revisions()}


def schema_state(current: set[str], heads: set[str], known: set[str]) -> str:
    """Where the database's schema stands for this release: ``ok`` at its head; ``ahead``
    when a newer release has migrated it (a revision this release does not know: the
    migrations are expand/contract, so this release still works on it, and its replicas
    stay ready while a rolling deploy replaces them); ``pending`` when it is behind."""
    if current == heads:
        return "ok"
    if current - known:
        return "ahead"
    return "pending"


def current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """What autogenerate compares: the models' tables, not the monthly partitions of
    ``usage_events`` (``usage_events_2026_12``, ``usage_events_default``), which the worker
    creates and detaches at run time."""
    return not (type_ == "table" and name is not None and name.startswith("usage_events_"))
