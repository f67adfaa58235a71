"""Subscriptions, invoices and test clocks in GraphQL."""

import uuid
from collections.abc import Callable
from datetime import datetime
from operator import attrgetter
from typing import Any

import strawberry

from app import models
from app.context import RequestContext
from app.domain.billing import (
    BillingReason,
    InvoiceStatus,
    ProrationBehavior,
    SubscriptionStatus,
)
from app.domain.billing import Preview as PreviewData
from app.graphql.read.fields import batched, reads
from app.models import Invoice as InvoiceRow
from app.models import InvoiceLine as InvoiceLineRow
from app.models import Subscription as SubscriptionRow
from app.models import SubscriptionItem as ItemRow
from app.models import TestClock as TestClockRow
from app.schema.catalog import Price
from app.schema.dunning import STOP_COLUMNS, CollectionStop
from app.schema.enum_values.billing import (
    BILLING_REASON,
    INVOICE_STATUS,
    PRORATION_BEHAVIOR,
    SUBSCRIPTION_STATUS,
)
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.experiments import Experiment, ExperimentVariant
from app.schema.idempotency import optional_key, required_key
from app.schema.money import Money, MoneyInput
from app.schema.node import Node, encode_gid
from app.schema.pagination import Connection
from app.schema.payment import Payment
from app.schema.scalars import CurrencyCode

Info = strawberry.Info[RequestContext, None]

described_enum(
    SubscriptionStatus,
    description="Where a subscription stands: whether it is billed, and whether it is paid.",
    values=SUBSCRIPTION_STATUS,
)
described_enum(
    InvoiceStatus,
    description="`DRAFT → OPEN → PAID | VOID | UNCOLLECTIBLE`.",
    values=INVOICE_STATUS,
)
described_enum(BillingReason, description="Why an invoice was made.", values=BILLING_REASON)


@strawberry.type(description="A price on a subscription, at the amount it was sold at.")
class SubscriptionItem:
    quantity: int = strawberry.field(description="Units billed each period.")
    unit_amount: Money = strawberry.field(
        description="Price per unit locked at sale: later price changes do not move it."
    )
    price_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The price sold (its current state).")
    @batched(lambda loaders: loaders.price, key=attrgetter("price_key"))
    def price(self, row: models.Price | None) -> Price:
        assert row is not None
        return Price.from_model(row)

    @classmethod
    def from_model(cls, row: ItemRow, currency: str) -> "SubscriptionItem":
        return cls(
            quantity=row.quantity,
            unit_amount=Money.of(row.unit_amount_minor, currency),
            price_key=row.price_id,
        )


def _in_minor_units(attribute: str, *, optional: bool = False) -> Callable[[Any], Any]:
    """The resolver of an amount kept in minor units in ``attribute`` of its object (in the
    object's ``currency``): the ``Money`` is made only when the field is selected, and the
    executor calls a resolver that takes only its object like an attribute read
    (``app.graphql.resolver_path.plans``). A page selects a few of an invoice's or a line's
    amounts."""
    minor_units = attrgetter(attribute)

    def amount(root: Any) -> Money | None:
        minor = minor_units(root)
        return None if optional and minor is None else Money.of(minor, root.currency)

    return amount


