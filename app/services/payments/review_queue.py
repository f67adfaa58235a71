"""The review queue's entries: opened with the charge the risk rules held, closed at once
when that charge failed (the decisions are :mod:`app.services.payments.reviews`)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.ids import new_id
from app.domain.reviews import ReviewClosedReason, ReviewStatus
from app.domain.risk import Assessment, RiskAction
from app.models import Payment, Review


def open_review(
    session: AsyncSession,
    payment: Payment,
    decision: Assessment,
    *,
    clock: Clock,
    hours: int,
    capture_on_approve: bool,
) -> Review:
    """In the transaction that records ``payment``: held together or not at all."""
    reasons = "; ".join(
        f"{r.rule_name}: {r.detail}" for r in decision.reasons if r.action is RiskAction.REVIEW
    )
    review = Review(
        id=new_id(),
        payment_id=payment.id,
        status=ReviewStatus.OPEN,
        reason=reasons[:500] or "review",
        capture_on_approve=capture_on_approve,
        closes_at=clock.now() + timedelta(hours=hours),
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(review)
    return review


async def close_if_failed(session: AsyncSession, payment_id: uuid.UUID, *, clock: Clock) -> None:
    """A held charge the PSP declined leaves nothing to decide."""
    await session.execute(
        sa.update(Review)
        .where(Review.payment_id == payment_id, Review.status == ReviewStatus.OPEN)
        .values(
            status=ReviewStatus.CLOSED,
            closed_reason=ReviewClosedReason.REJECTED,
            closed_at=clock.now(),
            closed_by="paygate: the payment failed",
            updated_at=clock.now(),
        )
    )
    await session.commit()
