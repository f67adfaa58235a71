"""Invoices in GraphQL: the bill, its lines, and the preview of a subscription change."""

import uuid
from collections.abc import Callable
from datetime import datetime
from operator import attrgetter
from typing import Any

import strawberry

from app import models
from app.domain.billing import BillingReason, InvoiceStatus
from app.domain.billing import Preview as PreviewData
from app.domain.credit_notes import CreditNoteReason, CreditNoteStatus
from app.graphql.read.fields import batched, reads
from app.models import CreditNote as CreditNoteRow
from app.models import CreditNoteLine as CreditNoteLineRow
from app.models import Invoice as InvoiceRow
from app.models import InvoiceLine as InvoiceLineRow
from app.schema.dunning import STOP_COLUMNS, CollectionStop
from app.schema.enum_values.billing import BILLING_REASON, INVOICE_STATUS
from app.schema.enums import described_enum
from app.schema.money import Money
from app.schema.node import Node, encode_gid
from app.schema.pagination import Connection
from app.schema.payment import Payment, Refund

described_enum(
    InvoiceStatus,
    description="`DRAFT → OPEN → PAID | VOID | UNCOLLECTIBLE`.",
    values=INVOICE_STATUS,
)
described_enum(BillingReason, description="Why an invoice was made.", values=BILLING_REASON)


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
    same=(
        "description",
        "quantity",
        "proration",
        "period_start",
        "period_end",
        "usage_quantity",
        "usage_adjustment",
    ),
    unit_amount=("unit_amount_minor",),
    amount=("amount_minor",),
    discount=("discount_minor",),
    tax=("tax_minor",),
    tax_included=("tax_included_minor",),
    id=("id",),
)
@strawberry.type(description="One line of an invoice.")
class InvoiceLine:
    @strawberry.field(
        description="The line's ID (credit notes name it); null on a preview's lines."
    )
    def id(self) -> strawberry.ID | None:
        return None if self.key is None else strawberry.ID(encode_gid("InvoiceLine", self.key))

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
    usage_quantity: str | None = strawberry.field(
        default=None,
        description="A usage line: the meter's quantity over the period (exact decimal); "
        "null for other lines.",
    )
    usage_adjustment: bool = strawberry.field(
        default=False,
        description="A usage line correcting an earlier, finalized period (late usage).",
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
            usage_quantity=row.usage_quantity,
            usage_adjustment=row.usage_adjustment,
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
    amount_remaining=(
        "total_minor",
        "amount_paid_minor",
        "amount_credited_minor",
        "balance_applied_minor",
        "currency",
    ),
    amount_credited=("amount_credited_minor", "currency"),
    credit_balance_applied=("balance_applied_minor", "currency"),
    credit_notes=("id",),
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
        resolver=_in_minor_units("amount_remaining_minor"),
        description="Still to pay: `total - amountPaid - amountCredited - creditBalanceApplied`.",
    )
    amount_credited: Money = strawberry.field(
        resolver=_in_minor_units("amount_credited_minor"),
        description="Taken off what is owed by credit notes issued before payment.",
    )
    credit_balance_applied: Money = strawberry.field(
        resolver=_in_minor_units("balance_applied_minor"),
        description="Paid from the customer's credit balance when it was finalized.",
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
    amount_credited_minor: strawberry.Private[int]
    balance_applied_minor: strawberry.Private[int]

    @property
    def amount_remaining_minor(self) -> int:
        return (
            self.total_minor
            - self.amount_paid_minor
            - self.amount_credited_minor
            - self.balance_applied_minor
        )

    @strawberry.field(description="Its credit notes, oldest first.")
    @batched(lambda loaders: loaders.invoice_credit_notes)
    def credit_notes(self, rows: list[models.CreditNote]) -> list["CreditNote"]:
        return [CreditNote.from_model(row) for row in rows]

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
            amount_credited_minor=row.amount_credited_minor,
            balance_applied_minor=row.balance_applied_minor,
            attempt_count=row.attempt_count,
            due_date=row.due_date,
            paid_at=row.paid_at,
            created_at=row.created_at,
            collection_stop=CollectionStop.of(row),
        )


described_enum(
    CreditNoteStatus,
    description="`ISSUED → VOID`.",
    values={
        CreditNoteStatus.ISSUED: "In effect: it credits its invoice.",
        CreditNoteStatus.VOID: (
            "Voided (`voidCreditNote`): what it did is given back, and it keeps its number."
        ),
    },
)
described_enum(
    CreditNoteReason,
    description="Why an invoice is credited (Stripe's credit note reasons).",
    values={
        CreditNoteReason.DUPLICATE: "The invoice billed something twice.",
        CreditNoteReason.FRAUDULENT: "The purchase was fraudulent.",
        CreditNoteReason.ORDER_CHANGE: "The order changed after the invoice.",
        CreditNoteReason.PRODUCT_UNSATISFACTORY: "The customer was not satisfied.",
    },
)


