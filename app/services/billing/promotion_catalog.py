"""The staff's side of promotion codes: create, deactivate and list them (the checkout's
side, validation and redemption, is ``promotion_codes``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.money import parse_money
from app.models import Coupon, Customer, PromotionCode
from app.services.billing.coupons import CODE_SHAPE


async def create_promotion_code(
    session: AsyncSession,
    *,
    clock: Clock,
    coupon_id: uuid.UUID,
    code: str,
    max_redemptions: int | None,
    expires_at: datetime | None,
    first_time_only: bool,
    minimum_amount: tuple[str, str] | None,
    customer_id: uuid.UUID | None,
) -> PromotionCode:
    problems = Problems()
    normalised = code.strip().upper()
    if not CODE_SHAPE.fullmatch(normalised):
        problems.add(ErrorCode.INVALID, "A code of 2 to 64 letters, digits, '-' or '_'.", "code")
    if max_redemptions is not None and not 1 <= max_redemptions <= 2**31 - 1:
        problems.add(ErrorCode.INVALID, "At least one redemption.", "maxRedemptions")
    expiry = check.moment(problems, expires_at, "expiresAt")
    if expiry is not None and expiry <= clock.now():
        problems.add(ErrorCode.INVALID, "An expiry in the future.", "expiresAt")
    minimum = None
    if minimum_amount is not None:
        try:
            minimum = parse_money(*minimum_amount, field=("minimumAmount",))
            if minimum.amount_minor == 0:
                problems.add(ErrorCode.INVALID_AMOUNT, "A minimum above zero.", "minimumAmount")
        except UserInputError as error:
            problems.extend(error.problems)
    coupon = await session.get(Coupon, coupon_id)
    if coupon is None or not coupon.active:
        problems.add(ErrorCode.NOT_FOUND, "No such active coupon.", "couponId")
    elif minimum is not None and coupon.currency not in (None, minimum.currency):
        problems.add(
            ErrorCode.CURRENCY_MISMATCH,
            f"The coupon is for {coupon.currency} prices.",
            "minimumAmount",
        )
    if customer_id is not None:
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.erased_at is not None:
            problems.add(ErrorCode.NOT_FOUND, "No such customer.", "customerId")
    problems.raise_if_any()
    now = clock.now()
    row = PromotionCode(
        coupon_id=coupon_id, code=normalised, active=True, max_redemptions=max_redemptions,
        times_redeemed=0, expires_at=expires_at, first_time_only=first_time_only,
        minimum_amount_minor=minimum.amount_minor if minimum else None,
        minimum_amount_currency=minimum.currency if minimum else None,
        customer_id=customer_id, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise UserInputError(
            Problem(ErrorCode.DUPLICATE_CODE, "An active promotion code has this code.", ("code",))
        ) from None
    return row


async def deactivate_promotion_code(
    session: AsyncSession, *, clock: Clock, promotion_code_id: uuid.UUID
) -> PromotionCode:
    """No new redemptions; subscriptions that redeemed it keep their discount."""
    row = await session.get(
        PromotionCode, promotion_code_id, with_for_update=True, populate_existing=True
    )
    if row is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such promotion code.", ("id",)))
    if row.active:
        row.active = False
        row.updated_at = clock.now()
    await session.commit()
    return row


def promotion_codes_query(
    *, active: bool | None, code: str | None, coupon_id: uuid.UUID | None
) -> sa.Select[PromotionCode]:
    statement = sa.select(PromotionCode)
    if active is not None:
        statement = statement.where(PromotionCode.active.is_(active))
    if code is not None:
        statement = statement.where(PromotionCode.code == code.strip().upper())
    if coupon_id is not None:
        statement = statement.where(PromotionCode.coupon_id == coupon_id)
    return statement
