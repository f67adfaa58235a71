"""Promotion codes: customer-facing codes of a coupon, with their own restrictions; and the
ledger of coupon redemptions (a row per subscription that took a coupon, by its code or by
a promotion code)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Entity


class PromotionCode(Entity):
    """A code customers type at checkout; it gives its coupon's discount when its own
    restrictions (expiry, redemptions, first order, minimum amount, one customer) hold.
    Codes are stored upper case and unique among active codes."""

    __tablename__ = "promotion_codes"
    __table_args__ = (
        sa.CheckConstraint(
            "max_redemptions IS NULL OR times_redeemed <= max_redemptions",
            name="redemptions_within_max",
        ),
        sa.CheckConstraint(
            "(minimum_amount_minor IS NULL) = (minimum_amount_currency IS NULL)",
            name="minimum_with_currency",
        ),
        sa.Index(
            "uq_promotion_codes_active_code",
            "code",
            unique=True,
            postgresql_where=sa.text("active"),
            sqlite_where=sa.text("active"),
        ),
    )

    coupon_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("coupons.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    active: Mapped[bool] = mapped_column(default=True)
    max_redemptions: Mapped[int | None]
    times_redeemed: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None]
    first_time_only: Mapped[bool] = mapped_column(default=False)
    minimum_amount_minor: Mapped[int | None] = mapped_column(sa.BigInteger)
    minimum_amount_currency: Mapped[str | None] = mapped_column(sa.String(3))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("customers.id"))


class CouponRedemption(Entity):
    """One redemption of a coupon (through ``promotion_code_id``, or its own code), by the
    subscription it discounts. A coupon's and a promotion code's ``times_redeemed`` are the
    numbers of their rows not released; a redemption is released (``released_at``) only
    when its subscription's first invoice was never paid."""

    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        sa.UniqueConstraint(
            "promotion_code_id", "subscription_id", name="uq_coupon_redemptions_code_once"
        ),
    )

    coupon_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("coupons.id"), index=True)
    promotion_code_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("promotion_codes.id"), index=True
    )
    subscription_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("subscriptions.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    released_at: Mapped[datetime | None]
