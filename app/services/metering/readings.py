"""Reading usage: a meter's quantity for one customer over any window, from the hourly
roll-ups of the whole hours inside it and the raw events of the (at most two) hours its
bounds cut, so that a month is read from about 720 roll-up rows however many events it had.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.metering import Aggregation, Reading, quantity_of
from app.models import Meter, UsageDistinct, UsageEvent, UsageRollup
from app.services.metering.store import epoch

HOUR = timedelta(hours=1)
MAX_BUCKETS = 1000  # of a series (Customer.usage)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR


@dataclass(frozen=True, slots=True)
class Piece:
    """A reading of part of the window: one hour's roll-up, or one raw event."""

    at: datetime
    reading: Reading
    distinct: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    end: datetime
    quantity: Fraction


def _fraction(value: Decimal | None) -> Fraction:
    return Fraction(value) if value is not None else Fraction(0)


def _rollup_reading(row: UsageRollup) -> Reading:
    latest = None
    if row.latest_at is not None and row.latest_value is not None:
        latest = (row.latest_at, row.latest_key or "", _fraction(row.latest_value))
    return Reading(
        count=row.count,
        total=_fraction(row.total),
        maximum=_fraction(row.maximum) if row.maximum is not None else None,
        latest=latest,
        weighted=_fraction(row.weighted),
    )


def _event_reading(row: UsageEvent) -> Reading:
    value = _fraction(row.value)
    known = row.value is not None
    return Reading(
        count=1,
        total=value,
        maximum=value if known else None,
        latest=(row.timestamp, row.idempotency_key, value) if known else None,
        weighted=value * Fraction(epoch(row.timestamp)),
    )


async def _raw(
    session: AsyncSession,
    meter_id: uuid.UUID,
    customer_id: uuid.UUID,
    start: datetime,
    end: datetime,
) -> list[Piece]:
    if start >= end:
        return []
    rows = await session.scalars(
        sa.select(UsageEvent).where(
            UsageEvent.customer_id == customer_id,
            UsageEvent.meter_id == meter_id,
            UsageEvent.timestamp >= start,
            UsageEvent.timestamp < end,
            UsageEvent.counted.is_(True),
        )
    )
    return [
        Piece(
            row.timestamp,
            _event_reading(row),
            frozenset({row.distinct_value}) if row.distinct_value is not None else frozenset(),
        )
        for row in rows
    ]


async def _hours(
    session: AsyncSession, meter: Meter, customer_id: uuid.UUID, start: datetime, end: datetime
) -> list[Piece]:
    if start >= end:
        return []
    rows = (
        await session.scalars(
            sa.select(UsageRollup).where(
                UsageRollup.meter_id == meter.id,
                UsageRollup.customer_id == customer_id,
                UsageRollup.hour >= start,
                UsageRollup.hour < end,
            )
        )
    ).all()
    distinct: dict[datetime, set[str]] = {}
    if meter.aggregation is Aggregation.UNIQUE_COUNT:
        for hour, value in await session.execute(
            sa.select(UsageDistinct.hour, UsageDistinct.value).where(
                UsageDistinct.meter_id == meter.id,
                UsageDistinct.customer_id == customer_id,
                UsageDistinct.hour >= start,
                UsageDistinct.hour < end,
            )
        ):
            distinct.setdefault(hour, set()).add(value)
    return [
        Piece(row.hour, _rollup_reading(row), frozenset(distinct.get(row.hour, ()))) for row in rows
    ]


async def _hours_summed(
    session: AsyncSession, meter: Meter, customer_id: uuid.UUID, start: datetime, end: datetime
) -> list[Piece]:
    """The whole hours' reading as one piece, summed by PostgreSQL (exact NUMERIC): what a
    window's total needs, in one row instead of one per hour (not for UNIQUE_COUNT, whose
    distinct values are read per hour)."""
    if start >= end:
        return []
    where = (
        UsageRollup.meter_id == meter.id,
        UsageRollup.customer_id == customer_id,
        UsageRollup.hour >= start,
        UsageRollup.hour < end,
    )
    count, total, maximum, weighted = (
        await session.execute(
            sa.select(
                sa.func.sum(UsageRollup.count),
                sa.func.sum(UsageRollup.total),
                sa.func.max(UsageRollup.maximum),
                sa.func.sum(UsageRollup.weighted),
            ).where(*where)
        )
    ).one()
    if count is None:
        return []
    latest = None
    if meter.aggregation is Aggregation.LATEST:
        row = (
            await session.execute(
                sa.select(UsageRollup.latest_at, UsageRollup.latest_key, UsageRollup.latest_value)
                .where(
                    *where,
                    UsageRollup.latest_at.is_not(None),
                    UsageRollup.latest_value.is_not(None),
                )
                .order_by(UsageRollup.latest_at.desc(), UsageRollup.latest_key.collate("C").desc())
                .limit(1)
            )
        ).first()
        if row is not None and row[0] is not None:
            latest = (row[0], row[1] or "", _fraction(row[2]))
    reading = Reading(
        count=int(count),
        total=_fraction(total),
        maximum=_fraction(maximum) if maximum is not None else None,
        latest=latest,
        weighted=_fraction(weighted),
    )
    return [Piece(start, reading)]


