"""The ledger: applying what a PSP reports to our rows (row locks, forward-only merges,
event rows), and the settlement of refunds and disputes.

Synchronous responses, webhooks and reconciliation all come through here, each holding the
payment's row lock, so that whichever arrives first, the result is the same. A payment of
an invoice that succeeds states ``InvoicePaymentSucceeded``, which billing handles in the
same transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.declines import Decline
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.domain.events import InvoicePaymentSucceeded
from app.domain.ids import new_id
from app.domain.payments import (
    DisputeStatus,
    PaymentState,
    PaymentStatus,
    RefundReason,
    RefundStatus,
    dispute_moves,
    merge,
)
from app.models import Dispute, Payment, PaymentEvent, Refund
from app.psp import base as psp
from app.services import events


def event(
    payment: Payment,
    type_: str,
    *,
    source: str,
    clock: Clock,
    amount: int | None = None,
    psp_event_id: str | None = None,
    refund_id: uuid.UUID | None = None,
    dispute_id: uuid.UUID | None = None,
) -> PaymentEvent:
    """An event row. ``payment_events`` is append-only (no erasure can reach it), so it
    holds no personal data, by construction: ids, types, statuses and amounts only, and
    no free-form ``data``."""
    return PaymentEvent(
        payment_id=payment.id,
        refund_id=refund_id,
        dispute_id=dispute_id,
        type=type_,
        source=source,
        status=payment.status.value,
        currency=payment.currency if amount is not None else None,
        amount_minor=amount,
        psp_event_id=psp_event_id,
        data={},
        created_at=clock.now(),
    )


async def get_payment(session: AsyncSession, payment_id: uuid.UUID) -> Payment:
    payment = await session.get(Payment, payment_id)
    if payment is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such payment.", ("paymentId",)))
    return payment


async def lock_payment(session: AsyncSession, payment_id: uuid.UUID) -> Payment:
    payment = await session.scalar(
        sa.select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert payment is not None
    return payment


async def lock_reference(session: AsyncSession, psp_name: str, reference: str) -> None:
    """Serialise, for one PSP reference, the synchronous response that records it and the
    webhooks that refer to it (PostgreSQL; SQLite has a single writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"{psp_name}:{reference}"},
        )


async def lock_payment_by_reference(
    session: AsyncSession, psp_name: str, reference: str
) -> Payment | None:
    await lock_reference(session, psp_name, reference)
    return await session.scalar(
        sa.select(Payment)
        .where(Payment.psp == psp_name, Payment.psp_reference == reference)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def apply_result(
    session: AsyncSession,
    payment: Payment,
    result: psp.PaymentResult,
    *,
    source: str,
    clock: Clock,
    psp_event_id: str | None = None,
) -> bool:
    """Merge a PSP report into ``payment`` (locked by the caller); record what changed, and
    state that the invoice it pays got its payment when it succeeded. Returns whether
    anything changed."""
    changed = _merge(session, payment, result, source=source, clock=clock,
                     psp_event_id=psp_event_id)  # fmt: skip
    if changed and payment.invoice_id is not None and payment.status is PaymentStatus.SUCCEEDED:
        paid = InvoicePaymentSucceeded(payment_id=payment.id, invoice_id=payment.invoice_id)
        await events.dispatch(session, paid, clock=clock)
    return changed


def _merge(
    session: AsyncSession,
    payment: Payment,
    result: psp.PaymentResult,
    *,
    source: str,
    clock: Clock,
    psp_event_id: str | None,
) -> bool:
    if result.amount.currency != payment.currency or (
        payment.psp_reference is not None and result.psp_reference != payment.psp_reference
    ):
        raise ValueError("a PSP report about another payment")
    if payment.psp_reference is None:
        payment.psp_reference = result.psp_reference
    current = PaymentState(
        payment.status, payment.amount_capturable_minor, payment.amount_received_minor
    )
    report = PaymentState(
        result.status,
        result.amount_capturable.amount_minor,
        result.amount_received.amount_minor,
    )
    merged = merge(current, report)
    known = payment.outcome_unknown_since is None
    payment.outcome_unknown_since = None  # the PSP told us where the payment stands
    if merged == current:
        return not known
    received_before = payment.amount_received_minor
    payment.status = merged.status
    payment.amount_capturable_minor = merged.capturable
    payment.amount_received_minor = merged.received
    if merged.status is PaymentStatus.REQUIRES_ACTION and result.next_action is not None:
        payment.next_action_kind = result.next_action.kind.value
        payment.next_action_url = result.next_action.redirect_url
        payment.next_action_client_secret = result.next_action.client_secret
    else:
        payment.next_action_kind = None
        payment.next_action_url = None
        payment.next_action_client_secret = None
    if merged.status is PaymentStatus.FAILED and result.decline is not None:
        record_decline(payment, result.decline)
    payment.updated_at = clock.now()
    common: dict[str, Any] = {"source": source, "clock": clock, "psp_event_id": psp_event_id}
    session.add(event(payment, f"payment.{merged.status.value}", **common))
    if merged.received > received_before:
        session.add(
            event(payment, "payment.captured", amount=merged.received - received_before, **common)
        )
    return True


def record_decline(payment: Payment, decline: Decline) -> None:
    """Keep why ``payment`` failed: our code, the provider's and the network's codes, and
    the retry advice decided now (dunning and the retry guard read it)."""
    payment.decline_code = decline.code.value
    payment.decline_message = decline.message[:500]
    payment.decline_provider_code = _short(decline.provider_code, 64)
    payment.decline_network_code = _short(decline.network_decline_code, 16)
    payment.decline_network_advice_code = _short(decline.network_advice_code, 16)
    payment.decline_advice = decline.advice.value


def _short(code: str | None, length: int) -> str | None:
    return None if code is None else code[:length]


def apply_refund(
    session: AsyncSession,
    payment: Payment,
    refund: Refund,
    result: psp.RefundResult,
    *,
    source: str,
    clock: Clock,
    psp_event_id: str | None = None,
) -> bool:
    """Merge a PSP report of a refund (both rows locked by the caller)."""
    if refund.psp_reference is None:
        refund.psp_reference = result.psp_reference
    refund.outcome_unknown_since = None
    status = result.status
    if refund.status is not RefundStatus.PENDING or status is RefundStatus.PENDING:
        return False
    settle_refund(session, payment, refund, status, clock, source, result.failure_reason,
                   psp_event_id)  # fmt: skip
    return True


def settle_refund(
    session: AsyncSession,
    payment: Payment,
    refund: Refund,
    status: RefundStatus,
    clock: Clock,
    source: str,
    failure: str | None,
    psp_event_id: str | None = None,
) -> None:
    """A refund's final status (both rows locked by the caller): a failed or canceled
    refund gives its reservation back."""
    refund.status = status
    refund.outcome_unknown_since = None
    refund.failure_reason = failure
    refund.updated_at = clock.now()
    if status in (RefundStatus.FAILED, RefundStatus.CANCELED):
        payment.amount_refunded_minor -= refund.amount_minor  # the reservation goes back
        payment.updated_at = clock.now()
    session.add(
        event(payment, f"refund.{status.value}", source=source, clock=clock,
              amount=refund.amount_minor, refund_id=refund.id, psp_event_id=psp_event_id)
    )  # fmt: skip


async def record_external_refund(
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


async def apply_dispute(
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
