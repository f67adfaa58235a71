"""Ingesting usage events, exactly once: ``recordUsage`` and ``POST /usage`` both call
``record``.

Each event of a batch is accepted, a duplicate (its sender used its key before: a no-op
success, never an error), or refused with typed reasons; refused events change nothing and
do not use up their key, so a corrected event can be sent again with it. Accepted events
are committed before ``record`` returns. Keys are unique per sender (the API key, or the
anonymous caller) for 35 days (``KEY_DAYS``), the events' own window: an event more than 35
days old is refused, so a key can never count twice.
"""

from __future__ import annotations

import enum
import math
import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection
from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems
from app.domain.ids import GlobalIdError, parse_global_id
from app.domain.metering import NUMERIC, Aggregation
from app.domain.pan import contains_card_number
from app.models import Customer, Meter, Subscription, TestClock
from app.services.metering import store
from app.services.metering.meters import admits, property_text

MAX_BATCH = 100
KEY_DAYS = 35
MAX_AGE = timedelta(days=KEY_DAYS)
MAX_AHEAD = timedelta(minutes=5)
MAX_PROPERTIES = 20
MAX_PROPERTY_TEXT = 255
# Values: up to 18 digits before the point and 12 after (exact NUMERIC, no float).
_MAX_VALUE = Decimal(10) ** 18
_VALUE_PLACES = 12
_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,40}(?:\.[0-9]{1,40})?")


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Result:
    index: int
    idempotency_key: str | None
    outcome: Outcome
    problems: tuple[Problem, ...] = ()


def tally(results: Sequence[Result]) -> Counter[Outcome]:
    """How many events of a batch were accepted, duplicates and refused."""
    return Counter(result.outcome for result in results)


@dataclass(frozen=True, slots=True)
class _Parsed:
    key: str
    meter_key: str
    customer_id: uuid.UUID | None
    subscription_id: uuid.UUID | None
    timestamp: datetime
    value: object
    properties: dict[str, Any]


