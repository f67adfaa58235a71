"""Coupons and tax rates, and how they price an invoice."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.billing import (
    CouponDuration,
    LineTotals,
    invoice_discount,
    line_totals,
)
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.money import parse_money
from app.models import Coupon, Customer, Invoice, InvoiceLine, Subscription, TaxRate

CODE_SHAPE = re.compile(r"[A-Z0-9][A-Z0-9_-]{1,63}")


async def create_coupon(
    session: AsyncSession,
    *,
    clock: Clock,
    code: str,
    name: str | None,
    percent_off: str | None,
    amount_off: tuple[str, str] | None,
    duration: CouponDuration,
    duration_in_months: int | None,
    max_redemptions: int | None,
    redeem_by: datetime | None,
) -> Coupon:
    problems = Problems()
    normalised = code.strip().upper()
    if not CODE_SHAPE.fullmatch(normalised):
        problems.add(ErrorCode.INVALID, "A code of 2 to 64 letters, digits, '-' or '_'.", "code")
    label = check.text(problems, name, "name", max_length=256) or normalised
    percent = amount = currency = None
    if (percent_off is None) == (amount_off is None):
        problems.add(
            ErrorCode.INVALID, "Give exactly one of percentOff and amountOff.", "percentOff"
        )
    elif percent_off is not None:
        percent = check.basis_points(problems, percent_off, "percentOff", allow_zero=False)
    elif amount_off is not None:
        try:
            money = parse_money(*amount_off, field=("amountOff",))
            amount, currency = money.amount_minor, money.currency
            if amount == 0:
                problems.add(ErrorCode.INVALID_AMOUNT, "A discount above zero.", "amountOff")
        except UserInputError as error:
            problems.extend(error.problems)
    repeating = duration is CouponDuration.REPEATING
    if repeating != (duration_in_months is not None) or (
        duration_in_months is not None and not 1 <= duration_in_months <= 120
    ):
        problems.add(
            ErrorCode.INVALID,
            "durationInMonths (1 to 120) goes with REPEATING coupons only.",
            "durationInMonths",
        )
    if max_redemptions is not None and max_redemptions < 1:
        problems.add(ErrorCode.INVALID, "At least one redemption.", "maxRedemptions")
    check.moment(problems, redeem_by, "redeemBy")
    problems.raise_if_any()
    coupon = Coupon(
        code=normalised, name=label, percent_off_bp=percent, amount_off_minor=amount,
        currency=currency, duration=duration, duration_in_months=duration_in_months,
        max_redemptions=max_redemptions, times_redeemed=0, redeem_by=redeem_by, active=True,
        created_at=clock.now(), updated_at=clock.now(),
    )  # fmt: skip
    session.add(coupon)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise UserInputError(
            Problem(ErrorCode.DUPLICATE_CODE, "A coupon with this code exists.", ("code",))
        ) from None
    return coupon


async def redeem(session: AsyncSession, *, code: str, currency: str, now: datetime) -> Coupon:
    """Take one redemption of a coupon (row lock: max redemptions hold under races)."""
    normalised = code.strip().upper()
    coupon = (
        await session.scalar(
            sa.select(Coupon)
            .where(Coupon.code == normalised)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        # No coupon has another shape (and PostgreSQL refuses NUL in a comparison).
        if CODE_SHAPE.fullmatch(normalised)
        else None
    )
    reason = None
    if coupon is None or not coupon.active:
        reason = "No such coupon."
    elif coupon.redeem_by is not None and now > coupon.redeem_by:
        reason = "This coupon has expired."
    elif coupon.max_redemptions is not None and coupon.times_redeemed >= coupon.max_redemptions:
        reason = "This coupon has been fully redeemed."
    elif coupon.currency is not None and coupon.currency != currency:
        reason = f"This coupon is for {coupon.currency} prices."
    if reason is not None or coupon is None:
        raise UserInputError(Problem(ErrorCode.INVALID_COUPON, reason or "", ("couponCode",)))
    coupon.times_redeemed += 1
    coupon.updated_at = now
    return coupon


async def create_tax_rate(
    session: AsyncSession,
    *,
    clock: Clock,
    display_name: str,
    percentage: str,
    inclusive: bool,
    country: str | None,
) -> TaxRate:
    problems = Problems()
    name = check.text(problems, display_name, "displayName", max_length=64, required=True)
    points = check.basis_points(problems, percentage, "percentage", allow_zero=True)
    where = check.country(problems, country, "country")
    problems.raise_if_any()
    assert name is not None and points is not None
    rate = TaxRate(
        display_name=name, percentage_bp=points, inclusive=inclusive, country=where,
        active=True, created_at=clock.now(), updated_at=clock.now(),
    )  # fmt: skip
    session.add(rate)
    await session.commit()
    return rate


async def tax_rate_for(session: AsyncSession, customer_id: uuid.UUID) -> TaxRate | None:
    """The customer's country's active rate, else an active rate for every country."""
    country = await session.scalar(sa.select(Customer.country).where(Customer.id == customer_id))
    rates = (
        await session.scalars(
            sa.select(TaxRate)
            .where(TaxRate.active.is_(True))
            .where(sa.or_(TaxRate.country == country, TaxRate.country.is_(None)))
            .order_by(TaxRate.country.is_(None), TaxRate.id)
        )
    ).all()
    return rates[0] if rates else None


@dataclass(frozen=True, slots=True)
class Pricing:
    coupon: Coupon | None
    rate: TaxRate | None


async def pricing_for(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    subscription_id: uuid.UUID | None,
    period_start: datetime,
    consume: bool,
) -> Pricing:
    """The coupon and tax rate that apply to an invoice of this period; ``consume`` takes
    one of the coupon's invoices (at finalization, not in a preview)."""
    coupon = None
    if subscription_id is not None:
        subscription = await session.get(Subscription, subscription_id)
        if subscription is not None and subscription.coupon_id is not None:
            in_time = (
                subscription.discount_until is None or period_start < subscription.discount_until
            )
            uses = subscription.discount_uses_left
            if in_time and (uses is None or uses > 0):
                coupon = await session.get(Coupon, subscription.coupon_id)
                if uses is not None and consume:
                    subscription.discount_uses_left = uses - 1
    return Pricing(coupon=coupon, rate=await tax_rate_for(session, customer_id))


