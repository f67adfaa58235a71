"""Promotion codes: the codes customers type at checkout, each mapping to a coupon with
restrictions of its own (Stripe's promotion codes: ``max_redemptions``, ``expires_at``,
``first_time_transaction``, ``minimum_amount``, ``customer``; docs.stripe.com/billing/
subscriptions/coupons#promotion-codes).

A redemption takes the code's row lock, then its coupon's (always in that order; a coupon
code takes only the coupon's), in the transaction that creates or changes the
subscription: it is counted when that transaction commits and not at all when it fails.
Creating, deactivating and listing codes is ``promotion_catalog``'s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import (
    CouponDuration,
    InvoiceStatus,
    PromotionRefusal,
    RecurringInterval,
    invoice_discount,
    period_boundary,
)
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.payments import PaymentStatus
from app.models import (
    Coupon,
    CouponRedemption,
    Invoice,
    Payment,
    Price,
    PromotionCode,
    Subscription,
)
from app.services import test_clocks
from app.services.billing.coupons import CODE_SHAPE
from app.services.customers import live_customer

MAX_PRICES = 20

# What a refused code's user error says (validatePromotionCode answers the enum).
REASONS: dict[PromotionRefusal, str] = {
    PromotionRefusal.UNKNOWN: "No such promotion code.",
    PromotionRefusal.INACTIVE: "This promotion code is no longer active.",
    PromotionRefusal.EXPIRED: "This promotion code has expired.",
    PromotionRefusal.EXHAUSTED: "This promotion code has been fully redeemed.",
    PromotionRefusal.NOT_FIRST_TIME: "This promotion code is for first orders only.",
    PromotionRefusal.BELOW_MINIMUM: "The order is below this promotion code's minimum amount.",
    PromotionRefusal.OTHER_CUSTOMER: "This promotion code is for another customer.",
    PromotionRefusal.CURRENCY_MISMATCH: "This promotion code is for prices in another currency.",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    promotion_code: PromotionCode | None
    coupon: Coupon | None
    refusal: PromotionRefusal | None


async def first_time(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    """No paid invoice with something to pay and no successful payment yet (Stripe's
    ``first_time_transaction``)."""
    paid = await session.scalar(
        sa.select(
            sa.exists().where(
                Invoice.customer_id == customer_id,
                Invoice.status == InvoiceStatus.PAID,
                Invoice.amount_paid_minor > 0,
            )
        )
    )
    charged = await session.scalar(
        sa.select(
            sa.exists().where(
                Payment.customer_id == customer_id, Payment.status == PaymentStatus.SUCCEEDED
            )
        )
    )
    return not paid and not charged


async def evaluate(
    session: AsyncSession,
    *,
    code: str,
    customer_id: uuid.UUID | None,
    currency: str,
    subtotal: int,
    now: datetime,
    lock: bool,
) -> Verdict:
    """Whether ``code`` applies to an order of ``subtotal`` in ``currency`` by
    ``customer_id`` (``None``: a visitor not yet a customer) at ``now``; ``lock`` takes the
    code's and the coupon's row locks (a redemption)."""
    normalised = code.strip().upper()
    if not CODE_SHAPE.fullmatch(normalised):  # (PostgreSQL refuses NUL in a comparison)
        return Verdict(None, None, PromotionRefusal.UNKNOWN)
    statement = (
        sa.select(PromotionCode)
        .where(PromotionCode.code == normalised)
        .order_by(PromotionCode.active.desc(), PromotionCode.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    promotion = await session.scalar(statement.with_for_update() if lock else statement)
    if promotion is None:
        return Verdict(None, None, PromotionRefusal.UNKNOWN)
    coupon = await session.get(
        Coupon, promotion.coupon_id, with_for_update=lock, populate_existing=True
    )
    assert coupon is not None
    return Verdict(
        promotion,
        coupon,
        await _refusal(session, promotion, coupon, customer_id, currency, subtotal, now),
    )


async def _refusal(
    session: AsyncSession,
    promotion: PromotionCode,
    coupon: Coupon,
    customer_id: uuid.UUID | None,
    currency: str,
    subtotal: int,
    now: datetime,
) -> PromotionRefusal | None:
    def full(row: PromotionCode | Coupon) -> bool:
        return row.max_redemptions is not None and row.times_redeemed >= row.max_redemptions

    if not promotion.active or not coupon.active:
        return PromotionRefusal.INACTIVE
    if (promotion.expires_at is not None and now >= promotion.expires_at) or (
        coupon.redeem_by is not None and now > coupon.redeem_by
    ):
        return PromotionRefusal.EXPIRED
    if full(promotion) or full(coupon):
        return PromotionRefusal.EXHAUSTED
    if promotion.customer_id is not None and promotion.customer_id != customer_id:
        return PromotionRefusal.OTHER_CUSTOMER
    if coupon.currency not in (None, currency) or promotion.minimum_amount_currency not in (
        None,
        currency,
    ):
        return PromotionRefusal.CURRENCY_MISMATCH
    if promotion.minimum_amount_minor is not None and subtotal < promotion.minimum_amount_minor:
        return PromotionRefusal.BELOW_MINIMUM
    if (
        promotion.first_time_only
        and customer_id is not None
        and not await first_time(session, customer_id)
    ):
        return PromotionRefusal.NOT_FIRST_TIME
    return None


async def redeem(
    session: AsyncSession,
    *,
    code: str,
    customer_id: uuid.UUID,
    currency: str,
    subtotal: int,
    now: datetime,
    field: tuple[str, ...] = ("promotionCode",),
) -> tuple[PromotionCode, Coupon]:
    """Take one redemption of a promotion code and of its coupon (row locks: neither's
    maximum is passed by racing checkouts). Record it with :func:`record` with the
    subscription."""
    verdict = await evaluate(
        session, code=code, customer_id=customer_id, currency=currency, subtotal=subtotal,
        now=now, lock=True,
    )  # fmt: skip
    promotion, coupon = verdict.promotion_code, verdict.coupon
    if verdict.refusal is not None or promotion is None or coupon is None:
        reason = verdict.refusal or PromotionRefusal.UNKNOWN
        raise UserInputError(Problem(ErrorCode.INVALID_PROMOTION_CODE, REASONS[reason], field))
    promotion.times_redeemed += 1
    promotion.updated_at = now
    coupon.times_redeemed += 1
    coupon.updated_at = now
    return promotion, coupon


def record(
    session: AsyncSession,
    subscription: Subscription,
    coupon: Coupon,
    promotion: PromotionCode | None,
    now: datetime,
) -> None:
    """The redemption's row in the ledger (``paygate verify`` counts them)."""
    session.add(
        CouponRedemption(
            coupon_id=coupon.id, promotion_code_id=promotion.id if promotion else None,
            subscription_id=subscription.id, customer_id=subscription.customer_id,
            created_at=now, updated_at=now,
        )
    )  # fmt: skip


