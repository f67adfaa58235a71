"""Before any attempt to collect an invoice: the card networks' rules on charging the same
card again for it, from the payments already made (persisted, so every process and billing
engine sees one history), and one attempt of an invoice at a time, so that no two attempts
read that history before either is recorded.

A card is a payment method, or every method with its fingerprint (the same card saved
twice). A card is never charged again for an invoice after a decline advised
``DO_NOT_RETRY`` (Visa's category 1, a network's "do not try again"), nor more often than
``app.domain.dunning.CAPS`` allow. Payments that failed before reaching the PSP (it was
down: no authorisation was asked) do not count.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.domain.declines import RetryAdvice
from app.domain.dunning import CollectionStopReason, within_caps
from app.domain.payments import PaymentStatus
from app.models import Payment, PaymentMethod

_LOCAL_LOCKS: weakref.WeakValueDictionary[uuid.UUID, asyncio.Lock] = weakref.WeakValueDictionary()


@asynccontextmanager
async def one_attempt_at_a_time(
    session: AsyncSession, invoice_id: uuid.UUID
) -> AsyncIterator[None]:
    """Hold the invoice's collection lock (waiting for an attempt in progress to finish): a
    PostgreSQL advisory lock of a transaction kept open on a connection of its own until the
    block ends (released if the process dies, so never stale; a transaction's lock, so that
    behind a transaction pooler it stays with the server connection the transaction holds);
    in the embedded SQLite mode, one process serves, and an in-process lock does. The caller
    holds no row lock while it waits."""
    bind = session.bind
    assert isinstance(bind, AsyncEngine), "sessions are bound to the engine"
    if bind.dialect.name != "postgresql":
        lock = _LOCAL_LOCKS.setdefault(invoice_id, asyncio.Lock())
        async with lock:
            yield
        return
    key = {"key": f"paygate:invoice-collection:{invoice_id}"}
    async with bind.connect() as guard:
        try:
            await guard.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), key
            )
            yield
        finally:
            try:
                await guard.rollback()  # the transaction ends, and its lock with it
            except BaseException:  # never return a connection holding the lock to the pool
                await guard.invalidate()
                raise


async def refusal(
    session: AsyncSession, *, invoice_id: uuid.UUID, payment_method_id: uuid.UUID, at: datetime
) -> CollectionStopReason | None:
    """Why the card of ``payment_method_id`` may not be charged for the invoice at ``at``
    (``PAYMENT_METHOD_REFUSED``, ``RETRY_LIMIT_REACHED``), or None when it may."""
    method = await session.get(PaymentMethod, payment_method_id)
    if method is None:
        return None  # the payment refuses it with a clear error
    same_card = (
        PaymentMethod.fingerprint == method.fingerprint
        if method.fingerprint
        else PaymentMethod.id == method.id
    )
    attempts = (
        await session.execute(
            sa.select(Payment.created_at, Payment.decline_advice)
            .join(PaymentMethod, PaymentMethod.id == Payment.payment_method_id)
            .where(
                Payment.invoice_id == invoice_id,
                PaymentMethod.customer_id == method.customer_id,
                same_card,
                # failed before the PSP was reached: no authorisation was asked for
                sa.not_(
                    sa.and_(Payment.status == PaymentStatus.FAILED, Payment.psp_reference.is_(None))
                ),
            )
        )
    ).all()
    if any(advice == RetryAdvice.DO_NOT_RETRY.value for _, advice in attempts):
        return CollectionStopReason.PAYMENT_METHOD_REFUSED
    if not within_caps([created for created, _ in attempts], at):
        return CollectionStopReason.RETRY_LIMIT_REACHED
    return None
