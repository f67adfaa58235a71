"""Inputs and payloads of the money-moving mutations. Each takes an idempotency key."""

import strawberry

from app.domain.payments import CaptureMethod, RefundReason
from app.schema.errors import UserError
from app.schema.idempotency import IDEMPOTENCY_KEY
from app.schema.money import MoneyInput
from app.schema.payment import Payment, Refund
from app.schema.scalars import Metadata


@strawberry.input(description="A one-off charge.")
class CreatePaymentInput:
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)
    customer_id: strawberry.ID = strawberry.field(description="Global ID of the customer.")
    amount: MoneyInput = strawberry.field(description="What to charge.")
    payment_method_id: strawberry.ID | None = strawberry.field(
        default=None, description="One of the customer's methods; their default if omitted."
    )
    capture_method: CaptureMethod = strawberry.field(
        default=CaptureMethod.AUTOMATIC, description="Capture now, or authorise only."
    )
    off_session: bool = strawberry.field(
        default=False,
        description="The customer is not present (no 3DS challenge possible; an issuer that "
        "asks for one declines with `AUTHENTICATION_REQUIRED`).",
    )
    return_url: str | None = strawberry.field(
        default=None, description="Where the customer lands after a 3DS page or approval."
    )
    description: str | None = strawberry.field(default=None, description="Your description.")
    metadata: Metadata | None = strawberry.field(default=None, description="Key-value data.")


@strawberry.input(description="A payment to act on.")
class PaymentActionInput:
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)
    payment_id: strawberry.ID = strawberry.field(description="Global ID of the payment.")


@strawberry.input(description="Capture an authorised payment, in full or in part.")
class CapturePaymentInput:
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)
    payment_id: strawberry.ID = strawberry.field(description="Global ID of the payment.")
    amount: MoneyInput | None = strawberry.field(
        default=None, description="Part to capture; all that is capturable if omitted."
    )


@strawberry.input(description="Give money back. Several partial refunds are allowed.")
class CreateRefundInput:
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)
    payment_id: strawberry.ID = strawberry.field(description="Global ID of the payment.")
    amount: MoneyInput | None = strawberry.field(
        default=None, description="Amount to refund; all that is left if omitted."
    )
    reason: RefundReason = strawberry.field(
        default=RefundReason.REQUESTED_BY_CUSTOMER, description="Why."
    )


@strawberry.type(description="Result of a payment mutation.")
class PaymentPayload:
    payment: Payment | None = strawberry.field(
        description="The payment (also when it failed: see `status` and `decline`)."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why the input was refused or the payment did not go through."
    )


@strawberry.type(description="Result of `createRefund`.")
class RefundPayload:
    refund: Refund | None = strawberry.field(description="The refund.")
    payment: Payment | None = strawberry.field(description="The payment after the refund.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")