@strawberry.type(description="What a credit note credits of one invoice line.")
class CreditNoteLine:
    description: str = strawberry.field(description="The invoice line's description.")
    quantity: int | None = strawberry.field(
        description="Units credited, when the line was credited by quantity."
    )
    amount: Money = strawberry.field(
        description="Amount credited of the line (after its discount, before exclusive tax)."
    )
    tax: Money = strawberry.field(description="Exclusive tax credited with it.")
    tax_included: Money = strawberry.field(
        description="Inclusive tax contained in `amount` (inclusive rates)."
    )
    invoice_line_id: strawberry.ID = strawberry.field(description="The invoice line credited.")

    @classmethod
    def from_model(cls, row: CreditNoteLineRow, currency: str) -> "CreditNoteLine":
        return cls(
            description=row.description,
            quantity=row.quantity,
            amount=Money.of(row.amount_minor, currency),
            tax=Money.of(row.tax_minor, currency),
            tax_included=Money.of(row.tax_included_minor, currency),
            invoice_line_id=strawberry.ID(encode_gid("InvoiceLine", row.invoice_line_id)),
        )


@strawberry.type(
    description="A numbered correction of an open or paid invoice (the invoice itself never "
    "changes): `total = subtotal + tax = amount credited before payment + refund + "
    "creditBalanceAmount + outOfBandAmount`."
)
class CreditNote(Node):
    number: str = strawberry.field(
        description="Sequential number without gaps, of its own sequence: `PG-CN-000001`."
    )
    status: CreditNoteStatus = strawberry.field(description="Issued or void.")
    reason: CreditNoteReason | None = strawberry.field(description="Why.")
    memo: str | None = strawberry.field(description="A note for the customer.")
    subtotal: Money = strawberry.field(description="Amounts credited of the lines.")
    tax: Money = strawberry.field(description="Exclusive tax credited, summed per line.")
    tax_included: Money = strawberry.field(description="Inclusive tax inside `subtotal`.")
    total: Money = strawberry.field(description="`subtotal + tax`.")
    pre_payment_amount: Money = strawberry.field(
        description="What it took off the amount due of the invoice (an open invoice)."
    )
    refund_amount: Money = strawberry.field(description="What it refunds of the payment.")
    credit_balance_amount: Money = strawberry.field(
        description="What it adds to the customer's credit balance."
    )
    out_of_band_amount: Money = strawberry.field(
        description="What was given back outside paygate (recorded only)."
    )
    voided_at: datetime | None = strawberry.field(description="When it was voided.")
    created_at: datetime = strawberry.field(description="When it was issued.")
    key: strawberry.Private[uuid.UUID]
    currency: strawberry.Private[str]
    invoice_key: strawberry.Private[uuid.UUID]
    refund_key: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The invoice it credits.")
    @batched(lambda loaders: loaders.invoice, key=attrgetter("invoice_key"))
    def invoice(self, row: models.Invoice | None) -> Invoice:
        assert row is not None
        return Invoice.from_model(row)

    @strawberry.field(description="The lines credited.")
    @batched(lambda loaders: loaders.credit_note_lines)
    def lines(self, rows: list[models.CreditNoteLine]) -> list[CreditNoteLine]:
        return [CreditNoteLine.from_model(row, self.currency) for row in rows]

    @strawberry.field(description="Its refund, once made (null: it refunds nothing).")
    @batched(lambda loaders: loaders.refund, key=attrgetter("refund_key"))
    def refund(self, row: models.Refund | None) -> Refund | None:
        return None if row is None else Refund.from_model(row)

    @classmethod
    def from_model(cls, row: CreditNoteRow) -> "CreditNote":
        currency = row.currency
        return cls(
            id=encode_gid("CreditNote", row.id),
            key=row.id,
            currency=currency,
            invoice_key=row.invoice_id,
            refund_key=row.refund_id,
            number=row.number,
            status=row.status,
            reason=row.reason,
            memo=row.memo,
            subtotal=Money.of(row.subtotal_minor, currency),
            tax=Money.of(row.tax_minor, currency),
            tax_included=Money.of(row.tax_included_minor, currency),
            total=Money.of(row.total_minor, currency),
            pre_payment_amount=Money.of(row.pre_payment_minor, currency),
            refund_amount=Money.of(row.refund_minor, currency),
            credit_balance_amount=Money.of(row.credit_balance_minor, currency),
            out_of_band_amount=Money.of(row.out_of_band_minor, currency),
            voided_at=row.voided_at,
            created_at=row.created_at,
        )


@strawberry.type(
    description="An invoice not made yet: what a subscription change would produce (a dry "
    "run), or a subscription's upcoming invoice."
)
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
                    usage_quantity=line.usage_quantity,
                    usage_adjustment=line.usage_adjustment,
                )
                for line in preview.lines
            ],
            subtotal=Money.of(preview.subtotal_minor, currency),
            total=Money.of(preview.total_minor, currency),
        )


InvoiceConnection = Connection[Invoice]
CreditNoteConnection = Connection[CreditNote]