async def pieces(
    session: AsyncSession,
    meter: Meter,
    customer_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    summed: bool = False,
) -> list[Piece]:
    """The window's readings: whole hours from the roll-ups (``summed``: as one piece, on
    PostgreSQL), the cut hours' raw events."""
    first, last = ceil_hour(start), floor_hour(end)
    if first >= last:
        return await _raw(session, meter.id, customer_id, start, end)
    hours = _hours_summed if summed and _sums_in_sql(session, meter) else _hours
    return [
        *await _raw(session, meter.id, customer_id, start, first),
        *await hours(session, meter, customer_id, first, last),
        *await _raw(session, meter.id, customer_id, last, end),
    ]


def _sums_in_sql(session: AsyncSession, meter: Meter) -> bool:
    return (
        session.get_bind().dialect.name == "postgresql"
        and meter.aggregation is not Aggregation.UNIQUE_COUNT
    )


async def carried(
    session: AsyncSession, meter: Meter, customer_id: uuid.UUID, before: datetime
) -> Fraction:
    """A ``WEIGHTED_SUM`` meter's running total at ``before``: every change until then."""
    if meter.aggregation is not Aggregation.WEIGHTED_SUM:
        return Fraction(0)
    floor = floor_hour(before)
    statement = sa.select(UsageRollup.total).where(
        UsageRollup.meter_id == meter.id,
        UsageRollup.customer_id == customer_id,
        UsageRollup.hour < floor,
    )
    if session.get_bind().dialect.name == "postgresql":  # exact NUMERIC sum in SQL
        hours = _fraction(
            await session.scalar(sa.select(sa.func.sum(statement.subquery().c.total)))
        )
    else:
        hours = sum((_fraction(t) for t in await session.scalars(statement)), Fraction(0))
    edge = await _raw(session, meter.id, customer_id, floor, before)
    return hours + sum((p.reading.total for p in edge), Fraction(0))


def _quantity(
    meter: Meter, members: Sequence[Piece], start: datetime, end: datetime, carry: Fraction
) -> Fraction:
    reading = Reading()
    values: set[str] = set()
    for piece in members:
        reading = reading.merge(piece.reading)
        values |= piece.distinct
    return quantity_of(
        meter.aggregation,
        reading,
        distinct=len(values),
        carried=carry,
        start_epoch=Fraction(epoch(start)),
        end_epoch=Fraction(epoch(end)),
    )


async def measure(
    session: AsyncSession, meter: Meter, customer_id: uuid.UUID, start: datetime, end: datetime
) -> Fraction:
    """The meter's quantity for the customer over ``[start, end)``."""
    if start >= end:
        return Fraction(0)
    found = await pieces(session, meter, customer_id, start, end, summed=True)
    carry = await carried(session, meter, customer_id, start)
    return _quantity(meter, found, start, end, carry)


async def series(
    session: AsyncSession,
    meter: Meter,
    customer_id: uuid.UUID,
    start: datetime,
    end: datetime,
    step: timedelta,
) -> list[Bucket]:
    """The quantity of each hour or day (``step``) of ``[start, end)``, in one read: buckets
    are aligned to whole hours or UTC days, the first and last cut by the window."""
    return (await measure_series(session, meter, customer_id, start, end, step))[1]


async def measure_series(
    session: AsyncSession,
    meter: Meter,
    customer_id: uuid.UUID,
    start: datetime,
    end: datetime,
    step: timedelta,
) -> tuple[Fraction, list[Bucket]]:
    """``measure`` and ``series`` of the same window from one read of its pieces."""
    found = sorted(await pieces(session, meter, customer_id, start, end), key=lambda p: p.at)
    carry = await carried(session, meter, customer_id, start)
    total = _quantity(meter, found, start, end, carry)
    buckets: list[Bucket] = []
    cursor, index = start, 0
    while cursor < end:
        aligned = (
            floor_hour(cursor)
            if step == HOUR
            else cursor.replace(hour=0, minute=0, second=0, microsecond=0)
        )
        bucket_end = min(aligned + step, end)
        members: list[Piece] = []
        while index < len(found) and found[index].at < bucket_end:
            members.append(found[index])
            index += 1
        buckets.append(
            Bucket(cursor, bucket_end, _quantity(meter, members, cursor, bucket_end, carry))
        )
        carry += sum((p.reading.total for p in members), Fraction(0))
        cursor = bucket_end
    return total, buckets