async def redeemed_by(
    session: AsyncSession, promotion: PromotionCode, subscription: Subscription
) -> bool:
    """Whether this subscription holds a redemption of this code (one each)."""
    found = await session.scalar(
        sa.select(
            sa.exists().where(
                CouponRedemption.promotion_code_id == promotion.id,
                CouponRedemption.subscription_id == subscription.id,
            )
        )
    )
    return bool(found)


def attach(subscription: Subscription, coupon: Coupon, *, start: datetime) -> None:
    """The coupon discounts the subscription's invoices from ``start`` (its first period's,
    or the next period's for a subscription that exists): one invoice, some months from
    ``start``, or all. It replaces a discount the subscription had."""
    subscription.coupon_id = coupon.id
    subscription.discount_uses_left = 1 if coupon.duration is CouponDuration.ONCE else None
    subscription.discount_until = None
    if coupon.duration is CouponDuration.REPEATING:
        months = coupon.duration_in_months or 1
        subscription.discount_until = period_boundary(start, RecurringInterval.MONTH, months, 1)


async def release(session: AsyncSession, subscription: Subscription, now: datetime) -> None:
    """Give back the redemptions of a subscription whose first invoice was never paid (it
    expired incomplete): the checkout did not happen, so its code and coupon may be
    redeemed again."""
    taken = (
        await session.scalars(
            sa.select(CouponRedemption)
            .where(
                CouponRedemption.subscription_id == subscription.id,
                CouponRedemption.released_at.is_(None),
            )
            .order_by(CouponRedemption.id)
            .with_for_update()
        )
    ).all()
    for redemption in taken:
        if redemption.promotion_code_id is not None:
            promotion = await session.get(PromotionCode, redemption.promotion_code_id,
                                          with_for_update=True, populate_existing=True)  # fmt: skip
            assert promotion is not None
            promotion.times_redeemed -= 1
            promotion.updated_at = now
        coupon = await session.get(
            Coupon, redemption.coupon_id, with_for_update=True, populate_existing=True
        )
        assert coupon is not None
        coupon.times_redeemed -= 1
        coupon.updated_at = now
        redemption.released_at = now
        redemption.updated_at = now


@dataclass(frozen=True, slots=True)
class Quote:
    """What a code gives on a set of prices: the refusal, or the coupon and the discount
    of the first invoice (before tax) on their ``subtotal``."""

    refusal: PromotionRefusal | None
    coupon: Coupon | None
    currency: str
    subtotal: int
    discount: int


def quote(verdict: Verdict, *, currency: str, subtotal: int) -> Quote:
    coupon = verdict.coupon if verdict.refusal is None else None
    discount = 0
    if coupon is not None:
        discount = invoice_discount(
            subtotal, percent_bp=coupon.percent_off_bp, amount_off=coupon.amount_off_minor
        )
    return Quote(verdict.refusal, coupon, currency, subtotal, discount)


async def validate(
    session: AsyncSession,
    *,
    clock: Clock,
    code: str,
    price_ids: list[uuid.UUID],
    customer_id: uuid.UUID | None,
) -> Quote:
    """What ``code`` would give a checkout of these prices (one of each) now, by this
    customer or a visitor: nothing is redeemed or written."""
    problems = Problems()
    if not 1 <= len(price_ids) <= MAX_PRICES:
        problems.add(ErrorCode.INVALID, f"Give 1 to {MAX_PRICES} prices.", "priceIds")
    prices: list[Price] = []
    for index, price_id in enumerate(price_ids[:MAX_PRICES]):
        price = await session.get(Price, price_id)
        if price is None or not price.active:
            problems.add(ErrorCode.NOT_FOUND, "No such active price.", "priceIds", str(index))
        else:
            prices.append(price)
    if len({p.currency for p in prices}) > 1:
        problems.add(ErrorCode.CURRENCY_MISMATCH, "Prices of one currency.", "priceIds")
    problems.raise_if_any()
    now = clock.now()
    if customer_id is not None:
        await live_customer(session, customer_id, "customerId")
        now = (await test_clocks.clock_of(session, customer_id, clock)).now()
    currency = prices[0].currency
    subtotal = sum(p.unit_amount_minor for p in prices)
    verdict = await evaluate(
        session, code=code, customer_id=customer_id, currency=currency, subtotal=subtotal,
        now=now, lock=False,
    )  # fmt: skip
    answer = quote(verdict, currency=currency, subtotal=subtotal)
    if answer.coupon is not None:
        session.expunge(answer.coupon)  # read after the transaction ends
    await session.rollback()
    return answer
