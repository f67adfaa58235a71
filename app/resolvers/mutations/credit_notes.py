"""Mutations of credit notes: issue one for an open or paid invoice, void one."""

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import UserInputError
from app.resolvers.access import owned_key
from app.resolvers.common import Info, key_of, user_errors
from app.resolvers.keyed import mutate_keyed
from app.schema.credit_note_inputs import (
    CreateCreditNoteInput,
    CreditNotePayload,
    VoidCreditNoteInput,
)
from app.schema.invoices import CreditNote
from app.schema.money import MoneyInput
from app.services.billing import credit_note_parts, credit_notes
from app.services.payments.outcomes import Caller


def _money(value: MoneyInput | None) -> tuple[str, str] | None:
    return None if value is None else (value.amount, value.currency)


@strawberry.type
class CreditNoteMutations:
    @strawberry.mutation(
        description="Credit an open invoice (less to pay) or a paid one (a refund, the "
        "customer's credit balance, or money given back out of band) with a numbered credit "
        "note; the invoice itself never changes. Tax is credited per line, exactly."
    )
    async def create_credit_note(
        self,
        info: Info,
        input: Annotated[CreateCreditNoteInput, strawberry.argument(description="The note.")],
    ) -> CreditNotePayload:
        async def act(session: AsyncSession) -> CreditNotePayload:
            refund = input.refund
            issued = await credit_notes.create_credit_note(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                caller=Caller(info.context.principal.scope, input.idempotency_key),
                invoice_id=await owned_key(info, session, input.invoice_id, "Invoice", "invoiceId"),
                lines=None
                if input.lines is None
                else [
                    credit_note_parts.LineRequest(
                        invoice_line_id=key_of(
                            line.invoice_line_id, "InvoiceLine", "lines", str(i), "invoiceLineId"
                        ),
                        quantity=line.quantity,
                        amount=_money(line.amount),
                    )
                    for i, line in enumerate(input.lines)
                ],
                amount=_money(input.amount),
                reason=input.reason,
                memo=input.memo,
                refund=None
                if refund is None
                else credit_note_parts.RefundRequest(
                    payment_id=None
                    if refund.payment_id is None
                    else key_of(refund.payment_id, "Payment", "refund", "paymentId"),
                    amount=_money(refund.amount),
                ),
                credit_balance_amount=_money(input.credit_balance),
                out_of_band_amount=_money(input.out_of_band),
            )
            return CreditNotePayload(
                credit_note=CreditNote.from_model(issued.note),
                user_errors=user_errors(UserInputError(issued.problems)) if issued.problems else [],
            )

        return await mutate_keyed(info, CreditNotePayload, act, input)

    @strawberry.mutation(
        description="Void a credit note, giving back what it did: the amount due of its open "
        "invoice, the credit balance it gave. Refused when it refunded money (a refund cannot "
        "be undone) or when invoices have used its credit balance."
    )
    async def void_credit_note(
        self,
        info: Info,
        input: Annotated[VoidCreditNoteInput, strawberry.argument(description="Which.")],
    ) -> CreditNotePayload:
        async def act(session: AsyncSession) -> CreditNotePayload:
            row = await credit_notes.void_credit_note(
                session,
                clock=info.context.clock,
                credit_note_id=key_of(input.credit_note_id, "CreditNote", "creditNoteId"),
            )
            return CreditNotePayload(credit_note=CreditNote.from_model(row), user_errors=[])

        return await mutate_keyed(info, CreditNotePayload, act, input)
