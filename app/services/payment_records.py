"""Applying what a PSP reports to our rows: row locks, forward-only merges, event rows.

Synchronous responses, webhooks and reconciliation all come through here, each holding the
payment's row lock, so that whichever arrives first, the result is the same.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.declines import Decline
from app.domain.payments import PaymentState, PaymentStatus, merge
from app.models import Payment, PaymentEvent
from app.psp import base as psp


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
    settle the invoice it pays when it succeeded. Returns whether anything changed."""
    changed = _merge(session, payment, result, source=source, clock=clock,
                     psp_event_id=psp_event_id)  # fmt: skip
    if changed:
        await settle_invoice(session, payment, clock)
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


async def settle_invoice(session: AsyncSession, payment: Payment, clock: Clock) -> None:
    """When a payment of an invoice has succeeded, the invoice is paid (and its
    subscription current). Called after ``apply_result`` by every path that applies one."""
    if payment.invoice_id is None or payment.status is not PaymentStatus.SUCCEEDED:
        return
    from app.services.subscriptions import invoice_paid  # subscriptions import payments

    await invoice_paid(session, payment, clock)
