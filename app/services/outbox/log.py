"""The event log read and kept: pages in ``seq`` order, one event, erasure, retention."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import ErrorCode, Problem, UserInputError
from app.domain.personal_data import Needles, scrub_json
from app.models.events import Event

MAX_PAGE = 100


def page_query(
    *,
    after: int,
    types: Collection[str] = (),
    object_id: uuid.UUID | None = None,
    limit: int = MAX_PAGE,
) -> sa.Select[Event]:
    """Events after ``seq`` ``after``, in log order (``limit`` of them)."""
    statement = sa.select(Event).where(Event.seq > after)
    if types:
        statement = statement.where(Event.type.in_(sorted(types)))
    if object_id is not None:
        statement = statement.where(Event.object_id == object_id)
    return statement.order_by(Event.seq).limit(limit)


async def page(
    session: AsyncSession,
    *,
    after: int,
    types: Collection[str] = (),
    object_id: uuid.UUID | None = None,
    limit: int = MAX_PAGE,
) -> list[Event]:
    query = page_query(after=after, types=types, object_id=object_id, limit=limit)
    return list(await session.scalars(query))


async def last_seq(session: AsyncSession) -> int:
    """The log's end: the ``seq`` of its newest event (0 when empty)."""
    return int(await session.scalar(sa.select(sa.func.coalesce(sa.func.max(Event.seq), 0))) or 0)


async def by_seq(session: AsyncSession, seqs: Collection[int]) -> dict[int, Event]:
    """The events of these positions (one read; purged ones are missing)."""
    if not seqs:
        return {}
    found = await session.scalars(sa.select(Event).where(Event.seq.in_(sorted(seqs))))
    return {event.seq: event for event in found}


async def get(session: AsyncSession, event_id: uuid.UUID) -> Event | None:
    return await session.scalar(sa.select(Event).where(Event.id == event_id))


async def erase(session: AsyncSession, customer_id: uuid.UUID, needles: Needles) -> int:
    """Remove the customer's personal data from their events (the erasure's transaction):
    every string under a personal key, and their values wherever else they occur. Events
    this transaction states are stated about an erased customer, and are erased too."""
    erased = 0
    for row in await session.scalars(
        sa.select(Event).where(Event.customer_id == customer_id).with_for_update()
    ):
        data = scrub_json(row.data, needles, personal_keys=True)
        previous = scrub_json(row.previous, needles, personal_keys=True)
        if data != row.data or previous != row.previous:
            row.data, row.previous = data, previous
            erased += 1
    session.info.setdefault(ERASED, {})[customer_id] = needles
    return erased


ERASED = "paygate.outbox.erased"  # session.info: customers erased in this transaction


async def purge(session: AsyncSession, *, before: datetime) -> int:
    """Delete events created before ``before`` (past the retention period)."""
    result = await session.execute(sa.delete(Event).where(Event.created_at < before))
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


_CURSOR = "events:v1:"


def encode_cursor(seq: int) -> str:
    """An opaque position in the log (after the event of ``seq``)."""
    return base64.urlsafe_b64encode(f"{_CURSOR}{seq}".encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, *field: str) -> int:
    """The ``seq`` a cursor stands after (0, the log's start, for none)."""
    if cursor is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_CURSOR):
            raise ValueError(raw)
        seq = int(raw[len(_CURSOR) :])
        if not 0 <= seq < 2**63:
            raise ValueError(raw)
        return seq
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise UserInputError(
            Problem(ErrorCode.INVALID, "Not a cursor of the event log.", field)
        ) from None
