"""Keeping usage storage in shape (the worker's ``maintain_usage`` job, hourly):

- monthly partitions of ``usage_events`` created ahead (PostgreSQL): this month and the next
  ``AHEAD`` ones. Rows that the default partition took for such a month (a test clock's
  future) are moved into the new partition in the same transaction, since PostgreSQL refuses
  to attach a partition whose rows sit in the default one;
- raw partitions older than ``PAYGATE_USAGE_RAW_RETENTION_MONTHS`` detached (kept as tables
  of their own, for archiving; roll-ups and invoices keep their figures);
- usage keys purged once they can no longer matter: an event more than 35 days old is
  refused, so a key received 36 days ago can never match a new event (the day of margin
  covers an event stamped up to 5 minutes ahead).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import UsageKey
from app.services.metering.ingest import KEY_DAYS

AHEAD = 2
KEYS_KEPT = timedelta(days=KEY_DAYS + 1)
_PARTITION = re.compile(r"usage_events_(\d{4})_(\d{2})")


def month_start(moment: datetime, offset: int = 0) -> datetime:
    total = moment.year * 12 + moment.month - 1 + offset
    return datetime(total // 12, total % 12 + 1, 1, tzinfo=UTC)


async def _partitions(session: AsyncSession) -> set[str]:
    rows = await session.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'usage_events'"
        )
    )
    return {name for (name,) in rows}


async def ensure_partitions(session: AsyncSession, *, now: datetime) -> list[str]:
    """Create the missing monthly partitions from this month to ``AHEAD`` months on; the
    names created. PostgreSQL only (SQLite has one plain table)."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    created = []
    existing = await _partitions(session)
    await session.commit()
    for offset in range(AHEAD + 1):
        start, end = month_start(now, offset), month_start(now, offset + 1)
        name = f"usage_events_{start:%Y_%m}"
        if name in existing:
            continue
        bounds = {"start": start, "end": end}
        # One transaction: the default partition's rows of that month move into it.
        await session.execute(sa.text("LOCK TABLE usage_events IN SHARE ROW EXCLUSIVE MODE"))
        await session.execute(
            sa.text(f"CREATE TABLE {name} (LIKE usage_events INCLUDING DEFAULTS)")
        )
        await session.execute(
            sa.text(
                f"WITH moved AS (DELETE FROM usage_events_default "  # noqa: S608
                "WHERE timestamp >= :start AND timestamp < :end RETURNING *) "
                f"INSERT INTO {name} SELECT * FROM moved"
            ),
            bounds,
        )
        await session.execute(
            sa.text(
                f"ALTER TABLE usage_events ATTACH PARTITION {name} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
        await session.commit()
        created.append(name)
    return created


async def detach_old(session: AsyncSession, *, now: datetime, keep_months: int) -> list[str]:
    """Detach the monthly partitions that ended more than ``keep_months`` months ago."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    oldest_kept = month_start(now, -keep_months)
    detached = []
    for name in sorted(await _partitions(session)):
        found = _PARTITION.fullmatch(name)
        if found is None:
            continue
        start = datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC)
        if month_start(start, 1) <= oldest_kept:
            await session.execute(sa.text(f"ALTER TABLE usage_events DETACH PARTITION {name}"))
            detached.append(name)
    await session.commit()
    return detached


async def purge_keys(session: AsyncSession, *, now: datetime, batch: int = 10_000) -> int:
    """Delete the usage keys that can no longer match an event, in batches."""
    before = now - KEYS_KEPT
    deleted = 0
    while True:
        doomed = (
            sa.select(UsageKey.sender, UsageKey.idempotency_key)
            .where(UsageKey.received_at < before)
            .limit(batch)
        )
        result = await session.execute(
            sa.delete(UsageKey).where(
                sa.tuple_(UsageKey.sender, UsageKey.idempotency_key).in_(doomed)
            )
        )
        await session.commit()
        count = int(getattr(result, "rowcount", 0) or 0)
        deleted += count
        if count < batch:
            return deleted
