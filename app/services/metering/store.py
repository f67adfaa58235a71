"""Writing usage: raw events, their keys and the hourly roll-ups, in one transaction.

On PostgreSQL a batch is one statement (keys inserted with ``ON CONFLICT DO NOTHING``, the
events of the keys that were new, and the roll-ups of those events upserted with exact
NUMERIC arithmetic), so a batch costs one round trip and one commit whatever its size, and
two batches racing with the same key store it once (the key's unique index decides). Rows
are sorted by key, and roll-ups by their own key, so that concurrent batches lock in one
order and never deadlock. On SQLite the same happens in a few statements under the write
lock, the roll-ups merged in Python (SQLite's numbers are floats; ours are exact).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.metering import Aggregation
from app.models import UsageDistinct, UsageEvent, UsageKey, UsageRollup

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Row:
    """One validated usage event, ready to store."""

    key: str
    meter_id: uuid.UUID
    customer_id: uuid.UUID
    subscription_id: uuid.UUID | None
    timestamp: datetime
    value: Decimal | None  # the measured value (null for COUNT and UNIQUE_COUNT meters)
    distinct: str | None  # the counted value of a UNIQUE_COUNT meter
    properties: dict[str, Any]
    counted: bool  # the meter's filters admit it

    @property
    def hour(self) -> datetime:
        return self.timestamp.replace(minute=0, second=0, microsecond=0)


def epoch(moment: datetime) -> Decimal:
    """Seconds since 1970, exact to the microsecond."""
    delta = moment - EPOCH
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


def weighted(row: Row) -> Decimal:
    return (row.value or Decimal(0)) * epoch(row.timestamp)


# The roll-ups of a CTE ``counted`` of events (key, ts, value, distinct_value, hour, weighted),
# for a batch (``_POSTGRES``) and for a meter's recount (``recount_postgres``): the hour in
# UTC whatever the session's time zone, the sum of value x time exact (extract() is NUMERIC), the
# latest value by time, ties by key in code point order (as ``merge_rollups``).
_HOUR_AND_WEIGHT = (
    "date_trunc('hour', {ts}, 'UTC') AS hour, coalesce({value}, 0) * extract(epoch FROM {ts})"
    " AS weighted"
)
_ROLL_UP = """INSERT INTO usage_rollups (meter_id, customer_id, hour, count, total, maximum,
        latest_at, latest_key, latest_value, weighted)
    SELECT meter_id, customer_id, hour, count(*), coalesce(sum(value), 0), max(value),
        max(ts), (array_agg(key ORDER BY ts DESC, key COLLATE "C" DESC))[1],
        (array_agg(value ORDER BY ts DESC, key COLLATE "C" DESC))[1], coalesce(sum(weighted), 0)
    FROM counted GROUP BY meter_id, customer_id, hour"""
_DISTINCT_VALUES = """INSERT INTO usage_distinct (meter_id, customer_id, hour, value)
    SELECT DISTINCT meter_id, customer_id, hour, distinct_value FROM counted
    WHERE distinct_value IS NOT NULL"""

# PostgreSQL, the batch's first statement: first each named meter's lock, shared
# (``meters.update_meter`` holds it exclusively while it counts the meter's events again),
# taken in one order so that no two batches deadlock; then the batch's owners, each list one
# array parameter (an ``IN`` list of 100 parameters costs more to bind than the lookup).
# UNION ALL runs its branches in order: the locks' row comes first, and is skipped.
_LOCK_AND_OWNERS = """
SELECT NULL::uuid, NULL::uuid, NULL::timestamptz, NULL::boolean
FROM (SELECT count(pg_advisory_xact_lock_shared(hashtextextended('paygate:meter:' || k, 0)))
      FROM (SELECT k FROM unnest($1::text[]) AS k ORDER BY k) AS named) AS locked