def priced_lines(amounts: list[int], pricing: Pricing) -> tuple[int, list[LineTotals]]:
    """The discount of these lines and each line's discount and tax."""
    coupon, rate = pricing.coupon, pricing.rate
    discount = 0
    if coupon is not None:
        discount = invoice_discount(
            sum(amounts), percent_bp=coupon.percent_off_bp, amount_off=coupon.amount_off_minor
        )
    totals = line_totals(
        amounts,
        discount,
        tax_bp=rate.percentage_bp if rate else None,
        inclusive=rate.inclusive if rate else False,
    )
    return discount, totals


async def price_invoice(session: AsyncSession, invoice: Invoice) -> None:
    """Discount and tax an invoice from its lines (at finalization): per line, exactly."""
    pricing = await pricing_for(
        session,
        customer_id=invoice.customer_id,
        subscription_id=invoice.subscription_id,
        period_start=invoice.period_start,
        consume=True,
    )
    lines = (
        await session.scalars(
            sa.select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.id)
        )
    ).all()
    discount, totals = priced_lines([line.amount_minor for line in lines], pricing)
    coupon, rate = pricing.coupon, pricing.rate
    for line, priced in zip(lines, totals, strict=True):
        line.discount_minor, line.tax_minor = priced.discount, priced.tax
        line.tax_included_minor = priced.tax_included
    invoice.coupon_id = coupon.id if coupon else None
    invoice.tax_rate_id = rate.id if rate else None
    invoice.subtotal_minor = sum(line.amount_minor for line in lines)
    invoice.discount_minor = discount
    invoice.tax_minor = sum(p.tax for p in totals)
    invoice.tax_included_minor = sum(p.tax_included for p in totals)
    invoice.total_minor = invoice.subtotal_minor - invoice.discount_minor + invoice.tax_minor


async def deactivate_coupon(session: AsyncSession, *, clock: Clock, coupon_id: uuid.UUID) -> Coupon:
    """No new redemptions, by its code or any of its promotion codes; subscriptions that
    redeemed it keep their discount (as a deleted Stripe coupon)."""
    row = await session.get(Coupon, coupon_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such coupon.", ("id",)))
    if row.active:
        row.active = False
        row.updated_at = clock.now()
    await session.commit()
    return row


def coupons_query(*, active: bool | None, code: str | None) -> sa.Select[Coupon]:
    statement = sa.select(Coupon)
    if active is not None:
        statement = statement.where(Coupon.active.is_(active))
    if code is not None:
        statement = statement.where(Coupon.code == code.strip().upper())
    return statement
