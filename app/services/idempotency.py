"""Idempotency keys with Stripe's semantics (after Brandur Leach's Postgres design).

- The first request with a key claims it (a row, committed at once) and stores its result.
- The same key and the same input replays that result for at least 24 hours.
- The same key with another input is ``IDEMPOTENCY_KEY_REUSED`` and changes nothing.
- A concurrent duplicate waits for the first to finish and replays its result; if the first
  takes longer than the wait, it gets ``IDEMPOTENCY_KEY_IN_PROGRESS``. It never causes a
  second side effect.
- A request that crashed leaves its key locked with a recovery point (the object it
  created); once the lock is stale a retry takes over and resumes from there. PSP calls
  carry keys derived from that object, so the resumed call cannot charge twice.

Keys are scoped per caller (``principal``). Input validation happens before a key is
claimed, so refused inputs store nothing (as Stripe does).

``claim(..., hold=True)`` is the one-transaction variant (``app.services.keyed``): the key's
row is inserted but not committed, so that it commits with the operation's effects and its
stored result, or not at all. A concurrent duplicate's insert then waits on the unique
constraint (PostgreSQL) or on the write lock (SQLite) and replays the result. Whatever
changes a key row that others may also be changing (an expired key reset, a stale lock
taken over) is a compare-and-set on the row, so that nothing depends on ``FOR UPDATE``,
which SQLite ignores: of two racers, one updates the row and the other waits again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.models import IdempotencyKey

RETENTION = timedelta(hours=24)
STALE_LOCK = timedelta(seconds=90)  # longer than any PSP call may take
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Claim:
    """The right to run an operation under a key, or the result to replay."""

    key_id: Any
    replay: dict[str, Any] | None = None
    recovery_point: dict[str, Any] | None = None

    @property
    def owned(self) -> bool:
        return self.replay is None


def request_hash(operation: str, arguments: dict[str, Any]) -> str:
    canonical = json.dumps([operation, arguments], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise UserInputError(
            Problem(
                ErrorCode.INVALID,
                f"An idempotency key is 1 to {MAX_KEY_LENGTH} printable characters; "
                "a UUID v4 per logical operation is a good choice.",
                ("idempotencyKey",),
            )
        )


async def claim(
    session: AsyncSession,
    *,
    clock: Clock,
    principal: str,
    key: str,
    operation: str,
    arguments: dict[str, Any],
    wait: timedelta = timedelta(seconds=10),
    hold: bool = False,
) -> Claim:
    """Claim ``key`` for this request, or get the stored result to replay. With ``hold``
    the new key row is flushed, not committed: the caller's transaction commits it."""
    check_key(key)
    fingerprint = request_hash(operation, arguments)
    deadline = time.monotonic() + wait.total_seconds()
    delay = 0.01
    while True:
        claimed = await _try_claim(session, clock, principal, key, operation, fingerprint, hold)
        if claimed is not None:
            return claimed
        if time.monotonic() >= deadline:
            raise UserInputError(
                Problem(
                    ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS,
                    "A request with this idempotency key is still in progress; retry shortly "
                    "with the same key to get its result.",
                    ("idempotencyKey",),
                )
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)


