"""Payments, refunds and disputes (current state) and their append-only event log.

``payments``, ``refunds`` and ``disputes`` are projections: their rows change as the PSP
reports progress. Every change is also written to ``payment_events``, which the database
keeps append-only (triggers refuse UPDATE and DELETE). Amount columns carry CHECK
constraints, so that an over-capture or over-refund cannot be stored even by a bug.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.ids import new_id
from app.domain.payments import (
    CaptureMethod,
    DisputeStatus,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)
from app.models.base import Base, Entity, JSONDocument, UTCDateTime, enum_column


class Payment(Entity):
    __tablename__ = "payments"
    __table_args__ = (
        sa.UniqueConstraint("psp", "psp_reference", name="uq_payments_psp_reference"),
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
        sa.CheckConstraint(
            "amount_received_minor BETWEEN 0 AND amount_minor", name="received_within_amount"
        ),
        sa.CheckConstraint(
            "amount_capturable_minor BETWEEN 0 AND amount_minor", name="capturable_within_amount"
        ),
        sa.CheckConstraint(
            "amount_refunded_minor BETWEEN 0 AND amount_received_minor",
            name="refunded_within_received",
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    payment_method_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("payment_methods.id"))
    # The invoice this payment pays, if any (subscriptions, invoice payments).
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    psp: Mapped[str] = mapped_column(sa.String(32))
    psp_reference: Mapped[str | None] = mapped_column(sa.String(255))
    # Passed on to the PSP with every call that creates money movement for this payment.
    psp_idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    status: Mapped[PaymentStatus] = mapped_column(enum_column(PaymentStatus, "payment_status"))
    outcome_unknown_since: Mapped[datetime | None] = mapped_column(index=True)
    capture_method: Mapped[CaptureMethod] = mapped_column(
        enum_column(CaptureMethod, "capture_method")
    )
    off_session: Mapped[bool]
    currency: Mapped[str] = mapped_column(sa.String(3))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    amount_capturable_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    amount_received_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # Refunds pending or succeeded: what is reserved against the captured amount.
    amount_refunded_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    decline_code: Mapped[str | None] = mapped_column(sa.String(64))
    decline_message: Mapped[str | None] = mapped_column(sa.String(500))
    decline_provider_code: Mapped[str | None] = mapped_column(sa.String(64))
    # What the network said, when the PSP passes it on: the issuer's response code (ISO 8583
    # field 39, e.g. "05") and the network's advice code (e.g. Mastercard's MAC "03").
    decline_network_code: Mapped[str | None] = mapped_column(sa.String(16))
    decline_network_advice_code: Mapped[str | None] = mapped_column(sa.String(16))
    # The retry advice decided when the decline was recorded (app.domain.declines.RetryAdvice):
    # dunning and the per-card retry guard read it; later refinements of the rules do not
    # rewrite history.
    decline_advice: Mapped[str | None] = mapped_column(sa.String(32))
    next_action_kind: Mapped[str | None] = mapped_column(sa.String(16))
    next_action_url: Mapped[str | None] = mapped_column(sa.String(2048))
    next_action_client_secret: Mapped[str | None] = mapped_column(sa.String(255))
    return_url: Mapped[str | None] = mapped_column(sa.String(2048))
    description: Mapped[str | None] = mapped_column(sa.String(1000))
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", default=dict)


class Refund(Entity):
    __tablename__ = "refunds"
    __table_args__ = (
        sa.UniqueConstraint("psp", "psp_reference", name="uq_refunds_psp_reference"),
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    payment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("payments.id"), index=True)
    psp: Mapped[str] = mapped_column(sa.String(32))
    psp_reference: Mapped[str | None] = mapped_column(sa.String(255))
    psp_idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    status: Mapped[RefundStatus] = mapped_column(enum_column(RefundStatus, "refund_status"))
    reason: Mapped[RefundReason] = mapped_column(enum_column(RefundReason, "refund_reason"))
    currency: Mapped[str] = mapped_column(sa.String(3))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    failure_reason: Mapped[str | None] = mapped_column(sa.String(500))
    outcome_unknown_since: Mapped[datetime | None]


class Dispute(Entity):
    __tablename__ = "disputes"
    __table_args__ = (
        sa.UniqueConstraint("psp", "psp_reference", name="uq_disputes_psp_reference"),
    )

    payment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("payments.id"), index=True)
    psp: Mapped[str] = mapped_column(sa.String(32))
    psp_reference: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[DisputeStatus] = mapped_column(enum_column(DisputeStatus, "dispute_status"))
    reason: Mapped[str] = mapped_column(sa.String(64))
    currency: Mapped[str] = mapped_column(sa.String(3))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    evidence_due_by: Mapped[datetime | None]
    # The evidence drafted on our side (app.domain.disputes): ``{"texts": {Stripe key:
    # text}, "files": {Stripe key: {file_id, filename, content_type, size}}}``; None: none.
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    evidence_updated_at: Mapped[datetime | None]
    # Set when the evidence went to the PSP (claimed before the call: a second submission
    # is refused, also while the first is under way).
    evidence_submitted_at: Mapped[datetime | None]
    # The due date whose ``dispute.evidence_due_soon`` reminder was stated (once per date).
    evidence_reminded_for: Mapped[datetime | None]


class PaymentEvent(Base):
    """One change of a payment, refund or dispute. Append-only (database triggers), so it
    must never hold personal data, which an erasure could not remove: ids, type, status,
    amounts and the PSP's event id only (``data`` stays empty)."""

    __tablename__ = "payment_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    payment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("payments.id"), index=True)
    refund_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("refunds.id"))
    dispute_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("disputes.id"))
    type: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.String(16))  # api, webhook, reconciliation
    status: Mapped[str | None] = mapped_column(sa.String(32))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    amount_minor: Mapped[int | None] = mapped_column(sa.BigInteger)
    psp_event_id: Mapped[str | None] = mapped_column(sa.String(255))
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
