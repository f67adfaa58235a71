"""Inputs and payloads of the invoice mutations, and the filter of `invoices`."""

from datetime import datetime

import strawberry

from app.domain.billing import InvoiceStatus
from app.schema.errors import UserError
from app.schema.idempotency import optional_key, required_key
from app.schema.invoices import Invoice, InvoiceLine
from app.schema.money import MoneyInput
from app.schema.scalars import CurrencyCode


@strawberry.input(description="A one-off charge (or credit) for the customer's next invoice.")
class CreateInvoiceItemInput:
    idempotency_key: str = required_key()
    customer_id: strawberry.ID = strawberry.field(description="Global ID of the customer.")
    amount: MoneyInput = strawberry.field(description="Amount; negative for a credit.")
    description: str = strawberry.field(description="What it is for.")
    subscription_id: strawberry.ID | None = strawberry.field(
        default=None, description="Bill it with this subscription's next invoice."
    )


@strawberry.input(description="A manual invoice of the customer's pending items.")
class CreateInvoiceInput:
    idempotency_key: str = required_key()
    customer_id: strawberry.ID = strawberry.field(description="Global ID of the customer.")
    currency: CurrencyCode = strawberry.field(description="Currency of the items to bill.")


@strawberry.input(description="An invoice to void or mark uncollectible.")
class InvoiceActionInput:
    idempotency_key: str | None = optional_key()
    invoice_id: strawberry.ID = strawberry.field(description="Global ID of the invoice.")


@strawberry.input(
    description="A draft invoice to finalize: it takes the next invoice number and becomes "
    "owed, so a key is required."
)
class FinalizeInvoiceInput:
    idempotency_key: str = required_key()
    invoice_id: strawberry.ID = strawberry.field(description="Global ID of the invoice.")


@strawberry.input(description="Collect an open invoice now, the customer present.")
class PayInvoiceInput:
    idempotency_key: str = strawberry.field(description="Your unique key for this payment.")
    invoice_id: strawberry.ID = strawberry.field(description="Global ID of the invoice.")
    payment_method_id: strawberry.ID | None = strawberry.field(
        default=None, description="Method to charge; the subscription's or customer's default."
    )


@strawberry.input(description="Which invoices to list. All conditions must hold.")
class InvoiceFilter:
    status: list[InvoiceStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    customer_id: strawberry.ID | None = strawberry.field(default=None, description="Customer.")
    period_start_after: datetime | None = strawberry.field(
        default=None, description="Billed periods starting at or after this time."
    )
    period_start_before: datetime | None = strawberry.field(
        default=None, description="Billed periods starting before this time."
    )


@strawberry.type(description="Result of an invoice mutation.")
class InvoicePayload:
    invoice: Invoice | None = strawberry.field(description="The invoice.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of `createInvoiceItem`.")
class InvoiceItemPayload:
    invoice_item: InvoiceLine | None = strawberry.field(description="The pending item.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")
