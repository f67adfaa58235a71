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

from app.domain import credit_notes as arithmetic
from app.domain import validation as check
from app.domain.billing import InvoiceStatus
from app.domain.clock import Clock
from app.domain.credit_notes import Creditable, CreditNoteReason, CreditNoteStatus, LineCredit
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.ids import new_id
from app.domain.money import Money, parse_money
from app.domain.payments import PaymentStatus, RefundReason, RefundStatus
from app.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, Payment, Refund
from app.psp.registry import PspRegistry
from app.services import test_clocks
from app.services.billing import credit_balance
from app.services.billing.invoices import amount_due, next_number
from app.services.payments import refunds
from app.services.payments.outcomes import Caller

PREFIX = "PG-CN"
MAX_LINES = 100

MoneyArg = tuple[str, str]  # (decimal amount, currency)

_REFUND_REASON = {
    CreditNoteReason.DUPLICATE: RefundReason.DUPLICATE,
    CreditNoteReason.FRAUDULENT: RefundReason.FRAUDULENT,
}


@dataclass(frozen=True, slots=True)
class LineRequest:
    invoice_line_id: uuid.UUID
    quantity: int | None = None
    amount: MoneyArg | None = None


@dataclass(frozen=True, slots=True)
class RefundRequest:
    payment_id: uuid.UUID | None = None  # None: the invoice's payment
    amount: MoneyArg | None = None  # None: what the other parts leave of the total


@dataclass(frozen=True, slots=True)
class Issued:
    note: CreditNote
    problems: tuple[Problem, ...] = ()  # the refund's (the PSP refused or was unavailable)


def request_digest(principal: str, idempotency_key: str) -> str:
    """What names a caller's request on its note (a request run again finds its note)."""
    return hashlib.sha256(f"{principal}\x00{idempotency_key}".encode()).hexdigest()


def _refused(code: ErrorCode, message: str, *field: str) -> UserInputError:
    return UserInputError(Problem(code, message, field))


def _money(problems: Problems, value: MoneyArg | None, currency: str, *field: str) -> int | None:
    """A positive amount in the invoice's currency, in minor units."""
    if value is None:
        return None
    try:
        money = parse_money(value[0], value[1], field=field)
    except UserInputError as error:
        problems.extend(error.problems)
        return None
    if money.currency != currency:
        problems.add(ErrorCode.CURRENCY_MISMATCH, f"The invoice is in {currency}.", *field)
        return None
    if money.amount_minor == 0:
        problems.add(ErrorCode.INVALID_AMOUNT, "An amount above zero.", *field)
        return None
    return money.amount_minor


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
        raise _refused(ErrorCode.NOT_FOUND, "No such invoice.", "invoiceId")
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
        raise _refused(ErrorCode.INVALID_STATE, "This request's credit note was voided.")
    await session.commit()
    if note.refund_minor == 0 or note.refund_id is not None:
        return Issued(note)
    return await _refund(session, psps=psps, clock=clock, caller=caller, note=note)


async def _creditable(
    session: AsyncSession, invoice: Invoice
) -> tuple[list[InvoiceLine], dict[uuid.UUID, Creditable], int]:
    """The invoice's lines, what is left to credit of each, and what its issued notes
    credited in all."""
    rows = (
        await session.scalars(
            sa.select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.id)
        )
    ).all()
    issued = sa.and_(
        CreditNote.invoice_id == invoice.id, CreditNote.status == CreditNoteStatus.ISSUED
    )
    credited = {
        line_id: (amount, tax, included)
        for line_id, amount, tax, included in await session.execute(
            sa.select(
                CreditNoteLine.invoice_line_id,
                sa.func.sum(CreditNoteLine.amount_minor),
                sa.func.sum(CreditNoteLine.tax_minor),
                sa.func.sum(CreditNoteLine.tax_included_minor),
            )
            .join(CreditNote, CreditNote.id == CreditNoteLine.credit_note_id)
            .where(issued)
            .group_by(CreditNoteLine.invoice_line_id)
        )
    }
    left = {}
    for row in rows:
        amount, tax, included = credited.get(row.id, (0, 0, 0))
        net = row.amount_minor - row.discount_minor
        if net <= 0:  # a credit line (a carried credit) has nothing to credit
            left[row.id] = Creditable(0, 0, 0)
            continue
        left[row.id] = Creditable(
            net - int(amount), row.tax_minor - int(tax), row.tax_included_minor - int(included)
        )
    total = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(CreditNote.total_minor), 0)).where(issued)
    )
    return list(rows), left, int(total or 0)


