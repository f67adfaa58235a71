"""Inbound PSP webhooks: verified first, stored raw, deduplicated, applied exactly once.

Order does not matter: events carry snapshots, merges only move forward, and every write
holds the row lock of the payment concerned. An event about a payment whose PSP reference
we do not know yet (it raced our own synchronous response) waits, unprocessed, and is
applied when that response records the reference.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.ids import new_id
from app.domain.payments import DisputeStatus, RefundReason, RefundStatus, dispute_moves
from app.domain.personal_data import strip_personal
from app.models import Dispute, Payment, Refund
from app.models import WebhookEvent as StoredEvent
from app.psp import base as psp
from app.psp.codec import decode_event, encode_event
from app.psp.registry import PspRegistry
from app.services import erasure_leaks
from app.services.payment_records import apply_result, event, lock_payment_by_reference

logger = logging.getLogger("paygate.webhooks")


class Receipt(Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    WAITING = "waiting"  # stored; applied once what it refers to is known
    IGNORED = "ignored"  # stored and acknowledged: nothing to apply


async def receive(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    psp_name: str,
    headers: Mapping[str, str],
    body: bytes,
) -> Receipt:
    """Verify (raises ``WebhookVerificationError``), store, deduplicate and apply."""
    parsed = await psps.get(psp_name).parse_webhook(headers, body, now=clock.now())
    stored = await _store(session, parsed, body, clock)
    if stored is None:
        return Receipt.DUPLICATE
    receipt = await _apply(session, parsed, stored, clock)
    await session.commit()
    return receipt


def _raw(body: bytes) -> dict[str, Any]:
    try:
        loaded = json.loads(body)
    except ValueError:
        return {"raw": body.decode("utf-8", errors="replace")}
    return loaded if isinstance(loaded, dict) else {"raw": loaded}


def _reference(parsed: psp.WebhookEvent) -> str | None:
    """The PSP reference an event waits for when we do not know it yet: the payment's, or
    the refund's own (our refund row learns it from the synchronous response)."""
    if parsed.payment is not None:
        return parsed.payment.psp_reference
    if parsed.refund is not None:
        return parsed.refund.psp_reference
    if parsed.dispute is not None:
        return parsed.dispute.payment_reference
    return None


def _payment_reference(parsed: psp.WebhookEvent) -> str | None:
    if parsed.payment is not None:
        return parsed.payment.psp_reference
    if parsed.refund is not None:
        return parsed.refund.payment_reference
    if parsed.dispute is not None:
        return parsed.dispute.payment_reference
    return None


async def _store(
    session: AsyncSession, parsed: psp.WebhookEvent, body: bytes, clock: Clock
) -> StoredEvent | None:
    """The new stored event, or None when this event id was seen before. An event about an
    erased customer is stored without its personal data (GDPR)."""
    payload = _raw(body)
    if await erasure_leaks.about_erased(session, parsed.psp, payload):
        payload = strip_personal(payload)
    stored = StoredEvent(
        id=new_id(),
        psp=parsed.psp,
        event_id=parsed.event_id,
        type=parsed.type[:128],
        kind=parsed.kind.value,
        object_reference=_reference(parsed),
        occurred_at=parsed.occurred_at,
        payload=payload,
        snapshot=encode_event(parsed),
        deliveries=1,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(stored)
    try:
        await session.flush()
        return stored
    except IntegrityError:
        await session.rollback()
    await session.execute(
        sa.update(StoredEvent)
        .where(StoredEvent.psp == parsed.psp, StoredEvent.event_id == parsed.event_id)
        .values(deliveries=StoredEvent.deliveries + 1, updated_at=clock.now())
    )
    await session.commit()
    return None


async def _apply(
    session: AsyncSession, parsed: psp.WebhookEvent, stored: StoredEvent, clock: Clock
) -> Receipt:
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
        await _apply_dispute(session, payment, parsed.dispute, **common)
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
        receipt = await _apply(session, decode_event(stored.snapshot), stored, clock)
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
            receipt = await _apply(session, decode_event(stored.snapshot), stored, clock)
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
    from app.services.refunds import apply_refund  # refunds imports payments imports us

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
        refund = await _refund_made_elsewhere(session, payment, report, clock)
        if refund is None:
            return None
    apply_refund(
        session, payment, refund, report, source="webhook", clock=clock, psp_event_id=psp_event_id
    )
    return None


async def _refund_made_elsewhere(
    session: AsyncSession, payment: Payment, report: psp.RefundResult, clock: Clock
) -> Refund | None:
    """A refund we did not ask for (made in the PSP's dashboard): record it."""
    if report.status in (RefundStatus.FAILED, RefundStatus.CANCELED):
        return None
    refund_id = new_id()
    refund = Refund(
        id=refund_id,
        payment_id=payment.id,
        psp=payment.psp,
        psp_reference=report.psp_reference,
        psp_idempotency_key=f"paygate-external-{refund_id.hex}",
        status=RefundStatus.PENDING,
        reason=RefundReason.OTHER,
        currency=payment.currency,
        amount_minor=report.amount.amount_minor,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(refund)
    payment.amount_refunded_minor += refund.amount_minor
    await session.flush()
    session.add(
        event(payment, "refund.created", source="webhook", clock=clock,
              amount=refund.amount_minor, refund_id=refund.id)
    )  # fmt: skip
    return refund


async def _apply_dispute(
    session: AsyncSession,
    payment: Payment,
    report: psp.DisputeInfo,
    *,
    clock: Clock,
    psp_event_id: str,
) -> None:
    status = report.status
    dispute = await session.scalar(
        sa.select(Dispute)
        .where(Dispute.psp == payment.psp, Dispute.psp_reference == report.psp_reference)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    common: dict[str, Any] = {"source": "webhook", "clock": clock, "psp_event_id": psp_event_id}
    if dispute is None:
        dispute = Dispute(
            id=new_id(),
            payment_id=payment.id,
            psp=payment.psp,
            psp_reference=report.psp_reference,
            status=status,
            reason=report.reason[:64],
            currency=report.amount.currency,
            amount_minor=report.amount.amount_minor,
            evidence_due_by=report.evidence_due_by,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(dispute)
        await session.flush()
        session.add(
            event(payment, "dispute.created", amount=dispute.amount_minor,
                  dispute_id=dispute.id, **common)
        )  # fmt: skip
    elif dispute_moves(dispute.status, status):
        dispute.status = status
        dispute.evidence_due_by = report.evidence_due_by or dispute.evidence_due_by
        dispute.updated_at = clock.now()
    else:
        return
    session.add(event(payment, f"dispute.{status.value}", dispute_id=dispute.id, **common))
    if status is DisputeStatus.LOST:
        # The money goes back to the cardholder: the reversal is its own ledger event.
        session.add(
            event(payment, "dispute.funds_reversed", amount=dispute.amount_minor,
                  dispute_id=dispute.id, **common)
        )  # fmt: skip
