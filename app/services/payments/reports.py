"""PSP reports (webhook events, stored raw) applied to the ledger exactly once, in any order.

Order does not matter: events carry snapshots, merges only move forward, and every write
holds the row lock of the payment concerned. An event about a payment whose PSP reference
we do not know yet (it raced our own synchronous response) waits, unprocessed, and is
applied (``apply_pending``) when that response records the reference; reconciliation
sweeps what still waits (``retry_waiting``).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.payments import RefundStatus
from app.models import Payment, Refund
from app.models import WebhookEvent as StoredEvent
from app.psp import base as psp
from app.psp.codec import decode_event
from app.services.payments.ledger import (
    apply_dispute,
    apply_refund,
    apply_result,
    lock_payment_by_reference,
    record_external_refund,
)


class Receipt(Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    WAITING = "waiting"  # stored; applied once what it refers to is known
    IGNORED = "ignored"  # stored and acknowledged: nothing to apply


def _payment_reference(parsed: psp.WebhookEvent) -> str | None:
    if parsed.payment is not None:
        return parsed.payment.psp_reference
    if parsed.refund is not None:
        return parsed.refund.payment_reference
    if parsed.dispute is not None:
        return parsed.dispute.payment_reference
    return None


async def apply_report(
    session: AsyncSession, parsed: psp.WebhookEvent, stored: StoredEvent, clock: Clock
) -> Receipt:
    """Apply a stored PSP report once (the payment's row locked here), or leave it waiting
    for the PSP reference it refers to."""
    reference = _payment_reference(parsed)
    if reference is None:
        stored.processed_at = clock.now()
        return Receipt.IGNORED
    payment = await lock_payment_by_reference(session, parsed.psp, reference)
    if payment is None:
        return Receipt.WAITING
    common: dict[str, Any] = {"clock": clock, "psp_event_id": parsed.event_id}
    moved = False
    if parsed.payment is not None:
        moved = await apply_result(session, payment, parsed.payment, source="webhook", **common)
    if parsed.refund is not None:
        waits_for = await _apply_refund(session, payment, parsed.refund, **common)
        if waits_for is not None:
            stored.object_reference = waits_for
            return Receipt.WAITING
    if parsed.dispute is not None:
        await apply_dispute(session, payment, parsed.dispute, **common)
    stored.processed_at = clock.now()
    if moved:  # events that waited for this payment's progress may apply now
        await apply_pending(session, parsed.psp, reference, clock=clock)
    return Receipt.PROCESSED


async def apply_pending(
    session: AsyncSession, psp_name: str, reference: str, *, clock: Clock
) -> int:
    """Apply the events that arrived before we knew ``reference`` (a payment's or a
    refund's; the payment row is locked by the caller). Returns how many were applied."""
    await session.flush()
    waiting = (
        await session.scalars(
            sa.select(StoredEvent)
            .where(
                StoredEvent.psp == psp_name,
                StoredEvent.object_reference == reference,
                StoredEvent.processed_at.is_(None),
            )
            .order_by(StoredEvent.occurred_at)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    applied = 0
    for stored in waiting:
        receipt = await apply_report(session, decode_event(stored.snapshot), stored, clock)
        applied += receipt is Receipt.PROCESSED
    return applied


async def retry_waiting(session: AsyncSession, *, clock: Clock, limit: int = 500) -> int:
    """Apply stored events still waiting (a lost race, a crash): the reconciliation sweep."""
    waiting = (
        await session.scalars(
            sa.select(StoredEvent.id)
            .where(StoredEvent.processed_at.is_(None), StoredEvent.kind != "other")
            .order_by(StoredEvent.occurred_at)
            .limit(limit)
        )
    ).all()
    await session.commit()
    applied = 0
    for event_id in waiting:
        stored = await session.get(
            StoredEvent, event_id, with_for_update=True, populate_existing=True
        )
        if stored is not None and stored.processed_at is None:
            receipt = await apply_report(session, decode_event(stored.snapshot), stored, clock)
            applied += receipt is Receipt.PROCESSED
        await session.commit()
    return applied


async def _apply_refund(
    session: AsyncSession,
    payment: Payment,
    report: psp.RefundResult,
    *,
    clock: Clock,
    psp_event_id: str,
) -> str | None:
    """Apply a refund report, or name the PSP reference it must wait for: our own refund's
    (its synchronous response is on the way) or the payment's (its capture is not known
    yet, so the refund cannot be counted against it)."""

    refund = await session.scalar(
        sa.select(Refund)
        .where(Refund.psp == payment.psp, Refund.psp_reference == report.psp_reference)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if refund is None:
        ours_in_flight = await session.scalar(
            sa.select(sa.func.count())
            .select_from(Refund)
            .where(Refund.payment_id == payment.id, Refund.psp_reference.is_(None))
        )
        if ours_in_flight:
            return report.psp_reference
        refundable = payment.amount_received_minor - payment.amount_refunded_minor
        counts = report.status not in (RefundStatus.FAILED, RefundStatus.CANCELED)
        if counts and report.amount.amount_minor > refundable:
            assert payment.psp_reference is not None
            return payment.psp_reference
        refund = await record_external_refund(session, payment, report, clock)
        if refund is None:
            return None
    apply_refund(
        session, payment, refund, report, source="webhook", clock=clock, psp_event_id=psp_event_id
    )
    return None