@reads(
    models.InvoiceLine,
    same=("description", "quantity", "proration", "period_start", "period_end"),
    unit_amount=("unit_amount_minor",),
    amount=("amount_minor",),
    discount=("discount_minor",),
    tax=("tax_minor",),
    tax_included=("tax_included_minor",),
)
@strawberry.type(description="One line of an invoice.")
class InvoiceLine:
    description: str = strawberry.field(description="What is billed.")
    quantity: int = strawberry.field(description="Units.")
    unit_amount: Money = strawberry.field(
        resolver=_in_minor_units("unit_amount_minor"), description="Per unit."
    )
    amount: Money = strawberry.field(
        resolver=_in_minor_units("amount_minor"), description="Line total."
    )
    proration: bool = strawberry.field(description="A proration of a change mid-period.")
    period_start: datetime | None = strawberry.field(description="Service period start.")
    period_end: datetime | None = strawberry.field(description="Service period end.")
    discount: Money | None = strawberry.field(
        resolver=_in_minor_units("discount_minor", optional=True),
        description="This line's share of the invoice discount.",
    )
    tax: Money | None = strawberry.field(
        resolver=_in_minor_units("tax_minor", optional=True),
        description="Tax added on this line (exclusive rates), rounded per line.",
    )
    tax_included: Money | None = strawberry.field(
        resolver=_in_minor_units("tax_included_minor", optional=True),
        description="Tax contained in this line's amount (inclusive rates).",
    )
    currency: strawberry.Private[str]
    unit_amount_minor: strawberry.Private[int]
    amount_minor: strawberry.Private[int]
    discount_minor: strawberry.Private[int | None] = None
    tax_minor: strawberry.Private[int | None] = None
    tax_included_minor: strawberry.Private[int | None] = None
    # The line's database key (lines have no global ID): a replayed `createInvoiceItem`
    # reads its line again by it.
    key: strawberry.Private[uuid.UUID | None] = None

    @classmethod
    def from_model(cls, row: InvoiceLineRow, currency: str) -> "InvoiceLine":
        return cls(
            key=row.id,
            description=row.description,
            quantity=row.quantity,
            currency=currency,
            unit_amount_minor=row.unit_amount_minor,
            amount_minor=row.amount_minor,
            discount_minor=row.discount_minor,
            tax_minor=row.tax_minor,
            tax_included_minor=row.tax_included_minor,
            proration=row.proration,
            period_start=row.period_start,
            period_end=row.period_end,
        )


@reads(
    models.Invoice,
    same=(
        "id",
        "number",
        "status",
        "billing_reason",
        "period_start",
        "period_end",
        "attempt_count",
        "due_date",
        "paid_at",
        "created_at",
    ),
    subtotal=("subtotal_minor", "currency"),
    discount=("discount_minor", "currency"),
    tax=("tax_minor", "currency"),
    tax_included=("tax_included_minor", "currency"),
    total=("total_minor", "currency"),
    amount_paid=("amount_paid_minor", "currency"),
    amount_remaining=("total_minor", "amount_paid_minor", "currency"),
    lines=("id", "currency"),  # the lines' amounts are in the invoice's currency
    payments=("id",),
    collection_stop=STOP_COLUMNS,
)
@strawberry.type(description="A bill: `total = subtotal - discounts + tax`, in minor units.")
class Invoice(Node):
    number: str | None = strawberry.field(
        description="Sequential number without gaps, set when finalized, e.g. `PG-000042`."
    )
    status: InvoiceStatus = strawberry.field(description="Where the invoice stands.")
    billing_reason: BillingReason = strawberry.field(description="Why it was made.")
    period_start: datetime = strawberry.field(description="Start of the billed period.")
    period_end: datetime = strawberry.field(description="End of the billed period.")
    subtotal: Money = strawberry.field(
        resolver=_in_minor_units("subtotal_minor"), description="Sum of the lines."
    )
    discount: Money = strawberry.field(
        resolver=_in_minor_units("discount_minor"), description="Discounts."
    )
    tax: Money = strawberry.field(
        resolver=_in_minor_units("tax_minor"),
        description="Tax added (exclusive rates), summed per line.",
    )
    tax_included: Money = strawberry.field(
        resolver=_in_minor_units("tax_included_minor"),
        description="Tax inside the amounts (inclusive).",
    )
    total: Money = strawberry.field(
        resolver=_in_minor_units("total_minor"), description="Subtotal - discount + tax."
    )
    amount_paid: Money = strawberry.field(
        resolver=_in_minor_units("amount_paid_minor"), description="Paid so far."
    )
    amount_remaining: Money = strawberry.field(
        resolver=_in_minor_units("amount_remaining_minor"), description="Still to pay."
    )
    attempt_count: int = strawberry.field(description="Collection attempts so far.")
    due_date: datetime | None = strawberry.field(description="When payment is due.")
    paid_at: datetime | None = strawberry.field(description="When it was paid.")
    created_at: datetime = strawberry.field(description="When it was drafted.")
    collection_stop: CollectionStop | None = strawberry.field(
        description="Why automatic collection of this invoice stopped and what the customer "
        "must do; null while it is collected (or paid)."
    )
    key: strawberry.Private[uuid.UUID]
    currency: strawberry.Private[str]
    subtotal_minor: strawberry.Private[int]
    discount_minor: strawberry.Private[int]
    tax_minor: strawberry.Private[int]
    tax_included_minor: strawberry.Private[int]
    total_minor: strawberry.Private[int]
    amount_paid_minor: strawberry.Private[int]

    @property
    def amount_remaining_minor(self) -> int:
        return self.total_minor - self.amount_paid_minor

    @strawberry.field(description="The lines billed.")
    @batched(lambda loaders: loaders.invoice_lines, narrow=())
    def lines(self, rows: list[models.InvoiceLine]) -> list[InvoiceLine]:
        return [InvoiceLine.from_model(row, self.currency) for row in rows]

    @strawberry.field(description="Payments made to collect it, oldest first.")
    @batched(lambda loaders: loaders.invoice_payments)
    def payments(self, rows: list[models.Payment]) -> list[Payment]:
        return [Payment.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: InvoiceRow) -> "Invoice":
        currency = row.currency
        return cls(
            id=encode_gid("Invoice", row.id),
            key=row.id,
            currency=currency,
            number=row.number,
            status=row.status,
            billing_reason=row.billing_reason,
            period_start=row.period_start,
            period_end=row.period_end,
            subtotal_minor=row.subtotal_minor,
            discount_minor=row.discount_minor,
            tax_minor=row.tax_minor,
            tax_included_minor=row.tax_included_minor,
            total_minor=row.total_minor,
            amount_paid_minor=row.amount_paid_minor,
            attempt_count=row.attempt_count,
            due_date=row.due_date,
            paid_at=row.paid_at,
            created_at=row.created_at,
            collection_stop=CollectionStop.of(row),
        )


