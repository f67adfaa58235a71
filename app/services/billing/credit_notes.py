"""Credit notes: numbered corrections of an open or paid invoice that never edit it
(Stripe's credit notes).

On an open invoice a note takes its total off the amount due (an invoice credited to zero
is paid, as Stripe marks it). On a paid invoice the total goes to a refund of the invoice's
payment (through the refunds service, under a key derived from the note), to the
customer's credit balance (used by the next invoices at finalization), or out of band
(recorded only); the three parts add up to the total. Numbers come from their own
sequence (``PG-CN-000001``), taken under its row lock in the note's transaction, after the
invoice's row lock: gap-free and unique under concurrency, and racing notes of one invoice
run one at a time, so they never credit more than there is. The tax of each line is
credited as ``app.domain.credit_notes`` computes it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.billing import InvoiceStatus
from app.domain.clock import Clock
from app.domain.credit_notes import CreditNoteReason, CreditNoteStatus
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.ids import new_id
from app.domain.money import Money
from app.domain.payments import RefundReason, RefundStatus
from app.models import CreditNote, CreditNoteLine, Invoice, Refund
from app.psp.registry import PspRegistry
from app.services import test_clocks
from app.services.billing import credit_balance
from app.services.billing.credit_note_parts import (
    LineRequest,
    MoneyArg,
    RefundRequest,
    creditable,
    line_credits,
    open_parts,
    paid_parts,
    refused,
)
from app.services.billing.invoices import amount_due, next_number
from app.services.payments import refunds
from app.services.payments.outcomes import Caller

PREFIX = "PG-CN"
MAX_LINES = 100

_REFUND_REASON = {
    CreditNoteReason.DUPLICATE: RefundReason.DUPLICATE,
    CreditNoteReason.FRAUDULENT: RefundReason.FRAUDULENT,
}


@dataclass(frozen=True, slots=True)
class Issued:
    note: CreditNote
    problems: tuple[Problem, ...] = ()  # the refund's (the PSP refused or was unavailable)


def request_digest(principal: str, idempotency_key: str) -> str:
    """What names a caller's request on its note (a request run again finds its note)."""
    return hashlib.sha256(f"{principal}\x00{idempotency_key}".encode()).hexdigest()


async def create_credit_note(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    caller: Caller,
    invoice_id: uuid.UUID,
    lines: list[LineRequest] | None,
    amount: MoneyArg | None,
    reason: CreditNoteReason | None,
    memo: str | None,
    refund: RefundRequest | None,
    credit_balance_amount: MoneyArg | None,
    out_of_band_amount: MoneyArg | None,
) -> Issued:
    """Issue a credit note of ``lines`` (each an amount or a quantity of an invoice line)
    or of a total ``amount`` (tax included), then make its refund, if it has one."""
    problems = Problems()
    text = check.text(problems, memo, "memo", max_length=500)
    if (lines is None) == (amount is None):
        problems.add(ErrorCode.INVALID, "Give exactly one of lines and amount.", "lines")
    elif lines is not None and not 1 <= len(lines) <= MAX_LINES:
        problems.add(ErrorCode.INVALID, f"From 1 to {MAX_LINES} lines.", "lines")
    problems.raise_if_any()
    digest = request_digest(caller.principal, caller.idempotency_key)
    invoice = await session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)
    if invoice is None:
        raise refused(ErrorCode.NOT_FOUND, "No such invoice.", "invoiceId")
    note = await session.scalar(sa.select(CreditNote).where(CreditNote.request_digest == digest))
    if note is None:
        now = (await test_clocks.clock_of(session, invoice.customer_id, clock)).now()
        note = await _issue(
            session,
            invoice,
            digest=digest,
            lines=lines,
            amount=amount,
            reason=reason,
            memo=text,
            refund=refund,
            credit_balance_amount=credit_balance_amount,
            out_of_band_amount=out_of_band_amount,
            clock=clock,
            now=now,
        )
    elif note.status is CreditNoteStatus.VOID:
        await session.rollback()
        raise refused(ErrorCode.INVALID_STATE, "This request's credit note was voided.")
    await session.commit()
    if note.refund_minor == 0 or note.refund_id is not None:
        return Issued(note)
    return await _refund(session, psps=psps, clock=clock, caller=caller, note=note)


