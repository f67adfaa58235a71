"""Coupons and tax rates in GraphQL."""

from datetime import datetime

import strawberry

from app.domain.billing import CouponDuration
from app.models import Coupon as CouponRow
from app.models import TaxRate as TaxRateRow
from app.schema.enum_values.billing import COUPON_DURATION
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.idempotency import optional_key
from app.schema.money import Money, MoneyInput
from app.schema.node import Node, encode_gid

described_enum(
    CouponDuration,
    description="Which invoices of a subscription a coupon discounts.",
    values=COUPON_DURATION,
)


@strawberry.type(description="A discount customers redeem by code.")
class Coupon(Node):
    code: str = strawberry.field(description="What customers type, upper case.")
    name: str = strawberry.field(description="Shown on invoices.")
    percent_off: str | None = strawberry.field(description="Percentage off, e.g. `12.5`.")
    amount_off: Money | None = strawberry.field(description="Fixed amount off per invoice.")
    duration: CouponDuration = strawberry.field(description="How long it applies.")
    duration_in_months: int | None = strawberry.field(description="For `REPEATING`.")
    max_redemptions: int | None = strawberry.field(description="How often it can be used.")
    times_redeemed: int = strawberry.field(description="How often it was used.")
    redeem_by: datetime | None = strawberry.field(description="Last moment to redeem it.")
    active: bool = strawberry.field(description="False once deactivated: no new redemptions.")

    @classmethod
    def from_model(cls, row: CouponRow) -> "Coupon":
        percent = None
        if row.percent_off_bp is not None:
            percent = f"{row.percent_off_bp // 100}.{row.percent_off_bp % 100:02d}"
        return cls(
            id=encode_gid("Coupon", row.id),
            code=row.code,
            name=row.name,
            percent_off=percent,
            amount_off=(
                Money.of(row.amount_off_minor, row.currency)
                if row.amount_off_minor is not None and row.currency
                else None
            ),
            duration=row.duration,
            duration_in_months=row.duration_in_months,
            max_redemptions=row.max_redemptions,
            times_redeemed=row.times_redeemed,
            redeem_by=row.redeem_by,
            active=row.active,
        )


@strawberry.type(description="A tax rate applied to invoices of customers of a country.")
class TaxRate(Node):
    display_name: str = strawberry.field(description="e.g. `VAT`.")
    percentage: str = strawberry.field(description="e.g. `19.00`.")
    inclusive: bool = strawberry.field(description="Included in prices, or added on top.")
    country: str | None = strawberry.field(description="ISO country; null: every country.")

    @classmethod
    def from_model(cls, row: TaxRateRow) -> "TaxRate":
        return cls(
            id=encode_gid("TaxRate", row.id),
            display_name=row.display_name,
            percentage=f"{row.percentage_bp // 100}.{row.percentage_bp % 100:02d}",
            inclusive=row.inclusive,
            country=row.country,
        )


@strawberry.input(description="A new coupon: give `percentOff` or `amountOff`.")
class CreateCouponInput:
    idempotency_key: str | None = optional_key()
    code: str = strawberry.field(description="2 to 64 letters, digits, '-' or '_'.")
    name: str | None = strawberry.field(default=None, description="Shown on invoices.")
    percent_off: str | None = strawberry.field(
        default=None, description='Percentage as a decimal string, e.g. "25" or "12.5".'
    )
    amount_off: MoneyInput | None = strawberry.field(default=None, description="Fixed amount.")
    duration: CouponDuration = strawberry.field(
        default=CouponDuration.ONCE, description="How long it applies."
    )
    duration_in_months: int | None = strawberry.field(default=None, description="REPEATING.")
    max_redemptions: int | None = strawberry.field(default=None, description="Usage cap.")
    redeem_by: datetime | None = strawberry.field(default=None, description="Expiry.")


@strawberry.input(description="A new tax rate.")
class CreateTaxRateInput:
    idempotency_key: str | None = optional_key()
    display_name: str = strawberry.field(description="e.g. `VAT`.")
    percentage: str = strawberry.field(description='e.g. "19" or "7.7".')
    inclusive: bool = strawberry.field(description="Included in prices, or added on top.")
    country: str | None = strawberry.field(default=None, description="ISO country, or null.")


@strawberry.type(description="Result of `createCoupon` and `deactivateCoupon`.")
class CouponPayload:
    coupon: Coupon | None = strawberry.field(description="The coupon.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of `createTaxRate`.")
class TaxRatePayload:
    tax_rate: TaxRate | None = strawberry.field(description="The rate.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")