@reads(
    models.Subscription,
    same=(
        "id",
        "status",
        "current_period_start",
        "current_period_end",
        "trial_end",
        "cancel_at_period_end",
        "canceled_at",
        "ended_at",
        "next_retry_at",
        "created_at",
    ),
    experiment=("experiment_id",),
    experiment_variant=("experiment_variant_id",),
    items=("id", "currency"),  # the items' amounts are in the subscription's currency
    invoices=("id",),
    latest_invoice=("id",),
    collection_stop=STOP_COLUMNS,
)
@strawberry.type(description="A customer's recurring purchase of one or more prices.")
class Subscription(Node):
    status: SubscriptionStatus = strawberry.field(description="Where it stands.")
    current_period_start: datetime = strawberry.field(description="Current period start.")
    current_period_end: datetime = strawberry.field(description="Current period end.")
    trial_end: datetime | None = strawberry.field(description="When the trial ends(ed).")
    cancel_at_period_end: bool = strawberry.field(description="Ends when this period ends.")
    canceled_at: datetime | None = strawberry.field(description="When cancellation was asked.")
    ended_at: datetime | None = strawberry.field(description="When it ended.")
    next_retry_at: datetime | None = strawberry.field(description="Next dunning retry.")
    created_at: datetime = strawberry.field(description="When it was created.")
    collection_stop: CollectionStop | None = strawberry.field(
        description="Why paygate stopped collecting this subscription's invoices on its own "
        "(no retry is scheduled) and what the customer must do; null while it collects."
    )
    key: strawberry.Private[uuid.UUID]
    currency: strawberry.Private[str]
    experiment_key: strawberry.Private[uuid.UUID | None]
    variant_key: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The pricing experiment it was sold under; null: none.")
    @batched(lambda loaders: loaders.experiment, key=attrgetter("experiment_key"))
    def experiment(self, row: models.Experiment | None) -> Experiment | None:
        return None if row is None else Experiment.from_model(row)

    @strawberry.field(description="The variant the customer was shown; null: none.")
    @batched(lambda loaders: loaders.experiment_variant, key=attrgetter("variant_key"))
    def experiment_variant(self, row: models.ExperimentVariant | None) -> ExperimentVariant | None:
        return None if row is None else ExperimentVariant.from_model(row)

    @strawberry.field(description="What is billed each period.")
    @batched(lambda loaders: loaders.subscription_items)
    def items(self, rows: list[models.SubscriptionItem]) -> list[SubscriptionItem]:
        return [SubscriptionItem.from_model(row, self.currency) for row in rows]

    @strawberry.field(description="Its invoices, oldest first.")
    @batched(lambda loaders: loaders.subscription_invoices, narrow=())
    def invoices(self, rows: list[models.Invoice]) -> list[Invoice]:
        return [Invoice.from_model(row) for row in rows]

    @strawberry.field(description="The most recent invoice (its payment shows any 3DS step).")
    @batched(
        lambda loaders: loaders.subscription_last_invoices,
        key=lambda parent: (parent.key, 1),
        narrow=(),
    )
    def latest_invoice(self, rows: list[models.Invoice]) -> Invoice | None:
        return Invoice.from_model(rows[-1]) if rows else None

    @classmethod
    def from_model(cls, row: SubscriptionRow) -> "Subscription":
        return cls(
            id=encode_gid("Subscription", row.id),
            key=row.id,
            currency=row.currency,
            status=row.status,
            current_period_start=row.current_period_start,
            current_period_end=row.current_period_end,
            trial_end=row.trial_end,
            cancel_at_period_end=row.cancel_at_period_end,
            canceled_at=row.canceled_at,
            ended_at=row.ended_at,
            next_retry_at=row.next_retry_at,
            created_at=row.created_at,
            collection_stop=CollectionStop.of(row),
            experiment_key=row.experiment_id,
            variant_key=row.experiment_variant_id,
        )


