"""Any mutation under an idempotency key: claim the key, run the operation, store a result
that can be replayed, and replay it for a repeat (``idempotency`` holds the key rows).

The services that move money (payments, refunds, subscriptions, invoice payments) claim
their keys themselves, with recovery points between their PSP calls. Every other mutation
runs through :func:`run` in one of three modes:

``ATOMIC``
    Local writes only. The key row, the operation's effects and the result to replay are
    one transaction: they commit together or not at all, so a crash can never leave an
    effect without its result (nor the reverse). The operation's own ``commit()`` calls
    release a savepoint (its session joins the transaction, SQLAlchemy's "joining a
    session into an external transaction"), and its ``rollback()`` calls go back to it.
    A concurrent duplicate waits on the key's unique constraint (PostgreSQL) or on the
    write lock (SQLite) until the first commits, then replays its result. Calling a PSP
    is refused in this mode (``psp_calls.forbidden``): a charge must never hang on a
    transaction that may still roll back.
``PHASED``
    Operations that call a PSP and commit between their steps. The key is claimed (and
    committed) first; a concurrent duplicate waits for the result (or gets
    ``IDEMPOTENCY_KEY_IN_PROGRESS``); the result is stored when the operation returns.
    A request that crashes in between leaves its key locked, and once the lock is stale
    a retry runs the operation again: these operations are re-entrant (their PSP calls
    carry keys derived from their input, their state checks make a second run a no-op).
``RERUN``
    As ``PHASED``, but no result is stored and a repeat runs the operation again: for an
    answer that must not be copied into the key table and that the operation gives again
    identically (a read of personal data; a PSP set-up the PSP replays under the same
    derived key, with its client secret).

A refused input (``UserInputError``) stores nothing and frees the key, as Stripe keeps no
result for a request that failed validation. The same key with another input is
``IDEMPOTENCY_KEY_REUSED``. Results are what the caller passes as ``record``: object IDs
and user errors, never secrets (the GraphQL layer, ``app.resolvers.keyed``, makes them).
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.errors import UserInputError
from app.models import IdempotencyKey
from app.services import idempotency, psp_calls

R = TypeVar("R")

RERUN_MARK = {"rerun": True}


class Mode(enum.Enum):
    ATOMIC = "atomic"
    PHASED = "phased"
    RERUN = "rerun"


@dataclass(frozen=True, slots=True)
class Request:
    """Who asks (keys are scoped per caller), their key, and what they ask for: the
    operation's name and its canonical input (fingerprinted to tell a repeat from a
    reuse)."""

    principal: str
    key: str
    operation: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Ran(Generic[R]):
    """The operation's result, or the stored result of the first request to replay."""

    result: R | None = None
    replay: dict[str, Any] | None = None


async def run(
    session: AsyncSession,
    *,
    clock: Clock,
    request: Request,
    mode: Mode,
    action: Callable[[AsyncSession], Awaitable[R]],
    record: Callable[[R], dict[str, Any]],
) -> Ran[R]:
    """Run ``action`` once under the caller's key; ``record`` makes the result to store."""
    idempotency.check_key(request.key)
    if session.in_transaction():  # reads of a previous field: start on a clean slate
        await session.commit()
    if mode is Mode.ATOMIC:
        return await _atomic(session, clock, request, action, record)
    return await _phased(session, clock, request, mode, action, record)


async def _claim(
    session: AsyncSession, clock: Clock, request: Request, *, hold: bool
) -> idempotency.Claim:
    return await idempotency.claim(
        session,
        clock=clock,
        principal=request.principal,
        key=request.key,
        operation=request.operation,
        arguments=dict(request.arguments),
        hold=hold,
    )


async def _atomic(
    session: AsyncSession,
    clock: Clock,
    request: Request,
    action: Callable[[AsyncSession], Awaitable[R]],
    record: Callable[[R], dict[str, Any]],
) -> Ran[R]:
    claimed = await _claim(session, clock, request, hold=True)
    if claimed.replay is not None:
        return Ran(replay=claimed.replay)
    connection = await session.connection()
    inner = AsyncSession(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )
    try:
        with psp_calls.forbidden(request.operation):
            result = await action(inner)
        await inner.commit()  # what the operation left unflushed
        response = record(result)
    except BaseException:
        # The key row goes too: a refused or failed request stores nothing. (If the
        # connection is broken, the request's session is invalidated on the way out.)
        with contextlib.suppress(Exception):
            await inner.close()
            await session.rollback()
        raise
    await inner.close()
    row = await session.get(IdempotencyKey, claimed.key_id)
    if row is None:  # pragma: no cover - the key row is this transaction's own
        raise RuntimeError(f"{request.operation}: the idempotency key row vanished")
    idempotency.complete(row, response, clock)
    await session.commit()
    return Ran(result=result)


async def _phased(
    session: AsyncSession,
    clock: Clock,
    request: Request,
    mode: Mode,
    action: Callable[[AsyncSession], Awaitable[R]],
    record: Callable[[R], dict[str, Any]],
) -> Ran[R]:
    claimed = await _claim(session, clock, request, hold=False)
    if claimed.replay is not None and claimed.replay != RERUN_MARK:
        return Ran(replay=claimed.replay)
    try:
        result = await action(session)
    except UserInputError:
        if claimed.owned:
            await idempotency.abandon(session, claimed)
        raise
    except BaseException:
        if claimed.owned:
            await idempotency.release(session, claimed, clock)
        raise
    if claimed.owned:
        response = RERUN_MARK if mode is Mode.RERUN else record(result)
        row = await idempotency.key_row(session, claimed)
        idempotency.complete(row, dict(response), clock)
        await session.commit()
    return Ran(result=result)
