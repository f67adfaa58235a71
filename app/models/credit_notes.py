"""Credit notes and the customers' credit balances: corrections of finalized invoices that
never edit them (``app.services.billing.credit_notes``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.credit_notes import CreditNoteReason, CreditNoteStatus
from app.models.base import Entity, enum_column


class CreditNote(Entity):
    """A numbered document crediting part of an invoice: ``total = subtotal + tax``, and
    the total goes to the amount due of an open invoice (``pre_payment``), or, on a paid
    one, to a refund, the customer's credit balance and money returned out of band."""

    __tablename__ = "credit_notes"
    __table_args__ = (
        sa.CheckConstraint("total_minor = subtotal_minor + tax_minor", name="total_adds_up"),
        sa.CheckConstraint(
            "total_minor > 0 AND total_minor = pre_payment_minor + refund_minor "
            "+ credit_balance_minor + out_of_band_minor",
            name="total_spent",
        ),
        sa.CheckConstraint(
            "pre_payment_minor >= 0 AND refund_minor >= 0 AND credit_balance_minor >= 0 "
            "AND out_of_band_minor >= 0",
            name="parts_not_negative",
        ),
        sa.Index("ix_credit_notes_invoice_id_id", "invoice_id", "id"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("invoices.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    status: Mapped[CreditNoteStatus] = mapped_column(
        enum_column(CreditNoteStatus, "credit_note_status")
    )
    reason: Mapped[CreditNoteReason | None] = mapped_column(
        enum_column(CreditNoteReason, "credit_note_reason")
    )
    memo: Mapped[str | None] = mapped_column(sa.String(500))
    currency: Mapped[str] = mapped_column(sa.String(3))
    subtotal_minor: Mapped[int] = mapped_column(sa.BigInteger)
    tax_minor: Mapped[int] = mapped_column(sa.BigInteger)
    tax_included_minor: Mapped[int] = mapped_column(sa.BigInteger)
    total_minor: Mapped[int] = mapped_column(sa.BigInteger)
    pre_payment_minor: Mapped[int] = mapped_column(sa.BigInteger)
    refund_minor: Mapped[int] = mapped_column(sa.BigInteger)
    credit_balance_minor: Mapped[int] = mapped_column(sa.BigInteger)
    out_of_band_minor: Mapped[int] = mapped_column(sa.BigInteger)
    # The payment refunded, and the refund once made (under a key derived from the note).
    payment_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("payments.id"))
    refund_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("refunds.id"), unique=True)
    # The caller's idempotency key (digest): a request run again finds its note.
    request_digest: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    voided_at: Mapped[datetime | None]


class CreditNoteLine(Entity):
    """What a credit note credits of one invoice line: an amount and its tax."""

    __tablename__ = "credit_note_lines"
    __table_args__ = (
        sa.CheckConstraint(
            "amount_minor >= 0 AND tax_minor >= 0 AND tax_included_minor >= 0",
            name="not_negative",
        ),
    )

    credit_note_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("credit_notes.id"), index=True)
    invoice_line_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("invoice_lines.id"), index=True
    )
    description: Mapped[str] = mapped_column(sa.String(500))
    quantity: Mapped[int | None]
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    tax_minor: Mapped[int] = mapped_column(sa.BigInteger)
    tax_included_minor: Mapped[int] = mapped_column(sa.BigInteger)


class CustomerBalance(Entity):
    """A customer's credit balance in one currency (what credit notes gave and invoices
    have not used yet). Changed under its row lock; never negative."""

    __tablename__ = "customer_balances"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "currency", name="uq_customer_balances_currency"),
        sa.CheckConstraint("balance_minor >= 0", name="not_negative"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"))
    currency: Mapped[str] = mapped_column(sa.String(3))
    balance_minor: Mapped[int] = mapped_column(sa.BigInteger)


class CustomerBalanceTransaction(Entity):
    """One movement of a credit balance (append-only): a credit note's credit (positive),
    an invoice's use of it or a voided note's take-back (negative)."""

    __tablename__ = "customer_balance_transactions"

    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(sa.String(3))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    balance_after_minor: Mapped[int] = mapped_column(sa.BigInteger)
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("credit_notes.id"))
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("invoices.id"))