@strawberry.type(description="A simulated clock for sandbox testing of billing over time.")
class TestClock(Node):
    __test__ = False
    name: str = strawberry.field(description="Your label.")
    frozen_time: datetime = strawberry.field(description="The clock's current time.")

    @classmethod
    def from_model(cls, row: TestClockRow) -> "TestClock":
        return cls(id=encode_gid("TestClock", row.id), name=row.name, frozen_time=row.frozen_time)


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


@strawberry.input(description="A new test clock (sandbox).")
class CreateTestClockInput:
    idempotency_key: str | None = optional_key()
    frozen_time: datetime = strawberry.field(description="Its starting time.")
    name: str | None = strawberry.field(default=None, description="Your label.")


@strawberry.input(description="Move a test clock forward; billing runs up to the new time.")
class AdvanceTestClockInput:
    idempotency_key: str | None = optional_key()
    test_clock_id: strawberry.ID = strawberry.field(description="Global ID of the clock.")
    frozen_time: datetime = strawberry.field(description="The new time (later than now).")


@strawberry.type(description="Result of a subscription mutation.")
class SubscriptionPayload:
    subscription: Subscription | None = strawberry.field(description="The subscription.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of a test clock mutation.")
class TestClockPayload:
    __test__ = False
    test_clock: TestClock | None = strawberry.field(description="The clock.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


described_enum(
    ProrationBehavior,
    description="How a change of price or quantity in the middle of a period is billed.",
    values=PRORATION_BEHAVIOR,
)


@strawberry.type(description="The invoice a subscription change would produce (a dry run).")
class InvoicePreview:
    immediate: bool = strawberry.field(
        description="Billed at once (`ALWAYS_INVOICE`), or the next renewal invoice."
    )
    period_start: datetime = strawberry.field(description="Start of the billed period.")
    period_end: datetime = strawberry.field(description="End of the billed period.")
    lines: list[InvoiceLine] = strawberry.field(description="The lines it would carry.")
    subtotal: Money = strawberry.field(description="Sum of the lines.")
    total: Money = strawberry.field(description="What would be charged.")

    @classmethod
    def from_preview(cls, preview: PreviewData) -> "InvoicePreview":
        currency = preview.currency
        return cls(
            immediate=preview.immediate,
            period_start=preview.period_start,
            period_end=preview.period_end,
            lines=[
                InvoiceLine(
                    description=line.description,
                    quantity=line.quantity,
                    currency=currency,
                    unit_amount_minor=line.unit_amount_minor,
                    amount_minor=line.amount_minor,
                    proration=line.proration,
                    period_start=line.period_start,
                    period_end=line.period_end,
                )
                for line in preview.lines
            ],
            subtotal=Money.of(preview.subtotal_minor, currency),
            total=Money.of(preview.total_minor, currency),
        )


@strawberry.input(description="Change the price or quantity of a one-item subscription.")
class UpdateSubscriptionInput:
    idempotency_key: str = strawberry.field(description="Your unique key for this change.")
    subscription_id: strawberry.ID = strawberry.field(description="Global ID.")
    price_id: strawberry.ID | None = strawberry.field(
        default=None, description="New recurring price (same currency and interval)."
    )
    quantity: int | None = strawberry.field(default=None, description="New quantity.")
    proration_behavior: ProrationBehavior = strawberry.field(
        default=ProrationBehavior.CREATE_PRORATIONS, description="How to bill the change."
    )


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


InvoiceConnection = Connection[Invoice]
