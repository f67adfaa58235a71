"""Payment method types, inputs and payloads. Only what is safe to show: no card data."""

import enum
import uuid
from datetime import datetime

import strawberry

from app.domain.payment_methods import SetupKind
from app.graphql.read.fields import reads
from app.models import PaymentMethod as PaymentMethodRow
from app.schema.enum_values.payments import PAYMENT_METHOD_SETUP_KIND
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.idempotency import optional_key
from app.schema.node import Node, encode_gid


class Psp(enum.Enum):
    SANDBOX = "sandbox"
    STRIPE = "stripe"
    PAYPAL = "paypal"


described_enum(
    Psp,
    description="Payment service providers paygate can use.",
    values={
        Psp.SANDBOX: (
            "paygate's built-in test PSP: in process and deterministic, driven by magic "
            "tokens (`tok_visa`, `tok_threeDSecureRequired` …). Always enabled outside the "
            "production profile."
        ),
        Psp.STRIPE: "Stripe: cards and wallets, set up in the browser with Stripe.js.",
        Psp.PAYPAL: "PayPal: the payer approves in PayPal; payment tokens are vaulted there.",
    },
)
PaymentMethodSetupKind = described_enum(
    SetupKind,
    name="PaymentMethodSetupKind",
    description="How the frontend completes the set-up of a payment method.",
    values=PAYMENT_METHOD_SETUP_KIND,
)


@reads(
    PaymentMethodRow,
    same=(
        "id",
        "psp",
        "type",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "wallet",
        "email",
        "is_default",
        "created_at",
    ),
    always=("psp",),  # converted by from_model
    is_detached=("detached_at",),
)
@strawberry.type(description="A payment method saved at a PSP: a card, a PayPal account …")
class PaymentMethod(Node):
    psp: Psp = strawberry.field(description="The PSP that holds it.")
    type: str = strawberry.field(description="`card`, `paypal`, …")
    brand: str | None = strawberry.field(description="Card brand, e.g. `visa`.")
    last4: str | None = strawberry.field(description="Last four digits of the card number.")
    exp_month: int | None = strawberry.field(description="Expiry month, 1-12.")
    exp_year: int | None = strawberry.field(description="Expiry year, four digits.")
    wallet: str | None = strawberry.field(description="Wallet it came from, e.g. `apple_pay`.")
    email: str | None = strawberry.field(description="Account email of a PayPal method.")
    is_default: bool = strawberry.field(description="Used when no method is named.")
    is_detached: bool = strawberry.field(description="Detached: kept only for history.")
    created_at: datetime = strawberry.field(description="When it was first attached.")
    key: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: PaymentMethodRow) -> "PaymentMethod":
        return cls(
            id=encode_gid("PaymentMethod", row.id),
            key=row.id,
            psp=Psp(row.psp),
            type=row.type,
            brand=row.brand,
            last4=row.last4,
            exp_month=row.exp_month,
            exp_year=row.exp_year,
            wallet=row.wallet,
            email=row.email,
            is_default=row.is_default,
            is_detached=row.detached_at is not None,
            created_at=row.created_at,
        )


@strawberry.type(description="What the frontend needs to collect a payment method.")
class PaymentMethodSetup:
    psp: Psp = strawberry.field(description="The PSP collecting it.")
    kind: SetupKind = strawberry.field(description="How to complete the set-up.")
    reference: str = strawberry.field(description="The PSP's set-up object.")
    client_secret: str | None = strawberry.field(
        description="For `CLIENT_SECRET`: hand to the PSP's browser SDK; never log it."
    )
    approval_url: str | None = strawberry.field(description="For `REDIRECT`: where to send.")
    token: str | None = strawberry.field(description="For `TOKEN`: the token to attach.")


@strawberry.input(description="Begin saving a payment method for a customer.")
class StartPaymentMethodSetupInput:
    idempotency_key: str | None = optional_key()
    customer_id: strawberry.ID = strawberry.field(description="Global ID of the customer.")
    psp: Psp | None = strawberry.field(default=None, description="PSP; default if omitted.")
    return_url: str | None = strawberry.field(
        default=None, description="Where the PSP sends the customer back after approval."
    )
    cancel_url: str | None = strawberry.field(
        default=None, description="Where the PSP sends the customer who cancels."
    )


@strawberry.input(description="Save a tokenised payment method. Card numbers are refused.")
class AttachPaymentMethodInput:
    idempotency_key: str | None = optional_key()
    customer_id: strawberry.ID = strawberry.field(description="Global ID of the customer.")
    token: str = strawberry.field(
        description="A PSP token (`pm_…`, an approved PayPal set-up token, `tok_visa` in the "
        "sandbox). Never a card number."
    )
    psp: Psp | None = strawberry.field(default=None, description="PSP; default if omitted.")
    set_as_default: bool = strawberry.field(
        default=False,
        description="Make it the default (the first method always is). A new default "
        "retries the open invoices of past-due and unpaid subscriptions at once.",
    )


@strawberry.input(description="A customer's payment method.")
class CustomerPaymentMethodInput:
    idempotency_key: str | None = optional_key()
    customer_id: strawberry.ID = strawberry.field(description="Global ID of the customer.")
    payment_method_id: strawberry.ID = strawberry.field(
        description="Global ID of one of that customer's payment methods."
    )


@strawberry.type(description="Result of `startPaymentMethodSetup`.")
class StartPaymentMethodSetupPayload:
    setup: PaymentMethodSetup | None = strawberry.field(description="What to do next.")
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")


@strawberry.type(description="Result of a change to a payment method.")
class PaymentMethodPayload:
    payment_method: PaymentMethod | None = strawberry.field(description="The method after it.")
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")
