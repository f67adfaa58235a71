"""The money invariants of credit notes and credit balances (``paygate verify``, with
``app.services.invariants``):

- ``credit_note.within_invoice``: an invoice's issued credit notes credit at most its total;
  what they took off its amount due is its ``amountCredited``; of each line they credit at
  most its amount (after discount) and at most its tax.
- ``credit_balance.ledger``: a customer's credit balance is the sum of its movements.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.credit_notes import CreditNoteStatus
from app.models import (
    CreditNote,
    CreditNoteLine,
    CustomerBalance,
    CustomerBalanceTransaction,
    Invoice,
    InvoiceLine,
)


@dataclass(frozen=True, slots=True)
class Broken:
    rule: str
    subject: str
    detail: str


def _sum(column: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(column), 0)


_ISSUED = CreditNote.status == CreditNoteStatus.ISSUED


async def within_invoice(connection: AsyncConnection) -> AsyncIterator[Broken]:
    notes = (
        sa.select(
            CreditNote.invoice_id.label("invoice_id"),
            _sum(CreditNote.total_minor).label("total"),
            _sum(CreditNote.pre_payment_minor).label("pre_payment"),
        )
        .where(_ISSUED)
        .group_by(CreditNote.invoice_id)
        .subquery()
    )
    rows = await connection.execute(
        sa.select(
            Invoice.id,
            Invoice.total_minor,
            Invoice.amount_credited_minor,
            notes.c.total,
            notes.c.pre_payment,
        )
        .join(notes, notes.c.invoice_id == Invoice.id, isouter=True)
        .where(
            sa.or_(
                sa.func.coalesce(notes.c.total, 0) > Invoice.total_minor,
                sa.func.coalesce(notes.c.pre_payment, 0) != Invoice.amount_credited_minor,
            )
        )
    )
    for invoice_id, total, credited, notes_total, pre_payment in rows:
        yield Broken(
            "credit_note.within_invoice",
            f"invoice {invoice_id}",
            f"total {total}, amountCredited {credited}; its issued credit notes total "
            f"{notes_total or 0}, {pre_payment or 0} of it before payment",
        )
    lines = (
        sa.select(
            CreditNoteLine.invoice_line_id.label("line_id"),
            _sum(CreditNoteLine.amount_minor).label("amount"),
            _sum(CreditNoteLine.tax_minor).label("tax"),
        )
        .join(CreditNote, CreditNote.id == CreditNoteLine.credit_note_id)
        .where(_ISSUED)
        .group_by(CreditNoteLine.invoice_line_id)
        .subquery()
    )
    rows = await connection.execute(
        sa.select(
            InvoiceLine.id,
            InvoiceLine.amount_minor - InvoiceLine.discount_minor,
            InvoiceLine.tax_minor,
            lines.c.amount,
            lines.c.tax,
        )
        .join(lines, lines.c.line_id == InvoiceLine.id)
        .where(
            sa.or_(
                lines.c.amount > InvoiceLine.amount_minor - InvoiceLine.discount_minor,
                lines.c.tax > InvoiceLine.tax_minor,
            )
        )
    )
    for line_id, net, tax, amount, credited_tax in rows:
        yield Broken(
            "credit_note.within_invoice",
            f"invoice line {line_id}",
            f"amount {net}, tax {tax}; credited {amount} and {credited_tax} of tax",
        )


async def balance_ledger(connection: AsyncConnection) -> AsyncIterator[Broken]:
    moved = (
        sa.select(
            CustomerBalanceTransaction.customer_id.label("customer_id"),
            CustomerBalanceTransaction.currency.label("currency"),
            _sum(CustomerBalanceTransaction.amount_minor).label("moved"),
        )
        .group_by(CustomerBalanceTransaction.customer_id, CustomerBalanceTransaction.currency)
        .subquery()
    )
    rows = await connection.execute(
        sa.select(
            CustomerBalance.customer_id,
            CustomerBalance.currency,
            CustomerBalance.balance_minor,
            moved.c.moved,
        )
        .join(
            moved,
            sa.and_(
                moved.c.customer_id == CustomerBalance.customer_id,
                moved.c.currency == CustomerBalance.currency,
            ),
            isouter=True,
        )
        .where(sa.func.coalesce(moved.c.moved, 0) != CustomerBalance.balance_minor)
    )
    for customer_id, currency, balance, total in rows:
        yield Broken(
            "credit_balance.ledger",
            f"customer {customer_id} {currency}",
            f"balance {balance}; its movements add up to {total or 0}",
        )
