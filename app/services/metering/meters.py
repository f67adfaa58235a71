"""Meters: what usage is counted and how. A meter's key is what senders name in their
events; its aggregation is fixed at creation. Changing its filters is a correction: the
meter's events are counted again, and invoices already finalized are corrected by
adjustment lines on the next ones (``app/services/billing/usage_lines.py``)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.metering import Aggregation
from app.domain.updates import KEEP, Keep
from app.models import Meter, UsageDistinct, UsageEvent, UsageRollup
from app.services.metering import store

_KEY = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,99}")
_PROPERTY = re.compile(r"[A-Za-z0-9_.\-]{1,40}")
MAX_FILTERS = 10
MAX_FILTER_VALUES = 50


def admits(filters: Mapping[str, Sequence[str]], properties: Mapping[str, Any]) -> bool:
    """Whether an event's properties pass a meter's filters: for each filtered property,
    the event's value (as text) is one of the listed values."""
    for name, allowed in filters.items():
        value = properties.get(name)
        if value is None or property_text(value) not in allowed:
            return False
    return True


def property_text(value: Any) -> str:
    """A property's value as text, as filters and distinct counts compare it (JSON's
    spelling of booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_filters(problems: Problems, filters: object) -> dict[str, list[str]]:
    if not isinstance(filters, Mapping) or len(filters) > MAX_FILTERS:
        problems.add(ErrorCode.INVALID, f"At most {MAX_FILTERS} filters.", "filters")
        return {}
    checked: dict[str, list[str]] = {}
    for name, values in filters.items():
        if not _PROPERTY.fullmatch(str(name)):
            problems.add(
                ErrorCode.INVALID,
                "A property name has 1 to 40 letters, digits, '_', '.' or '-'.",
                "filters",
                str(name),
            )
            continue
        if (
            not isinstance(values, list)
            or not 1 <= len(values) <= MAX_FILTER_VALUES
            or not all(isinstance(v, str) and 0 < len(v) <= 255 for v in values)
        ):
            problems.add(
                ErrorCode.INVALID,
                f"Give 1 to {MAX_FILTER_VALUES} values of up to 255 characters.",
                "filters",
                str(name),
            )
            continue
        checked[str(name)] = sorted(set(values))
    return checked


async def create_meter(
    session: AsyncSession,
    *,
    clock: Clock,
    key: str,
    name: str,
    aggregation: Aggregation,
    value_property: str | None,
    filters: Mapping[str, list[str]] | None,
) -> Meter:
    problems = Problems()
    if not _KEY.fullmatch(key):
        problems.add(
            ErrorCode.INVALID,
            "A meter key has 1 to 100 lower-case letters, digits, "
            "'_', '.' or '-', e.g. `api_calls`.",
            "key",
        )
    meter_name = check.text(problems, name, "name", max_length=256, required=True)
    if value_property is not None and not _PROPERTY.fullmatch(value_property):
        problems.add(
            ErrorCode.INVALID,
            "A property name has 1 to 40 letters, digits, '_', '.' or '-'.",
            "valueProperty",
        )
    if aggregation is Aggregation.UNIQUE_COUNT and value_property is None:
        problems.add(
            ErrorCode.REQUIRED,
            "A UNIQUE_COUNT meter counts the distinct values of a property: name it.",
            "valueProperty",
        )
    if aggregation is Aggregation.COUNT and value_property is not None:
        problems.add(
            ErrorCode.INVALID,
            "A COUNT meter counts events; it has no value property.",
            "valueProperty",
        )
    checked = _check_filters(problems, filters or {})
    problems.raise_if_any()
    meter = Meter(
        key=key,
        name=meter_name,
        aggregation=aggregation,
        value_property=value_property,
        filters=checked,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(meter)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise UserInputError(
            Problem(ErrorCode.DUPLICATE_KEY, "A meter with this key exists.", ("key",))
        ) from None
    return meter


async def get_meter(session: AsyncSession, meter_id: uuid.UUID, *field: str) -> Meter:
    meter = await session.get(Meter, meter_id)
    if meter is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such meter.", field))
    return meter


async def by_key(session: AsyncSession, key: str, *field: str) -> Meter:
    meter = await session.scalar(sa.select(Meter).where(Meter.key == key))
    if meter is None:
        raise UserInputError(Problem(ErrorCode.UNKNOWN_METER, "No meter has this key.", field))
    return meter


async def update_meter(
    session: AsyncSession,
    *,
    clock: Clock,
    meter_id: uuid.UUID,
    name: str | Keep = KEEP,
    filters: Mapping[str, list[str]] | Keep | None = KEEP,
) -> Meter:
    """Rename a meter, or correct its filters: its events are counted again at once."""
    meter = await session.get(Meter, meter_id, with_for_update=True, populate_existing=True)
    if meter is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such meter.", ("id",)))
    problems = Problems()
    new_name = meter.name
    if name is not KEEP:
        new_name = check.text(problems, name, "name", max_length=256, required=True) or ""
    new_filters = meter.filters
    if filters is not KEEP:
        new_filters = _check_filters(problems, filters or {})
    if problems:
        await session.rollback()
        problems.raise_if_any()
    meter.name = new_name
    meter.updated_at = clock.now()
    if new_filters != meter.filters:
        if session.get_bind().dialect.name == "postgresql":
            # Batches that read the old filters commit first; later ones wait for the new.
            await session.execute(
                sa.text(
                    "SELECT pg_advisory_xact_lock(hashtextextended('paygate:meter:' || :k, 0))"
                ),
                {"k": meter.key},
            )
        meter.filters = new_filters
        await _count_again(session, meter)
    await session.commit()
    return meter


async def _count_again(session: AsyncSession, meter: Meter, page: int = 5000) -> None:
    """Rebuild a meter's roll-ups from its raw events under its new filters (in the caller's
    transaction, the meter's row locked: ingestion of this meter waits, nothing is lost)."""
    await session.execute(sa.delete(UsageRollup).where(UsageRollup.meter_id == meter.id))
    await session.execute(sa.delete(UsageDistinct).where(UsageDistinct.meter_id == meter.id))
    if session.get_bind().dialect.name == "postgresql":
        await _count_again_in_sql(session, meter)
        return
    after: tuple[Any, ...] | None = None
    key = (UsageEvent.timestamp, UsageEvent.sender, UsageEvent.idempotency_key)
    while True:
        statement = sa.select(UsageEvent).where(UsageEvent.meter_id == meter.id)
        if after is not None:
            statement = statement.where(sa.tuple_(*key) > sa.tuple_(*after))
        events = (await session.scalars(statement.order_by(*key).limit(page))).all()
        if not events:
            return
        rows = []
        for event in events:
            event.counted = admits(meter.filters, event.properties)
            if event.counted:
                rows.append(
                    store.Row(
                        key=event.idempotency_key,
                        meter_id=meter.id,
                        customer_id=event.customer_id,
                        subscription_id=event.subscription_id,
                        timestamp=event.timestamp,
                        value=event.value,
                        distinct=event.distinct_value,
                        properties=event.properties,
                        counted=True,
                    )
                )
        await store.merge_rollups(session, rows)
        last = events[-1]
        after = (last.timestamp, last.sender, last.idempotency_key)