def _id(problems: Problems, value: object, type_name: str, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        found, key = parse_global_id(str(value))
    except GlobalIdError:
        problems.add(ErrorCode.INVALID_ID, "Not a global ID.", field)
        return None
    if found != type_name:
        problems.add(ErrorCode.WRONG_ID_TYPE, f"Expected the ID of a {type_name}.", field)
        return None
    return key


def _timestamp(problems: Problems, value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    else:
        moment = None
    if moment is None or moment.tzinfo is None:
        problems.add(
            ErrorCode.INVALID,
            "An ISO 8601 time with its offset, e.g. 2026-12-01T10:00:00Z.",
            "timestamp",
        )
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 has no UTC time
        problems.add(ErrorCode.INVALID, "The time is out of range.", "timestamp")
        return None


def _properties(problems: Problems, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(ErrorCode.INVALID, "Properties are an object.", "properties")
        return {}
    if len(value) > MAX_PROPERTIES:
        problems.add(
            ErrorCode.TOO_MANY_PROPERTIES, f"At most {MAX_PROPERTIES} properties.", "properties"
        )
        return {}
    # The whole object scanned at once, a name or value a line (neither scan's match can span
    # a line break): only when it finds something is each property scanned on its own.
    joined = "\n".join(f"{name}\n{item}" for name, item in value.items())
    clean = check.storable(joined) and not contains_card_number(joined)
    checked: dict[str, Any] = {}
    for name, item in value.items():
        scalar = item is None or isinstance(item, (str, bool, int, float, Decimal))
        text = str(item)
        if (
            not isinstance(name, str)
            or not 0 < len(name) <= 40
            or not scalar
            or len(text) > MAX_PROPERTY_TEXT
            or not (clean or check.storable(name + text))
        ):
            problems.add(
                ErrorCode.INVALID,
                "A property has a name of 1 to 40 characters and a scalar value of up to 255.",
                "properties",
                str(name)[:40],
            )
            continue
        if not clean and (
            contains_card_number(name)
            or (not isinstance(item, bool) and contains_card_number(text))
        ):
            problems.add(ErrorCode.CARD_DATA_NOT_ALLOWED, check.NO_CARD_DATA, "properties", name)
            continue
        checked[name] = str(item) if isinstance(item, (Decimal, float)) else item
    return checked


def _parse(problems: Problems, raw: Mapping[str, Any]) -> _Parsed | None:
    key = raw.get("idempotencyKey")
    if not isinstance(key, str) or not 0 < len(key) <= 255 or not check.storable(key):
        problems.add(
            ErrorCode.INVALID, "An idempotency key of 1 to 255 characters.", "idempotencyKey"
        )
    elif contains_card_number(key):
        problems.add(ErrorCode.CARD_DATA_NOT_ALLOWED, check.NO_CARD_DATA, "idempotencyKey")
    meter_key = raw.get("meterKey")
    if not isinstance(meter_key, str) or not 0 < len(meter_key) <= 100:
        problems.add(ErrorCode.UNKNOWN_METER, "Name a meter by its key.", "meterKey")
    customer = _id(problems, raw.get("customerId"), "Customer", "customerId")
    subscription = _id(problems, raw.get("subscriptionId"), "Subscription", "subscriptionId")
    if (raw.get("customerId") is None) == (raw.get("subscriptionId") is None):
        problems.add(
            ErrorCode.INVALID, "Give customerId or subscriptionId (one of them).", "customerId"
        )
    moment = _timestamp(problems, raw.get("timestamp"))
    properties = _properties(problems, raw.get("properties"))
    if problems:
        return None
    assert isinstance(key, str) and isinstance(meter_key, str) and moment is not None
    return _Parsed(key, meter_key, customer, subscription, moment, raw.get("value"), properties)


def decimal_value(value: object) -> Decimal | None:
    """A usage value as an exact decimal, or None when it is not one: an integer, a decimal
    number of JSON (read exactly, never through a float), or decimal text in ASCII digits
    (``"-12.5"``; no ``_``, exponent, sign ``+`` or other scripts' digits)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):  # not from JSON (parsed as Decimal): its shortest text
        if not math.isfinite(value):
            return None
        value = Decimal(repr(value))
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value.strip()):
            return None
        value = Decimal(value.strip())
    if not isinstance(value, (int, Decimal)):
        return None
    number = Decimal(value)
    if not number.is_finite() or abs(number) >= _MAX_VALUE:
        return None
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -_VALUE_PLACES and number != number.quantize(Decimal(1).scaleb(-_VALUE_PLACES)):
        return None
    return number.normalize() if exponent < 0 else number


_METER_COLUMNS = (Meter.id, Meter.key, Meter.aggregation, Meter.value_property, Meter.filters,
                  Meter.archived_at)  # fmt: skip


async def _meters(session: AsyncSession, keys: set[str]) -> dict[str, store.MeterView]:
    """SQLite: the named meters, read under the write lock (which reading them takes)."""
    if not keys:
        return {}
    found = await session.execute(
        sa.select(*_METER_COLUMNS).where(Meter.key.in_(sorted(keys))).with_for_update()
    )
    return {
        key: store.MeterView(meter_id, aggregation, value_property, filters or {}, archived_at)
        for meter_id, key, aggregation, value_property, filters, archived_at in found
    }


async def _owners(
    session: AsyncSession, customers: set[uuid.UUID], subscriptions: set[uuid.UUID]
) -> tuple[dict[uuid.UUID, store.Owner], dict[uuid.UUID, store.Owner]]:
    """SQLite: the customers and subscriptions named, with their clocks."""
    by_customer: dict[uuid.UUID, store.Owner] = {}
    by_subscription: dict[uuid.UUID, store.Owner] = {}
    if customers:
        for customer_id, frozen in await session.execute(
            sa.select(Customer.id, TestClock.frozen_time)
            .outerjoin(TestClock, TestClock.id == Customer.test_clock_id)
            .where(Customer.id.in_(customers), Customer.erased_at.is_(None))
        ):
            by_customer[customer_id] = store.Owner(customer_id, frozen)
    if subscriptions:
        for subscription_id, customer_id, frozen in await session.execute(
            sa.select(Subscription.id, Customer.id, TestClock.frozen_time)
            .join(Customer, Customer.id == Subscription.customer_id)
            .outerjoin(TestClock, TestClock.id == Customer.test_clock_id)
            .where(Subscription.id.in_(subscriptions), Customer.erased_at.is_(None))
        ):
            by_subscription[subscription_id] = store.Owner(customer_id, frozen)
    return by_customer, by_subscription


def _measured(
    problems: Problems, meter: store.MeterView, event: _Parsed
) -> tuple[Decimal | None, str | None]:
    """The value the meter aggregates, and the distinct value of a UNIQUE_COUNT meter."""
    if meter.aggregation is Aggregation.COUNT:
        return None, None
    if meter.aggregation is Aggregation.UNIQUE_COUNT:
        assert meter.value_property is not None
        found = event.properties.get(meter.value_property)
        if found is None:
            problems.add(
                ErrorCode.REQUIRED,
                f"The meter counts distinct values of the property "
                f"`{meter.value_property}`, which this event lacks.",
                "properties",
            )
            return None, None
        return None, property_text(found)
    assert meter.aggregation in NUMERIC
    source = event.value
    field = "value"
    if meter.value_property is not None:
        source, field = event.properties.get(meter.value_property), "properties"
    value = decimal_value(source)
    if value is None:
        problems.add(
            ErrorCode.VALUE_NOT_NUMERIC,
            "The value is not a decimal number (at most 18 digits before the point and 12 after).",
            field,
        )
    return value, None


async def record(
    session: AsyncSession,
    *,
    clock: Clock,
    sender: str,
    events: Sequence[Mapping[str, Any]],
) -> list[Result]:
    """Validate and store a batch of at most ``MAX_BATCH`` events (the caller checks the
    size); returns one result per event, in order."""
    results: dict[int, Result] = {}
    parsed: dict[int, _Parsed] = {}
    for index, raw in enumerate(events):
        problems = Problems()
        event = _parse(problems, raw if isinstance(raw, Mapping) else {})
        key = raw.get("idempotencyKey") if isinstance(raw, Mapping) else None
        key = key if isinstance(key, str) else None
        if event is None:
            results[index] = Result(index, key, Outcome.REFUSED, tuple(problems.items))
        else:
            parsed[index] = event
    meter_keys = {e.meter_key for e in parsed.values()}
    customers = {e.customer_id for e in parsed.values() if e.customer_id is not None}
    subscriptions = {e.subscription_id for e in parsed.values() if e.subscription_id is not None}
    if session.get_bind().dialect.name == "postgresql":
        driver = await driver_connection(session)
        # the batch's three statements on the driver, without SQLAlchemy's layers (a third
        # of the server's time per batch before)
        async with driver.transaction():
            found = await store.look_up_postgres(driver, meter_keys, customers, subscriptions)
            rows = _rows(
                parsed, found.meters, found.by_customer, found.by_subscription, clock, results
            )
            fresh = await store.insert_postgres(
                driver, sender=sender, rows=list(rows.values()), received_at=clock.now()
            )
        # commits an outer transaction of the session, if it had begun one (the batch's was
        # then a savepoint); otherwise a no-op, without a round trip
        await session.commit()
    else:  # SQLite: the write lock first (reading the meters takes it), then the rest
        meters = await _meters(session, meter_keys)
        by_customer, by_subscription = await _owners(session, customers, subscriptions)
        rows = _rows(parsed, meters, by_customer, by_subscription, clock, results)
        fresh = await store.insert(
            session, sender=sender, rows=list(rows.values()), received_at=clock.now()
        )
        await session.commit()
    for index, row in rows.items():
        outcome = Outcome.ACCEPTED if row.key in fresh else Outcome.DUPLICATE
        results[index] = Result(index, row.key, outcome)
    return [results[i] for i in range(len(events))]


def _rows(
    parsed: Mapping[int, _Parsed],
    meters: Mapping[str, store.MeterView],
    by_customer: Mapping[uuid.UUID, store.Owner],
    by_subscription: Mapping[uuid.UUID, store.Owner],
    clock: Clock,
    results: dict[int, Result],
) -> dict[int, store.Row]:
    """The rows to store, by index; the refused and repeated events' results go into
    ``results``."""
    rows: dict[int, store.Row] = {}
    seen: set[str] = set()
    for index, event in parsed.items():
        problems = Problems()
        row = _row(problems, event, meters, by_customer, by_subscription, clock)
        if row is None:  # refused: its key stays free, even later in this batch
            results[index] = Result(index, event.key, Outcome.REFUSED, tuple(problems.items))
        elif row.key in seen:  # the same key twice in one batch: the first accepted counts
            results[index] = Result(index, event.key, Outcome.DUPLICATE)
        else:
            seen.add(row.key)
            rows[index] = row
    return rows


def _row(
    problems: Problems,
    event: _Parsed,
    meters: Mapping[str, store.MeterView],
    by_customer: Mapping[uuid.UUID, store.Owner],
    by_subscription: Mapping[uuid.UUID, store.Owner],
    clock: Clock,
) -> store.Row | None:
    meter = meters.get(event.meter_key)
    if meter is None or meter.archived_at is not None:
        problems.add(ErrorCode.UNKNOWN_METER, "No active meter has this key.", "meterKey")
    owner = (
        by_customer.get(event.customer_id)
        if event.customer_id is not None
        else by_subscription.get(event.subscription_id)  # type: ignore[arg-type]
    )
    if owner is None:
        field = "customerId" if event.customer_id is not None else "subscriptionId"
        problems.add(ErrorCode.UNKNOWN_CUSTOMER, "No such customer or subscription.", field)
    else:
        now = owner.now or clock.now()
        if event.timestamp < now - MAX_AGE:
            problems.add(
                ErrorCode.TIMESTAMP_TOO_OLD,
                f"Usage more than {KEY_DAYS} days old is not accepted.",
                "timestamp",
            )
        elif event.timestamp > now + MAX_AHEAD:
            problems.add(
                ErrorCode.TIMESTAMP_IN_FUTURE,
                "Usage more than 5 minutes ahead of the customer's clock is not accepted.",
                "timestamp",
            )
    if meter is None or owner is None or problems:
        return None
    value, distinct = _measured(problems, meter, event)
    if problems:
        return None
    return store.Row(
        key=event.key,
        meter_id=meter.id,
        customer_id=owner.customer_id,
        subscription_id=event.subscription_id,
        timestamp=event.timestamp,
        value=value,
        distinct=distinct,
        properties=event.properties,
        counted=admits(meter.filters, event.properties),
    )
