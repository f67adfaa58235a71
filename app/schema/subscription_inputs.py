"""Inputs and payloads of the subscription mutations."""

import strawberry

from app.domain.billing import ProrationBehavior
from app.schema.enum_values.billing import PRORATION_BEHAVIOR
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.idempotency import optional_key, required_key
from app.schema.subscriptions import Subscription

described_enum(
    ProrationBehavior,
    description="How a change of price or quantity in the middle of a period is billed.",
    values=PRORATION_BEHAVIOR,
)


@strawberry.input(description="One price of a new subscription.")
class SubscriptionItemInput:
    price_id: strawberry.ID = strawberry.field(description="Global ID of a recurring price.")
    quantity: int = strawberry.field(default=1, description="Units, 1 to 10000.")


@strawberry.input(description="Subscribe a customer.")
class CreateSubscriptionInput:
    idempotency_key: str = strawberry.field(
        description="Your unique key for this operation; a retry replays the first result."
    )
    customer_id: strawberry.ID = strawberry.field(description="Global ID of the customer.")
    items: list[SubscriptionItemInput] = strawberry.field(description="Prices to bill.")
    trial_period_days: int | None = strawberry.field(
        default=None, description="Trial length; the price's own trial if omitted."
    )
    payment_method_id: strawberry.ID | None = strawberry.field(
        default=None, description="Method to charge; the customer's default if omitted."
    )
    coupon_code: str | None = strawberry.field(
        default=None, description="A coupon to apply (`INVALID_COUPON` when it does not)."
    )
    promotion_code: str | None = strawberry.field(
        default=None,
        description="A promotion code the customer typed: its coupon discounts the "
        "subscription (`INVALID_PROMOTION_CODE` when it does not apply). Not with `couponCode`.",
    )
    anonymous_id: str | None = strawberry.field(
        default=None,
        description="The visitor's anonymous id from before sign-up: the pricing-experiment "
        "offers it was shown carry over to the customer.",
    )


@strawberry.input(description="Cancel a subscription.")
class CancelSubscriptionInput:
    idempotency_key: str | None = optional_key()
    subscription_id: strawberry.ID = strawberry.field(description="Global ID.")
    at_period_end: bool = strawberry.field(
        default=False, description="Keep it until the current period ends."
    )


@strawberry.input(description="A subscription to pause.")
class SubscriptionActionInput:
    idempotency_key: str | None = optional_key()
    subscription_id: strawberry.ID = strawberry.field(description="Global ID.")


@strawberry.input(
    description="A subscription to resume. Restarting a paused one bills its new period at "
    "once, so a key is required."
)
class ResumeSubscriptionInput:
    idempotency_key: str = required_key()
    subscription_id: strawberry.ID = strawberry.field(description="Global ID.")


@strawberry.input(
    description="Change the price or quantity of a one-item subscription, or its discount "
    "(`promotionCode` or `couponCode`, from its next invoice), or both."
)
class UpdateSubscriptionInput:
    idempotency_key: str = strawberry.field(description="Your unique key for this change.")
    subscription_id: strawberry.ID = strawberry.field(description="Global ID.")
    price_id: strawberry.ID | None = strawberry.field(
        default=None, description="New recurring price (same currency and interval)."
    )
    quantity: int | None = strawberry.field(default=None, description="New quantity.")
    promotion_code: str | None = strawberry.field(
        default=None,
        description="A promotion code whose coupon replaces the subscription's discount from "
        "its next invoice (`INVALID_PROMOTION_CODE` when it does not apply).",
    )
    coupon_code: str | None = strawberry.field(
        default=None,
        description="A coupon that replaces the subscription's discount from its next invoice "
        "(`INVALID_COUPON` when it does not apply). Not with `promotionCode`.",
    )
    proration_behavior: ProrationBehavior = strawberry.field(
        default=ProrationBehavior.CREATE_PRORATIONS, description="How to bill the change."
    )


@strawberry.type(description="Result of a subscription mutation.")
class SubscriptionPayload:
    subscription: Subscription | None = strawberry.field(description="The subscription.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")
