"""The audit log: one append-only row per mutation call (the database refuses UPDATE and
DELETE of ``audit_events``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.clock import Clock
from app.models import AuditEvent

logger = logging.getLogger("paygate.audit")


@dataclass(frozen=True)
class Entry:
    principal: str
    actor: str
    operation: str
    outcome: str  # ok | user_error | denied | rate_limited | error
    request_id: str
    target_ids: list[str] = field(default_factory=list)
    input: dict[str, Any] = field(default_factory=dict)
    error_codes: list[str] = field(default_factory=list)


async def record(
    sessions: async_sessionmaker[AsyncSession], *, clock: Clock, entries: list[Entry]
) -> None:
    """Append ``entries`` in a transaction of their own: the audit of a call never depends
    on whether the call's own transaction committed."""
    if not entries:
        return
    try:
        async with sessions() as session:
            session.add_all(
                AuditEvent(
                    occurred_at=clock.now(),
                    principal=entry.principal[:80],
                    actor=entry.actor,
                    operation=entry.operation[:64],
                    target_ids=entry.target_ids[:100],
                    input=entry.input,
                    outcome=entry.outcome,
                    error_codes=entry.error_codes[:20],
                    request_id=entry.request_id[:64],
                )
                for entry in entries
            )
            await session.commit()
    except Exception:
        # Never fail (or mask) the caller's result for it; the log line says what was lost.
        logger.exception(
            "audit event not recorded: %s",
            ", ".join(f"{e.operation}/{e.outcome}/{e.request_id}" for e in entries),
        )


@dataclass(frozen=True)
class AuditFilter:
    operation: str | None = None
    principal: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None


def events_query(filter_: AuditFilter, *, dialect: str) -> sa.Select[AuditEvent]:
    statement = sa.select(AuditEvent)
    if filter_.operation is not None:
        statement = statement.where(AuditEvent.operation == filter_.operation)
    if filter_.principal is not None:
        statement = statement.where(AuditEvent.principal == filter_.principal)
    if filter_.outcome is not None:
        statement = statement.where(AuditEvent.outcome == filter_.outcome)
    if filter_.target_id is not None:
        if dialect == "postgresql":
            target_ids = sa.type_coerce(AuditEvent.target_ids, postgresql.JSONB)
            statement = statement.where(target_ids.contains([filter_.target_id]))
        else:  # SQLite keeps JSON as text
            needle = '"' + filter_.target_id.replace('"', "") + '"'
            statement = statement.where(
                sa.cast(AuditEvent.target_ids, sa.Text).contains(needle, autoescape=True)
            )
    if filter_.occurred_after is not None:
        statement = statement.where(AuditEvent.occurred_at > filter_.occurred_after)
    if filter_.occurred_before is not None:
        statement = statement.where(AuditEvent.occurred_at < filter_.occurred_before)
    return statement