_TEXTS = postgresql.ARRAY(sa.Text)


async def _count_again_in_sql(session: AsyncSession, meter: Meter) -> None:
    """PostgreSQL: the same in two statements (the events have no key to update them one by
    one: migration 0014). A filter admits an event whose property, as text (``->>``
    spells it as ``property_text`` does), is one of the listed values."""
    admitted: sa.ColumnElement[bool] = sa.true()
    for name, allowed in sorted(meter.filters.items()):
        value = sa.func.jsonb_extract_path_text(
            sa.cast(UsageEvent.properties, postgresql.JSONB), sa.literal(name, sa.Text)
        )
        admitted = sa.and_(admitted, value == sa.any_(sa.literal(list(allowed), _TEXTS)))
    await session.execute(
        sa.update(UsageEvent)
        .where(UsageEvent.meter_id == meter.id)
        .values(counted=sa.func.coalesce(admitted, sa.false()))
        .execution_options(synchronize_session=False)
    )
    await store.recount_postgres(session, meter.id)


async def archive_meter(session: AsyncSession, *, clock: Clock, meter_id: uuid.UUID) -> Meter:
    """Stop accepting events for a meter (those received stay, and stay billed). Archiving
    an archived meter changes nothing."""
    meter = await session.get(Meter, meter_id, with_for_update=True, populate_existing=True)
    if meter is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such meter.", ("id",)))
    if meter.archived_at is None:
        meter.archived_at = clock.now()
        meter.updated_at = clock.now()
    await session.commit()
    return meter


def meters_query(*, include_archived: bool) -> sa.Select[Meter]:
    statement = sa.select(Meter)
    if not include_archived:
        statement = statement.where(Meter.archived_at.is_(None))
    return statement
