"""Promotion codes in GraphQL: the codes customers type at checkout, their validation,
and the staff's lists of coupons and promotion codes."""

import uuid
from datetime import datetime
from operator import attrgetter

import strawberry

from app import models
from app.domain.billing import PromotionRefusal
from app.graphql.read.fields import batched
from app.models import PromotionCode as PromotionCodeRow
from app.schema.coupons import Coupon
from app.schema.enum_values.billing import PROMOTION_REFUSAL
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.idempotency import optional_key
from app.schema.money import Money, MoneyInput
from app.schema.node import Node, encode_gid
from app.schema.pagination import Connection

described_enum(
    PromotionRefusal,
    description="Why a promotion code does not apply to a checkout.",
    values=PROMOTION_REFUSAL,
)


@strawberry.type(
    description="A code customers type at checkout: it gives its coupon's discount while its "
    "own restrictions hold."
)
class PromotionCode(Node):
    code: str = strawberry.field(description="What customers type (matched ignoring case).")
    active: bool = strawberry.field(description="False once deactivated.")
    max_redemptions: int | None = strawberry.field(description="How often it can be used.")
    times_redeemed: int = strawberry.field(description="How often it was used.")
    expires_at: datetime | None = strawberry.field(description="When it stops applying.")
    first_time_only: bool = strawberry.field(
        description="Only for customers without a paid invoice or a successful payment."
    )
    minimum_amount: Money | None = strawberry.field(
        description="The order (its prices' amount per period) must reach this amount."
    )
    customer_id: strawberry.ID | None = strawberry.field(
        description="The only customer who may use it; null: anyone."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    coupon_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The coupon whose discount it gives.")
    @batched(lambda loaders: loaders.coupon, key=attrgetter("coupon_key"))
    def coupon(self, row: models.Coupon | None) -> Coupon:
        assert row is not None, "a promotion code's coupon exists (foreign key)"
        return Coupon.from_model(row)

    @classmethod
    def from_model(cls, row: PromotionCodeRow) -> "PromotionCode":
        minimum = None
        if row.minimum_amount_minor is not None and row.minimum_amount_currency:
            minimum = Money.of(row.minimum_amount_minor, row.minimum_amount_currency)
        return cls(
            id=encode_gid("PromotionCode", row.id),
            code=row.code,
            active=row.active,
            max_redemptions=row.max_redemptions,
            times_redeemed=row.times_redeemed,
            expires_at=row.expires_at,
            first_time_only=row.first_time_only,
            minimum_amount=minimum,
            customer_id=(
                None if row.customer_id is None else encode_gid("Customer", row.customer_id)
            ),
            created_at=row.created_at,
            coupon_key=row.coupon_id,
        )


CouponConnection = Connection[Coupon]
PromotionCodeConnection = Connection[PromotionCode]


@strawberry.input(description="Which coupons to list.")
class CouponFilter:
    active: bool | None = strawberry.field(default=None, description="Active or inactive only.")
    code: str | None = strawberry.field(default=None, description="This code (any case).")


@strawberry.input(description="Which promotion codes to list.")
class PromotionCodeFilter:
    active: bool | None = strawberry.field(default=None, description="Active or inactive only.")
    code: str | None = strawberry.field(default=None, description="This code (any case).")
    coupon_id: strawberry.ID | None = strawberry.field(
        default=None, description="Codes of this coupon."
    )


@strawberry.input(description="A new promotion code of a coupon.")
class CreatePromotionCodeInput:
    idempotency_key: str | None = optional_key()
    coupon_id: strawberry.ID = strawberry.field(description="Global ID of an active coupon.")
    code: str = strawberry.field(
        description="2 to 64 letters, digits, '-' or '_'; unique among active codes, ignoring case."
    )
    max_redemptions: int | None = strawberry.field(
        default=None, description="Usage cap (the coupon's own cap holds too)."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When it stops applying (the coupon's `redeemBy` holds too)."
    )
    first_time_only: bool = strawberry.field(
        default=False,
        description="Only customers without a paid invoice or a successful payment may use it.",
    )
    minimum_amount: MoneyInput | None = strawberry.field(
        default=None, description="The order's amount per period must reach this."
    )
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Restrict it to this customer."
    )


@strawberry.input(description="A promotion code to deactivate.")
class DeactivatePromotionCodeInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the promotion code.")


@strawberry.input(description="A coupon to deactivate.")
class DeactivateCouponInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the coupon.")


@strawberry.input(description="A promotion code and the prices of a checkout.")
class ValidatePromotionCodeInput:
    idempotency_key: str | None = optional_key()
    code: str = strawberry.field(description="What the customer typed.")
    price_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs of the prices in the checkout (one of each), 1 to 20."
    )
    customer_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The customer checking out (a customer session: its own, the default); "
        "null for a visitor.",
    )


@strawberry.type(description="Result of `createPromotionCode` and `deactivatePromotionCode`.")
class PromotionCodePayload:
    promotion_code: PromotionCode | None = strawberry.field(description="The promotion code.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(
    description="Result of `validatePromotionCode`: whether the code applies to these "
    "prices, and the discount it gives on their first invoice (before tax)."
)
class PromotionCodeValidation:
    valid: bool | None = strawberry.field(
        description="The code applies; null when the input was refused (`userErrors`)."
    )
    reason: PromotionRefusal | None = strawberry.field(
        description="Why it does not apply; null when it does."
    )
    coupon: Coupon | None = strawberry.field(description="Its coupon, when it applies.")
    subtotal: Money | None = strawberry.field(
        description="The prices' amount per period (one of each)."
    )
    discount: Money | None = strawberry.field(
        description="The discount of the first invoice; zero when it does not apply."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Bad input (unknown prices, mixed currencies); a refused code is "
        "`reason`, not an error."
    )