UNION ALL
SELECT c.id, c.id, t.frozen_time, false FROM customers c
LEFT JOIN test_clocks t ON t.id = c.test_clock_id
WHERE c.id = ANY($2::uuid[]) AND c.erased_at IS NULL
UNION ALL
SELECT s.id, c.id, t.frozen_time, true FROM subscriptions s
JOIN customers c ON c.id = s.customer_id
LEFT JOIN test_clocks t ON t.id = c.test_clock_id
WHERE s.id = ANY($3::uuid[]) AND c.erased_at IS NULL
"""
# The second: the meters, in a statement begun after their locks were granted, so that it
# sees any change of their filters that was in progress.
_METERS = """
SELECT id, key, aggregation, value_property, filters, archived_at FROM meters
WHERE key = ANY($1::text[])
"""


@dataclass(frozen=True, slots=True)
class Owner:
    """The customer a batch's event belongs to, and its test clock's time (None: the wall
    clock)."""

    customer_id: uuid.UUID
    now: datetime | None


@dataclass(frozen=True, slots=True)
class MeterView:
    """What ingestion needs of a meter."""

    id: uuid.UUID
    aggregation: Aggregation
    value_property: str | None
    filters: Mapping[str, Sequence[str]]
    archived_at: datetime | None


@dataclass(frozen=True, slots=True)
class LookedUp:
    meters: dict[str, MeterView]
    by_customer: dict[uuid.UUID, Owner]
    by_subscription: dict[uuid.UUID, Owner]


async def look_up_postgres(
    driver: Any, meter_keys: Collection[str], customers: Collection[uuid.UUID],
    subscriptions: Collection[uuid.UUID],
) -> LookedUp:  # fmt: skip
    """The owners (after the meters' locks), then the meters, inside the caller's
    transaction on ``driver``."""
    found = LookedUp({}, {}, {})
    for owned_id, customer_id, frozen, is_subscription in await driver.fetch(
        _LOCK_AND_OWNERS, sorted(meter_keys), list(customers), list(subscriptions)
    ):
        if owned_id is not None:  # not the locks' row
            into = found.by_subscription if is_subscription else found.by_customer
            into[owned_id] = Owner(customer_id, frozen)
    for meter_id, key, aggregation, value_property, filters, archived in await driver.fetch(
        _METERS, sorted(meter_keys)
    ):
        found.meters[key] = MeterView(
            meter_id, Aggregation(aggregation), value_property, _document(filters), archived
        )
    return found


_RECOUNT = sa.text(
    f"""
WITH counted AS (
    SELECT meter_id, customer_id, idempotency_key AS key, timestamp AS ts, value,
        distinct_value, {_HOUR_AND_WEIGHT.format(ts="timestamp", value="value")}
    FROM usage_events WHERE meter_id = :meter AND counted
), rolled AS (
    {_ROLL_UP}
    RETURNING 1
)
{_DISTINCT_VALUES}
"""  # noqa: S608 - this module's constants only
)


async def recount_postgres(session: AsyncSession, meter_id: uuid.UUID) -> None:
    """PostgreSQL: a meter's roll-ups and distinct values built again from its counted
    events, in one statement (the caller deleted the old ones)."""
    await session.execute(_RECOUNT, {"meter": meter_id})


async def insert(
    session: AsyncSession, *, sender: str, rows: Sequence[Row], received_at: datetime
) -> set[str]:
    """SQLite: store the rows whose key ``sender`` has not used yet; returns those keys.
    The caller commits. Rows have distinct keys."""
    if not rows:
        return set()
    return await _insert_generic(session, sender, sorted(rows, key=lambda r: r.key), received_at)


async def insert_postgres(
    driver: Any, *, sender: str, rows: Sequence[Row], received_at: datetime
) -> set[str]:
    """PostgreSQL: the same in one statement, inside the caller's transaction on
    ``driver``."""
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda r: r.key)
    found = await driver.fetch(
        _POSTGRES,
        sender,
        received_at,
        [r.key for r in ordered],
        [r.meter_id for r in ordered],
        [r.customer_id for r in ordered],
        [r.subscription_id for r in ordered],
        [r.timestamp for r in ordered],
        [r.value for r in ordered],
        [r.distinct for r in ordered],
        [_json(r.properties) for r in ordered],
        [r.counted for r in ordered],
    )
    return {key for (key,) in found}


_POSTGRES = f"""
WITH input AS (
    SELECT * FROM unnest(
        $3::text[], $4::uuid[], $5::uuid[],
        $6::uuid[], $7::timestamptz[],
        $8::numeric[], $9::text[], $10::text[],
        $11::boolean[]
    ) AS t(key, meter_id, customer_id, subscription_id, ts, value, distinct_value,
           properties, counted)
), fresh AS (
    INSERT INTO usage_keys (sender, idempotency_key, received_at)
    SELECT $1, key, $2 FROM input ORDER BY key
    ON CONFLICT DO NOTHING
    RETURNING idempotency_key
), stored AS (
    INSERT INTO usage_events (sender, idempotency_key, timestamp, meter_id, customer_id,
        subscription_id, value, distinct_value, properties, counted, received_at)
    SELECT $1, i.key, i.ts, i.meter_id, i.customer_id, i.subscription_id, i.value,
        i.distinct_value, CAST(i.properties AS jsonb), i.counted, $2
    FROM input i JOIN fresh f ON f.idempotency_key = i.key
    RETURNING idempotency_key
), counted AS (
    SELECT i.*, {_HOUR_AND_WEIGHT.format(ts="i.ts", value="i.value")}
    FROM input i JOIN fresh f ON f.idempotency_key = i.key WHERE i.counted
), rolled AS (
    {_ROLL_UP} ORDER BY meter_id, customer_id, hour
    ON CONFLICT (meter_id, customer_id, hour) DO UPDATE SET
        count = usage_rollups.count + excluded.count,
        total = usage_rollups.total + excluded.total,
        maximum = greatest(usage_rollups.maximum, excluded.maximum),
        latest_at = CASE WHEN (excluded.latest_at, excluded.latest_key COLLATE "C")
                > (usage_rollups.latest_at, usage_rollups.latest_key COLLATE "C")
            THEN excluded.latest_at ELSE usage_rollups.latest_at END,
        latest_key = CASE WHEN (excluded.latest_at, excluded.latest_key COLLATE "C")
                > (usage_rollups.latest_at, usage_rollups.latest_key COLLATE "C")
            THEN excluded.latest_key ELSE usage_rollups.latest_key END,
        latest_value = CASE WHEN (excluded.latest_at, excluded.latest_key COLLATE "C")
                > (usage_rollups.latest_at, usage_rollups.latest_key COLLATE "C")
            THEN excluded.latest_value ELSE usage_rollups.latest_value END,
        weighted = usage_rollups.weighted + excluded.weighted
    RETURNING 1
), distinct_values AS (
    {_DISTINCT_VALUES} ORDER BY 1, 2, 3, 4
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT idempotency_key FROM stored
"""  # noqa: S608 - this module's constants only


def _document(value: Any) -> Any:
    """A JSONB value as read on the driver: decoded by the codec SQLAlchemy's dialect
    installs on its connections, or text without it."""
    return json.loads(value) if isinstance(value, str) else (value or {})


def _json(properties: dict[str, Any]) -> str:
    try:
        return orjson.dumps(properties).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return json.dumps(properties, separators=(",", ":"))


async def _insert_generic(
    session: AsyncSession, sender: str, rows: Sequence[Row], received_at: datetime
) -> set[str]:
    fresh: set[str] = set()
    for row in rows:  # SQLite: the first insert takes the write lock (app/db.py)
        stored = await session.scalar(
            sqlite_insert(UsageKey)
            .values(sender=sender, idempotency_key=row.key, received_at=received_at)
            .on_conflict_do_nothing()
            .returning(UsageKey.idempotency_key)
        )
        if stored is not None:
            fresh.add(row.key)
    new_rows = [r for r in rows if r.key in fresh]
    if new_rows:
        await session.execute(
            sa.insert(UsageEvent),
            [
                {
                    "sender": sender,
                    "idempotency_key": r.key,
                    "timestamp": r.timestamp,
                    "meter_id": r.meter_id,
                    "customer_id": r.customer_id,
                    "subscription_id": r.subscription_id,
                    "value": r.value,
                    "distinct_value": r.distinct,
                    "properties": r.properties,
                    "counted": r.counted,
                    "received_at": received_at,
                }
                for r in new_rows
            ],
        )
        await merge_rollups(session, [r for r in new_rows if r.counted])
    return fresh


async def merge_rollups(session: AsyncSession, rows: Sequence[Row]) -> None:
    """Add counted rows to the roll-ups and distinct values, in Python (exact on SQLite;
    also how a meter's roll-ups are rebuilt). Runs inside the caller's write transaction."""
    groups: dict[tuple[uuid.UUID, uuid.UUID, datetime], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.meter_id, row.customer_id, row.hour), []).append(row)
    if not groups:
        return
    rollup_key = sa.tuple_(UsageRollup.meter_id, UsageRollup.customer_id, UsageRollup.hour)
    found = {
        (r.meter_id, r.customer_id, r.hour): r
        for r in await session.scalars(
            sa.select(UsageRollup)
            .where(rollup_key.in_(list(groups)))
            .execution_options(populate_existing=True)
        )
    }
    wanted = {(*key, r.distinct) for key, members in groups.items() for r in members if r.distinct}
    distinct_key = sa.tuple_(
        UsageDistinct.meter_id, UsageDistinct.customer_id, UsageDistinct.hour, UsageDistinct.value
    )
    known: set[tuple[object, ...]] = set()
    if wanted:
        existing = await session.execute(
            sa.select(
                UsageDistinct.meter_id,
                UsageDistinct.customer_id,
                UsageDistinct.hour,
                UsageDistinct.value,
            ).where(distinct_key.in_(list(wanted)))
        )
        known = {tuple(found_row) for found_row in existing}
    for key, members in sorted(groups.items(), key=lambda g: g[0]):
        rollup = found.get(key)
        if rollup is None:
            meter_id, customer_id, hour = key
            rollup = UsageRollup(
                meter_id=meter_id,
                customer_id=customer_id,
                hour=hour,
                count=0,
                total=Decimal(0),
                maximum=None,
                latest_at=None,
                latest_key=None,
                latest_value=None,
                weighted=Decimal(0),
            )
            session.add(rollup)
        for row in members:
            rollup.count += 1
            rollup.total += row.value or Decimal(0)
            rollup.weighted += weighted(row)
            if row.value is not None and (rollup.maximum is None or row.value > rollup.maximum):
                rollup.maximum = row.value
            if rollup.latest_at is None or (row.timestamp, row.key) > (
                rollup.latest_at,
                rollup.latest_key or "",
            ):
                rollup.latest_at, rollup.latest_key = row.timestamp, row.key
                rollup.latest_value = row.value
    for meter_id, customer_id, hour, value in sorted(wanted - known):
        session.add(
            UsageDistinct(meter_id=meter_id, customer_id=customer_id, hour=hour, value=value)
        )
    await session.flush()