def _line_credits(
    problems: Problems,
    invoice: Invoice,
    rows: list[InvoiceLine],
    left: dict[uuid.UUID, Creditable],
    lines: list[LineRequest] | None,
    amount: MoneyArg | None,
) -> list[tuple[InvoiceLine, LineCredit, int | None]]:
    by_id = {row.id: row for row in rows}
    if amount is not None:
        total = _money(problems, amount, invoice.currency, "amount")
        if total is None:
            return []
        most = sum(left[row.id].total for row in rows)
        if total > most:
            shown = Money(most, invoice.currency).decimal_string()
            problems.add(
                ErrorCode.CREDIT_EXCEEDS_CREDITABLE,
                f"At most {shown} {invoice.currency} is left to credit.",
                "amount",
            )
            return []
        credits = arithmetic.spread(total, [left[row.id] for row in rows])
        return [(row, c, None) for row, c in zip(rows, credits, strict=True) if c.total]
    assert lines is not None
    found: list[tuple[InvoiceLine, LineCredit, int | None]] = []
    seen: set[uuid.UUID] = set()
    for index, request in enumerate(lines):
        at = ("lines", str(index))
        row = by_id.get(request.invoice_line_id)
        if row is None:
            problems.add(ErrorCode.NOT_FOUND, "No such line on this invoice.", *at, "invoiceLineId")
            continue
        if row.id in seen:
            problems.add(ErrorCode.INVALID, "Each line once.", *at, "invoiceLineId")
            continue
        seen.add(row.id)
        if (request.quantity is None) == (request.amount is None):
            problems.add(ErrorCode.INVALID, "Give exactly one of quantity and amount.", *at)
            continue
        room = left[row.id]
        wanted: int | None
        if request.quantity is not None:
            if not 1 <= request.quantity <= row.quantity:
                problems.add(ErrorCode.INVALID, f"From 1 to {row.quantity} units.", *at, "quantity")
                continue
            net = row.amount_minor - row.discount_minor
            wanted = arithmetic.quantity_amount(max(net, 0), row.quantity, request.quantity)
        else:
            wanted = _money(problems, request.amount, invoice.currency, *at, "amount")
            if wanted is None:
                continue
        if not 0 < wanted <= room.amount:
            shown = Money(room.amount, invoice.currency).decimal_string()
            problems.add(
                ErrorCode.CREDIT_EXCEEDS_CREDITABLE,
                f"At most {shown} {invoice.currency} of this line is left to credit (before tax).",
                *at,
                "quantity" if request.quantity is not None else "amount",
            )
            continue
        found.append((row, arithmetic.credit_amount(room, wanted), request.quantity))
    return found


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
        raise _refused(
            ErrorCode.INVALID_STATE,
            f"A {invoice.status.value} invoice cannot be credited: only open and paid ones.",
            "invoiceId",
        )
    problems = Problems()
    rows, left, credited = await _creditable(session, invoice)
    credits = _line_credits(problems, invoice, rows, left, lines, amount)
    problems.raise_if_any()
    total = sum(c.total for _, c, _ in credits)
    currency = invoice.currency
    if total <= 0 or credited + total > invoice.total_minor:
        room = Money(max(invoice.total_minor - credited, 0), currency).decimal_string()
        raise _refused(
            ErrorCode.CREDIT_EXCEEDS_CREDITABLE,
            f"At most {room} {currency} of this invoice is left to credit (and more than zero).",
            "lines" if lines is not None else "amount",
        )
    parts = (
        _open_parts(invoice, total, refund, credit_balance_amount, out_of_band_amount)
        if invoice.status is InvoiceStatus.OPEN
        else await _paid_parts(
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


Parts = tuple[int, int, uuid.UUID | None, int, int]  # pre-payment, refund, payment, balance, oob


def _open_parts(
    invoice: Invoice,
    total: int,
    refund: RefundRequest | None,
    credit_balance_amount: MoneyArg | None,
    out_of_band_amount: MoneyArg | None,
) -> Parts:
    if refund is not None or credit_balance_amount is not None or out_of_band_amount is not None:
        raise _refused(
            ErrorCode.INVALID_STATE,
            "A credit note of an open invoice reduces what it owes: refund, creditBalance and "
            "outOfBand are for paid invoices.",
            "refund" if refund is not None else "creditBalance",
        )
    due = amount_due(invoice)
    if total > due:
        shown = Money(max(due, 0), invoice.currency).decimal_string()
        raise _refused(
            ErrorCode.CREDIT_EXCEEDS_CREDITABLE,
            f"The invoice owes {shown} {invoice.currency}: a credit note of an open "
            "invoice takes at most that.",
            "amount",
        )
    return total, 0, None, 0, 0


async def _paid_parts(
    session: AsyncSession,
    invoice: Invoice,
    total: int,
    refund: RefundRequest | None,
    credit_balance_amount: MoneyArg | None,
    out_of_band_amount: MoneyArg | None,
) -> Parts:
    problems = Problems()
    currency = invoice.currency
    balance = _money(problems, credit_balance_amount, currency, "creditBalance") or 0
    out_of_band = _money(problems, out_of_band_amount, currency, "outOfBand") or 0
    refund_minor = 0
    if refund is not None and refund.amount is not None:
        refund_minor = _money(problems, refund.amount, currency, "refund", "amount") or 0
    problems.raise_if_any()
    if refund is not None and refund.amount is None:
        refund_minor = total - balance - out_of_band
    if refund is None and credit_balance_amount is None and out_of_band_amount is None:
        raise _refused(
            ErrorCode.REQUIRED,
            "Say where the credit of a paid invoice goes: refund, creditBalance or outOfBand.",
            "refund",
        )
    if refund_minor < 0 or refund_minor + balance + out_of_band != total:
        shown = Money(total, currency).decimal_string()
        raise _refused(
            ErrorCode.INVALID_AMOUNT,
            f"refund + creditBalance + outOfBand must make the credit note's total, "
            f"{shown} {currency}.",
            "refund",
        )
    payment_id = None
    if refund is not None and refund_minor > 0:
        payment = await _payment(session, invoice, refund.payment_id)
        pending = await session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(CreditNote.refund_minor), 0)).where(
                CreditNote.payment_id == payment.id,
                CreditNote.refund_id.is_(None),
                CreditNote.status == CreditNoteStatus.ISSUED,
            )
        )
        refundable = (
            payment.amount_received_minor - payment.amount_refunded_minor - int(pending or 0)
        )
        if refund_minor > refundable:
            shown = Money(max(refundable, 0), currency).decimal_string()
            raise _refused(
                ErrorCode.REFUND_EXCEEDS_CAPTURED,
                f"At most {shown} {currency} of the payment is left to refund.",
                "refund",
                "amount",
            )
        payment_id = payment.id
    return 0, refund_minor, payment_id, balance, out_of_band


async def _payment(
    session: AsyncSession, invoice: Invoice, payment_id: uuid.UUID | None
) -> Payment:
    """The invoice's payment to refund: the one named, else its latest successful one."""
    query = sa.select(Payment).where(
        Payment.invoice_id == invoice.id, Payment.amount_received_minor > 0
    )
    if payment_id is not None:
        query = query.where(Payment.id == payment_id)
    else:
        query = query.where(Payment.status == PaymentStatus.SUCCEEDED)
    payment = await session.scalar(query.order_by(Payment.id.desc()).limit(1))
    if payment is None:
        raise _refused(
            ErrorCode.NOT_FOUND, "No payment of this invoice to refund.", "refund", "paymentId"
        )
    return payment


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
        raise _refused(ErrorCode.NOT_FOUND, "No such credit note.", "creditNoteId")
    if note.status is CreditNoteStatus.VOID:
        raise _refused(ErrorCode.INVALID_STATE, "The credit note is void already.", "creditNoteId")
    refund = None if note.refund_id is None else await session.get(Refund, note.refund_id)
    if refund is not None and refund.status not in (RefundStatus.FAILED, RefundStatus.CANCELED):
        raise _refused(
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
            raise _refused(
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
            raise _refused(
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
