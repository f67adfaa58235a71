"""Inputs and payloads of `createCreditNote` and `voidCreditNote` (the types are with the
invoices': ``app.schema.invoices``)."""

import strawberry

from app.domain.credit_notes import CreditNoteReason
from app.schema.errors import UserError
from app.schema.idempotency import optional_key, required_key
from app.schema.invoices import CreditNote
from app.schema.money import MoneyInput


@strawberry.input(description="What to credit of one invoice line: a quantity or an amount.")
class CreditNoteLineInput:
    invoice_line_id: strawberry.ID = strawberry.field(
        description="The invoice line (`Invoice.lines { id }`)."
    )
    quantity: int | None = strawberry.field(
        default=None, description="Units to credit (their share of the line's amount)."
    )
    amount: MoneyInput | None = strawberry.field(
        default=None,
        description="Amount to credit, after the line's discount and before exclusive tax: "
        "its share of the line's tax is added.",
    )


@strawberry.input(description="The refund of a credit note of a paid invoice.")
class CreditNoteRefundInput:
    payment_id: strawberry.ID | None = strawberry.field(
        default=None, description="The invoice's payment to refund; its latest by default."
    )
    amount: MoneyInput | None = strawberry.field(
        default=None,
        description="Amount to refund; by default what `creditBalance` and `outOfBand` leave "
        "of the note's total.",
    )


@strawberry.input(
    description="Credit an open or paid invoice, by `lines` or by a total `amount`. On a "
    "paid invoice, `refund`, `creditBalance` and `outOfBand` must add up to the note's total."
)
class CreateCreditNoteInput:
    idempotency_key: str = required_key()
    invoice_id: strawberry.ID = strawberry.field(description="Global ID of the invoice.")
    lines: list[CreditNoteLineInput] | None = strawberry.field(
        default=None, description="Lines to credit (or give `amount`)."
    )
    amount: MoneyInput | None = strawberry.field(
        default=None,
        description="A total to credit, tax included, spread over the invoice's lines by "
        "what is left of each (or give `lines`).",
    )
    reason: CreditNoteReason | None = strawberry.field(default=None, description="Why.")
    memo: str | None = strawberry.field(default=None, description="A note for the customer.")
    refund: CreditNoteRefundInput | None = strawberry.field(
        default=None, description="Refund this part through the payment's PSP (paid invoices)."
    )
    credit_balance: MoneyInput | None = strawberry.field(
        default=None,
        description="Add this part to the customer's credit balance (paid invoices): the "
        "next invoices in its currency use it.",
    )
    out_of_band: MoneyInput | None = strawberry.field(
        default=None, description="This part was given back outside paygate (paid invoices)."
    )


@strawberry.input(description="A credit note to void.")
class VoidCreditNoteInput:
    idempotency_key: str | None = optional_key()
    credit_note_id: strawberry.ID = strawberry.field(description="Global ID of the credit note.")


@strawberry.type(description="Result of a credit note mutation.")
class CreditNotePayload:
    credit_note: CreditNote | None = strawberry.field(description="The credit note.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")
