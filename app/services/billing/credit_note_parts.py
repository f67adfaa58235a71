"""What a credit note may credit and where its total goes: the checks and amounts behind
``app.services.billing.credit_notes`` (the lines' credits, the open invoice's amount due,
the paid invoice's refund, credit balance and out-of-band parts)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import credit_notes as arithmetic
from app.domain.credit_notes import Creditable, CreditNoteStatus, LineCredit
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.money import Money, parse_money
from app.domain.payments import PaymentStatus
from app.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, Payment
from app.services.billing.invoices import amount_due

MoneyArg = tuple[str, str]  # (decimal amount, currency)


@dataclass(frozen=True, slots=True)
class LineRequest:
    invoice_line_id: uuid.UUID
    quantity: int | None = None
    amount: MoneyArg | None = None


@dataclass(frozen=True, slots=True)
class RefundRequest:
    payment_id: uuid.UUID | None = None  # None: the invoice's payment
    amount: MoneyArg | None = None  # None: what the other parts leave of the total


def refused(code: ErrorCode, message: str, *field: str) -> UserInputError:
    return UserInputError(Problem(code, message, field))


def money(problems: Problems, value: MoneyArg | None, currency: str, *field: str) -> int | None:
    """A positive amount in the invoice's currency, in minor units."""
    if value is None:
        return None
    try:
        parsed = parse_money(value[0], value[1], field=field)
    except UserInputError as error:
        problems.extend(error.problems)
        return None
    if parsed.currency != currency:
        problems.add(ErrorCode.CURRENCY_MISMATCH, f"The invoice is in {currency}.", *field)
        return None
    if parsed.amount_minor == 0:
        problems.add(ErrorCode.INVALID_AMOUNT, "An amount above zero.", *field)
        return None
    return parsed.amount_minor


async def creditable(
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


def line_credits(
    problems: Problems,
    invoice: Invoice,
    rows: list[InvoiceLine],
    left: dict[uuid.UUID, Creditable],
    lines: list[LineRequest] | None,
    amount: MoneyArg | None,
) -> list[tuple[InvoiceLine, LineCredit, int | None]]:
    by_id = {row.id: row for row in rows}
    if amount is not None:
        total = money(problems, amount, invoice.currency, "amount")
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
            wanted = money(problems, request.amount, invoice.currency, *at, "amount")
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


Parts = tuple[int, int, uuid.UUID | None, int, int]  # pre-payment, refund, payment, balance, oob


def open_parts(
    invoice: Invoice,
    total: int,
    refund: RefundRequest | None,
    credit_balance_amount: MoneyArg | None,
    out_of_band_amount: MoneyArg | None,
) -> Parts:
    if refund is not None or credit_balance_amount is not None or out_of_band_amount is not None:
        raise refused(
            ErrorCode.INVALID_STATE,
            "A credit note of an open invoice reduces what it owes: refund, creditBalance and "
            "outOfBand are for paid invoices.",
            "refund" if refund is not None else "creditBalance",
        )
    due = amount_due(invoice)
    if total > due:
        shown = Money(max(due, 0), invoice.currency).decimal_string()
        raise refused(
            ErrorCode.CREDIT_EXCEEDS_CREDITABLE,
            f"The invoice owes {shown} {invoice.currency}: a credit note of an open "
            "invoice takes at most that.",
            "amount",
        )
    return total, 0, None, 0, 0


async def paid_parts(
    session: AsyncSession,
    invoice: Invoice,
    total: int,
    refund: RefundRequest | None,
    credit_balance_amount: MoneyArg | None,
    out_of_band_amount: MoneyArg | None,
) -> Parts:
    problems = Problems()
    currency = invoice.currency
    balance = money(problems, credit_balance_amount, currency, "creditBalance") or 0
    out_of_band = money(problems, out_of_band_amount, currency, "outOfBand") or 0
    refund_minor = 0
    if refund is not None and refund.amount is not None:
        refund_minor = money(problems, refund.amount, currency, "refund", "amount") or 0
    problems.raise_if_any()
    if refund is not None and refund.amount is None:
        refund_minor = total - balance - out_of_band
    if refund is None and credit_balance_amount is None and out_of_band_amount is None:
        raise refused(
            ErrorCode.REQUIRED,
            "Say where the credit of a paid invoice goes: refund, creditBalance or outOfBand.",
            "refund",
        )
    if refund_minor < 0 or refund_minor + balance + out_of_band != total:
        shown = Money(total, currency).decimal_string()
        raise refused(
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
            raise refused(
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
        raise refused(
            ErrorCode.NOT_FOUND, "No payment of this invoice to refund.", "refund", "paymentId"
        )
    return payment
