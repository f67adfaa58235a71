"""Reconciliation: resolve payments and refunds whose PSP outcome is unknown (a timeout, a
crash mid-request), apply webhook events still waiting for their payment, and report what
stays unresolved for too long.

A payment is asked about with ``retrieve_payment`` when its PSP reference is known, or by
replaying its creation with the same PSP idempotency key when it is not: the PSP answers
with the original payment, so nothing is ever charged twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.money import Money
from app.models import Payment, PaymentMethod, PspCustomer, Refund
from app.psp import base as psp
from app.psp.errors import PspError
from app.psp.registry import PspRegistry
from app.services.payments import reports
from app.services.payments.ledger import apply_refund, apply_result, lock_payment, lock_reference

logger = logging.getLogger("paygate.reconciliation")
GRACE = timedelta(seconds=60)  # in-flight requests get this long before we ask ourselves


@dataclass
class Report:
    resolved: list[uuid.UUID] = field(default_factory=list)
    unresolved: list[uuid.UUID] = field(default_factory=list)
    stuck: list[uuid.UUID] = field(default_factory=list)  # unknown beyond the alert age
    events_applied: int = 0


async def reconcile(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    grace: timedelta = GRACE,
    stuck_after: timedelta = timedelta(hours=1),
    limit: int = 500,
) -> Report:
    report = Report()
    cutoff = clock.now() - grace
    payment_ids = (
        await session.scalars(
            sa.select(Payment.id)
            .where(Payment.outcome_unknown_since.is_not(None))
            .where(Payment.outcome_unknown_since <= cutoff)
            .order_by(Payment.outcome_unknown_since)
            .limit(limit)
        )
    ).all()
    await session.commit()
    for payment_id in payment_ids:
        if await _resolve_payment(session, psps, clock, payment_id):
            report.resolved.append(payment_id)
        else:
            report.unresolved.append(payment_id)
    await _resolve_refunds(session, psps, clock, cutoff, limit, report)
    report.events_applied = await reports.retry_waiting(session, clock=clock, limit=limit)
    stuck_cutoff = clock.now() - stuck_after
    report.stuck = list(
        (
            await session.scalars(
                sa.select(Payment.id).where(Payment.outcome_unknown_since <= stuck_cutoff)
            )
        ).all()
    )
    await session.commit()
    for payment_id in report.stuck:
        logger.warning("payment %s has had an unknown outcome for over %s", payment_id, stuck_after)
    return report


async def _resolve_payment(
    session: AsyncSession, psps: PspRegistry, clock: Clock, payment_id: uuid.UUID
) -> bool:
    payment = await session.get(Payment, payment_id)
    if payment is None or payment.outcome_unknown_since is None:
        await session.commit()
        return True
    gateway = psps.get(payment.psp)
    try:
        if payment.psp_reference is not None:
            result = await gateway.retrieve_payment(payment.psp_reference)
        else:
            result = await gateway.create_payment(await _replay_request(session, payment))
    except PspError as error:
        logger.info("payment %s still unresolved: %s", payment_id, type(error).__name__)
        await session.rollback()
        return False
    await lock_reference(session, payment.psp, result.psp_reference)
    locked = await lock_payment(session, payment_id)
    await apply_result(session, locked, result, source="reconciliation", clock=clock)
    await reports.apply_pending(session, locked.psp, result.psp_reference, clock=clock)
    await session.commit()
    return True


async def _replay_request(session: AsyncSession, payment: Payment) -> psp.PaymentRequest:
    method = await session.get(PaymentMethod, payment.payment_method_id)
    customer = await session.scalar(
        sa.select(PspCustomer.psp_customer_id).where(
            PspCustomer.customer_id == payment.customer_id, PspCustomer.psp == payment.psp
        )
    )
    return psp.PaymentRequest(
        amount=Money(payment.amount_minor, payment.currency),
        psp_customer_id=customer,
        payment_method=method.psp_reference if method else None,
        capture_method=payment.capture_method,
        off_session=payment.off_session,
        return_url=payment.return_url,
        idempotency_key=payment.psp_idempotency_key,
        description=payment.description,
        metadata={"paygate_payment_id": str(payment.id)},
    )


async def _resolve_refunds(
    session: AsyncSession,
    psps: PspRegistry,
    clock: Clock,
    cutoff: datetime,
    limit: int,
    report: Report,
) -> None:
    refunds = (
        await session.scalars(
            sa.select(Refund)
            .where(
                Refund.outcome_unknown_since.is_not(None), Refund.outcome_unknown_since <= cutoff
            )
            .limit(limit)
        )
    ).all()
    await session.commit()
    for refund in refunds:
        payment = await session.get(Payment, refund.payment_id)
        assert payment is not None and payment.psp_reference is not None
        gateway = psps.get(refund.psp)
        try:
            if refund.psp_reference is not None:
                result = await gateway.retrieve_refund(refund.psp_reference)
            else:
                result = await gateway.refund(
                    psp.RefundRequest(
                        payment_reference=payment.psp_reference,
                        amount=Money(refund.amount_minor, refund.currency),
                        reason=refund.reason,
                        idempotency_key=refund.psp_idempotency_key,
                    )
                )
        except PspError:
            await session.rollback()
            continue
        locked = await lock_payment(session, payment.id)
        await session.refresh(refund, with_for_update=True)
        apply_refund(session, locked, refund, result, source="reconciliation", clock=clock)
        await session.commit()
