"""Deciding a review: approve (capture the held charge), reject (cancel the authorisation,
or refund a charge already captured), or let its time run out (the default action,
``PAYGATE_RISK_REVIEW_DEFAULT``). As Stripe Radar's reviews (docs.stripe.com/radar/reviews):
a review closes once, approved, refunded or expired.

A decision is committed before it is carried out, then carried out with idempotency keys of
its own (``review-<id>-capture`` …): two people deciding at once get one decision, the
other a typed error; a decision interrupted by a crash is carried out again, with the same
keys, by whoever asks it again or by the worker's ``close_reviews`` job.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.payments import PaymentStatus, RefundReason
from app.domain.reviews import ReviewClosedReason, ReviewDefault, ReviewStatus
from app.models import Payment, Review
from app.psp.registry import PspRegistry
from app.services.payments import actions, refunds
from app.services.payments.outcomes import Caller

PRINCIPAL = "risk-review"
Decide = Callable[..., Awaitable[tuple[Review, tuple[Problem, ...]]]]
# A decision taken and not yet carried out for this long is the job's to finish.
STALE_DECISION = timedelta(minutes=2)


def reviews_query(*, status: ReviewStatus | None = None) -> sa.Select[Review]:
    statement = sa.select(Review)
    if status is not None:
        statement = statement.where(Review.status == status)
    return statement


async def _decide(
    session: AsyncSession,
    review_id: uuid.UUID,
    decision: ReviewClosedReason,
    *,
    clock: Clock,
    by: str,
    note: str | None,
) -> Review:
    problems = Problems()
    note = check.text(problems, note, "note", max_length=500)
    problems.raise_if_any()
    review = await session.get(Review, review_id, with_for_update=True, populate_existing=True)
    if review is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such review.", ("reviewId",)))
    taken = review.closed_reason
    if review.status is ReviewStatus.CLOSED or (taken is not None and taken is not decision):
        await session.rollback()
        raise UserInputError(
            Problem(
                ErrorCode.INVALID_STATE,
                f"This review was decided already ({(taken or decision).value}).",
                ("reviewId",),
            )
        )
    if taken is None:
        review.closed_reason, review.closed_by = decision, by
        review.approved = decision is ReviewClosedReason.APPROVED
        review.note = note
        review.updated_at = clock.now()
    await session.commit()
    return review


async def _carry_out(
    session: AsyncSession, review_id: uuid.UUID, *, psps: PspRegistry, clock: Clock
) -> tuple[tuple[Problem, ...], bool]:
    """Act on the payment as decided, then close the review: the PSP's problems, and
    whether this call closed it (two carrying out one decision at once both act, with the
    same idempotency keys, and one closes)."""
    review = await session.get(Review, review_id, populate_existing=True)
    assert review is not None
    payment = await session.get(Payment, review.payment_id, populate_existing=True)
    assert payment is not None
    problems: tuple[Problem, ...] = ()
    key = f"review-{review.id.hex}"
    if review.approved:
        if review.capture_on_approve and payment.status is PaymentStatus.REQUIRES_CAPTURE:
            outcome = await actions.capture_payment(
                session, psps=psps, clock=clock, caller=Caller(PRINCIPAL, f"{key}-capture"),
                payment_id=payment.id, amount=None, currency=None,
            )  # fmt: skip
            problems = outcome.problems
    elif payment.status in (PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.REQUIRES_ACTION):
        outcome = await actions.cancel_payment(
            session, psps=psps, clock=clock, caller=Caller(PRINCIPAL, f"{key}-cancel"),
            payment_id=payment.id,
        )  # fmt: skip
        problems = outcome.problems
    elif (
        payment.status is PaymentStatus.SUCCEEDED
        and payment.amount_refunded_minor < payment.amount_received_minor
    ):
        outcome = await refunds.create_refund(
            session, psps=psps, clock=clock, caller=Caller(PRINCIPAL, f"{key}-refund"),
            payment_id=payment.id, amount=None, currency=None, reason=RefundReason.FRAUDULENT,
        )  # fmt: skip
        problems = outcome.problems
    if problems:  # the PSP refused or was away: the decision stands, to be carried out again
        return problems, False
    locked = await session.get(Review, review_id, with_for_update=True, populate_existing=True)
    assert locked is not None
    closing = locked.status is ReviewStatus.OPEN
    if closing:
        locked.status = ReviewStatus.CLOSED
        locked.closed_at = clock.now()
        locked.updated_at = clock.now()
    await session.commit()
    return (), closing


async def approve(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    review_id: uuid.UUID,
    by: str,
    note: str | None,
) -> tuple[Review, tuple[Problem, ...]]:
    await _decide(session, review_id, ReviewClosedReason.APPROVED, clock=clock, by=by, note=note)
    problems, _ = await _carry_out(session, review_id, psps=psps, clock=clock)
    return await _reloaded(session, review_id), problems


async def reject(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    review_id: uuid.UUID,
    by: str,
    note: str | None,
) -> tuple[Review, tuple[Problem, ...]]:
    await _decide(session, review_id, ReviewClosedReason.REJECTED, clock=clock, by=by, note=note)
    problems, _ = await _carry_out(session, review_id, psps=psps, clock=clock)
    return await _reloaded(session, review_id), problems


async def _reloaded(session: AsyncSession, review_id: uuid.UUID) -> Review:
    review = await session.get(Review, review_id, populate_existing=True)
    assert review is not None
    await session.commit()
    return review


async def close_due(
    session: AsyncSession, *, psps: PspRegistry, clock: Clock, default: ReviewDefault
) -> int:
    """The worker's job: expire the reviews whose time ran out (the default action), and
    finish decisions that were taken and not carried out. Returns how many closed."""
    now = clock.now()
    due = (
        await session.scalars(
            sa.select(Review.id)
            .where(
                Review.status == ReviewStatus.OPEN,
                sa.or_(
                    sa.and_(Review.closed_reason.is_(None), Review.closes_at <= now),
                    sa.and_(
                        Review.closed_reason.is_not(None),
                        Review.updated_at <= now - STALE_DECISION,
                    ),
                ),
            )
            .order_by(Review.closes_at)
            .limit(500)
        )
    ).all()
    await session.commit()
    closed = 0
    for review_id in due:
        review = await session.get(Review, review_id, with_for_update=True, populate_existing=True)
        if review is None or review.status is not ReviewStatus.OPEN:
            await session.commit()
            continue
        if review.closed_reason is None:
            review.closed_reason = ReviewClosedReason.EXPIRED
            review.closed_by = "paygate: the review's time ran out"
            review.approved = default is ReviewDefault.APPROVE
            review.updated_at = now
        await session.commit()
        _, closing = await _carry_out(session, review_id, psps=psps, clock=clock)
        closed += closing
    return closed