async def _issue(
    session: AsyncSession,
    invoice: Invoice,
    *,
    digest: str,
    lines: list[LineRequest] | None,
    amount: MoneyArg | None,
    reason: CreditNoteReason | None,
    memo: str | None,
    refund: RefundRequest | None,
    credit_balance_amount: MoneyArg | None,
    out_of_band_amount: MoneyArg | None,
    clock: Clock,
    now: datetime,
) -> CreditNote:
    if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.PAID):
        raise refused(
            ErrorCode.INVALID_STATE,
            f"A {invoice.status.value} invoice cannot be credited: only open and paid ones.",
            "invoiceId",
        )
    problems = Problems()
    rows, left, credited = await creditable(session, invoice)
    credits = line_credits(problems, invoice, rows, left, lines, amount)
    problems.raise_if_any()
    total = sum(c.total for _, c, _ in credits)
    currency = invoice.currency
    if total <= 0 or credited + total > invoice.total_minor:
        room = Money(max(invoice.total_minor - credited, 0), currency).decimal_string()
        raise refused(
            ErrorCode.CREDIT_EXCEEDS_CREDITABLE,
            f"At most {room} {currency} of this invoice is left to credit (and more than zero).",
            "lines" if lines is not None else "amount",
        )
    parts = (
        open_parts(invoice, total, refund, credit_balance_amount, out_of_band_amount)
        if invoice.status is InvoiceStatus.OPEN
        else await paid_parts(
            session, invoice, total, refund, credit_balance_amount, out_of_band_amount
        )
    )
    pre_payment, refund_minor, payment_id, balance_minor, out_of_band = parts
    moment = now  # the customer's clock (a test clock's)
    note = CreditNote(
        id=new_id(),
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        number="",
        status=CreditNoteStatus.ISSUED,
        reason=reason,
        memo=memo,
        currency=currency,
        subtotal_minor=sum(c.amount for _, c, _ in credits),
        tax_minor=sum(c.tax for _, c, _ in credits),
        tax_included_minor=sum(c.tax_included for _, c, _ in credits),
        total_minor=total,
        pre_payment_minor=pre_payment,
        refund_minor=refund_minor,
        credit_balance_minor=balance_minor,
        out_of_band_minor=out_of_band,
        payment_id=payment_id,
        refund_id=None,
        request_digest=digest,
        created_at=moment,
        updated_at=moment,
    )
    if pre_payment:
        invoice.amount_credited_minor += pre_payment
        invoice.updated_at = moment
        if amount_due(invoice) <= 0:  # credited in full: nothing is owed (Stripe: paid)
            invoice.status = InvoiceStatus.PAID
            invoice.paid_at = moment
    if balance_minor:
        balance = await credit_balance.locked(session, invoice.customer_id, currency, moment)
        credit_balance.move(session, balance, balance_minor, moment, credit_note_id=note.id)
    note.number = await next_number(session, PREFIX, clock)
    session.add(note)
    for row, credit, quantity in credits:
        session.add(
            CreditNoteLine(
                id=new_id(),
                credit_note_id=note.id,
                invoice_line_id=row.id,
                description=row.description,
                quantity=quantity,
                amount_minor=credit.amount,
                tax_minor=credit.tax,
                tax_included_minor=credit.tax_included,
                created_at=moment,
                updated_at=moment,
            )
        )
    await session.flush()
    return note


async def _refund(
    session: AsyncSession, *, psps: PspRegistry, clock: Clock, caller: Caller, note: CreditNote
) -> Issued:
    """The note's refund, through the refunds service under a key derived from the note
    (a request run again replays it, never refunds twice)."""
    assert note.payment_id is not None
    reason = _REFUND_REASON.get(note.reason) if note.reason else None
    try:
        outcome = await refunds.create_refund(
            session,
            psps=psps,
            clock=clock,
            caller=Caller(caller.principal, f"credit-note:{note.id}"),
            payment_id=note.payment_id,
            amount=Money(note.refund_minor, note.currency).decimal_string(),
            currency=note.currency,
            reason=reason or RefundReason.REQUESTED_BY_CUSTOMER,
        )
    except UserInputError:
        # Refused before any refund (a refund made meanwhile took what was left): the note
        # gives back what it took and stays, void, with its number.
        await session.rollback()
        await void_credit_note(session, clock=clock, credit_note_id=note.id)
        raise
    locked = await session.get(CreditNote, note.id, with_for_update=True, populate_existing=True)
    assert locked is not None
    if outcome.refund is not None and locked.refund_id is None:
        locked.refund_id = outcome.refund.id
    await session.commit()
    return Issued(locked, outcome.problems)


async def void_credit_note(
    session: AsyncSession, *, clock: Clock, credit_note_id: uuid.UUID
) -> CreditNote:
    """Void an issued note, giving back what it did where that can be undone: the amount due
    of its open invoice, the credit balance it gave (if no invoice used it). A refund made
    cannot be undone: a note with a refund is not voided (Stripe's rule)."""
    note = await session.get(
        CreditNote, credit_note_id, with_for_update=True, populate_existing=True
    )
    if note is None:
        raise refused(ErrorCode.NOT_FOUND, "No such credit note.", "creditNoteId")
    if note.status is CreditNoteStatus.VOID:
        raise refused(ErrorCode.INVALID_STATE, "The credit note is void already.", "creditNoteId")
    refund = None if note.refund_id is None else await session.get(Refund, note.refund_id)
    if refund is not None and refund.status not in (RefundStatus.FAILED, RefundStatus.CANCELED):
        raise refused(
            ErrorCode.CREDIT_NOTE_REFUNDED,
            "The credit note refunded money, which cannot be undone: it cannot be voided.",
            "creditNoteId",
        )
    invoice = await session.get(
        Invoice, note.invoice_id, with_for_update=True, populate_existing=True
    )
    assert invoice is not None
    now = (await test_clocks.clock_of(session, note.customer_id, clock)).now()
    if note.pre_payment_minor:
        if invoice.status is InvoiceStatus.PAID and invoice.amount_paid_minor > 0:
            await session.rollback()
            raise refused(
                ErrorCode.INVALID_STATE,
                "The invoice was paid after this credit note: refund instead.",
                "creditNoteId",
            )
        invoice.amount_credited_minor -= note.pre_payment_minor
        invoice.updated_at = now
        if invoice.status is InvoiceStatus.PAID and amount_due(invoice) > 0:
            invoice.status, invoice.paid_at = InvoiceStatus.OPEN, None  # owed again
    if note.credit_balance_minor:
        balance = await credit_balance.locked(session, note.customer_id, note.currency, now)
        if balance.balance_minor < note.credit_balance_minor:
            await session.rollback()
            raise refused(
                ErrorCode.CREDIT_BALANCE_SPENT,
                "Invoices have used the credit balance this note gave: it cannot be voided.",
                "creditNoteId",
            )
        credit_balance.move(
            session, balance, -note.credit_balance_minor, now, credit_note_id=note.id
        )
    note.status, note.voided_at, note.updated_at = CreditNoteStatus.VOID, now, now
    await session.commit()
    return note