async def _try_claim(
    session: AsyncSession,
    clock: Clock,
    principal: str,
    key: str,
    operation: str,
    fingerprint: str,
    hold: bool,
) -> Claim | None:
    now = clock.now()
    row = IdempotencyKey(
        principal=principal,
        key=key,
        operation=operation,
        request_hash=fingerprint,
        locked_at=now,
        expires_at=now + RETENTION,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        if hold:
            await session.flush()
        else:
            await session.commit()
        return Claim(key_id=row.id)
    except IntegrityError:
        await session.rollback()
    existing = await session.scalar(
        sa.select(IdempotencyKey)
        .where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if existing is None:  # expired and removed in between: try again
        await session.rollback()
        return None
    if existing.expires_at <= now:  # an expired key starts afresh
        if hold:  # removed, so that this request's insert commits with its effects
            await _swap(session, existing, IdempotencyKey.expires_at <= now, delete=True)
            return None
        if await _swap(session, existing, IdempotencyKey.expires_at <= now, **_fresh(
            operation, fingerprint, now
        )):  # fmt: skip
            return Claim(key_id=existing.id)
        return None
    if existing.operation != operation or existing.request_hash != fingerprint:
        await session.rollback()
        raise UserInputError(
            Problem(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "This idempotency key was used with a different request; use a new key for "
                "a new operation.",
                ("idempotencyKey",),
            )
        )
    if existing.completed_at is not None:
        replayed = Claim(key_id=existing.id, replay=existing.response or {})
        await session.rollback()  # expires ``existing``: read it before
        return replayed
    seen = existing.locked_at
    if not hold and (seen is None or now - seen > STALE_LOCK):
        # The owner crashed or gave up: take over (if no other retry did first), resume.
        recovery = existing.recovery_point
        unchanged = (
            IdempotencyKey.locked_at.is_(None) if seen is None else IdempotencyKey.locked_at == seen
        )
        if await _swap(
            session, existing, unchanged & IdempotencyKey.completed_at.is_(None),
            locked_at=now, updated_at=now,
        ):  # fmt: skip
            return Claim(key_id=existing.id, recovery_point=recovery)
        return None
    await session.rollback()
    return None


def _fresh(operation: str, fingerprint: str, now: Any) -> dict[str, Any]:
    return {
        "operation": operation,
        "request_hash": fingerprint,
        "locked_at": now,
        "recovery_point": None,
        "response": None,
        "completed_at": None,
        "expires_at": now + RETENTION,
        "updated_at": now,
    }


async def _swap(
    session: AsyncSession,
    row: IdempotencyKey,
    condition: sa.ColumnElement[bool],
    *,
    delete: bool = False,
    **values: Any,
) -> bool:
    """Change (or delete) the key row only if ``condition`` still holds, and commit: True
    when this request made the change, False when another got there first."""
    where = (IdempotencyKey.id == row.id) & condition
    statement = (
        sa.delete(IdempotencyKey).where(where)
        if delete
        else sa.update(IdempotencyKey).where(where).values(**values)
    )
    result = await session.execute(statement.execution_options(synchronize_session=False))
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0) == 1


def set_recovery_point(row: IdempotencyKey, point: dict[str, Any], clock: Clock) -> None:
    """Remember what was created, in the same transaction that creates it."""
    row.recovery_point = point
    row.updated_at = clock.now()


def complete(row: IdempotencyKey, response: dict[str, Any], clock: Clock) -> None:
    """Store the result to replay, in the same transaction as the effects it describes."""
    row.response = response
    row.completed_at = clock.now()
    row.locked_at = None
    row.updated_at = clock.now()


async def release(session: AsyncSession, claimed: Claim, clock: Clock) -> None:
    """Give the key up without a result (a retryable fault): a retry resumes at once."""
    await session.rollback()
    await session.execute(
        sa.update(IdempotencyKey)
        .where(IdempotencyKey.id == claimed.key_id, IdempotencyKey.completed_at.is_(None))
        .values(locked_at=None, updated_at=clock.now())
    )
    await session.commit()


async def abandon(session: AsyncSession, claimed: Claim) -> None:
    """Forget a claim whose request was refused before it did anything (as Stripe keeps no
    result for invalid requests): the key may be used again, with any input."""
    await session.rollback()
    await session.execute(
        sa.delete(IdempotencyKey).where(
            IdempotencyKey.id == claimed.key_id,
            IdempotencyKey.completed_at.is_(None),
            IdempotencyKey.recovery_point.is_(None),
        )
    )
    await session.commit()


async def key_row(session: AsyncSession, claimed: Claim) -> IdempotencyKey:
    row = await session.get(
        IdempotencyKey, claimed.key_id, with_for_update=True, populate_existing=True
    )
    assert row is not None
    return row


async def purge_expired(session: AsyncSession, *, clock: Clock) -> int:
    """Delete keys past their retention (a periodic job)."""
    result = await session.execute(
        sa.delete(IdempotencyKey).where(IdempotencyKey.expires_at < clock.now())
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
