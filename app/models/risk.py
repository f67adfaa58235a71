"""Risk: the rules (data), the block and allow lists, every attempt judged, and the review
queue (``app.services.risk``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.reviews import ReviewClosedReason, ReviewStatus
from app.domain.risk import AttemptKind, RiskAction, RiskDimension, RiskLevel, RiskListKind
from app.models.base import Entity, JSONDocument, enum_column


class RiskRule(Entity):
    __tablename__ = "risk_rules"
    __table_args__ = (sa.CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),)

    name: Mapped[str] = mapped_column(sa.String(200))
    condition: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    action: Mapped[RiskAction] = mapped_column(enum_column(RiskAction, "risk_action", 16))
    score: Mapped[int] = mapped_column(sa.SmallInteger)
    position: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)


class RiskListEntry(Entity):
    __tablename__ = "risk_list_entries"
    __table_args__ = (
        sa.UniqueConstraint("list", "dimension", "value", name="uq_risk_list_entries_value"),
    )

    list: Mapped[RiskListKind] = mapped_column(enum_column(RiskListKind, "risk_list_kind", 16))
    dimension: Mapped[RiskDimension] = mapped_column(
        enum_column(RiskDimension, "risk_dimension", 32)
    )
    value: Mapped[str] = mapped_column(sa.String(254))
    note: Mapped[str | None] = mapped_column(sa.String(500))


class RiskAttempt(Entity):
    """One charge or attach as the rules saw it: the sources counted by velocity rules (the
    sliding windows count these rows), and the decision with its reasons."""

    __tablename__ = "risk_attempts"
    __table_args__ = (
        sa.Index("ix_risk_attempts_ip_address", "ip_address", "created_at"),
        sa.Index("ix_risk_attempts_device_id", "device_id", "created_at"),
        sa.Index("ix_risk_attempts_fingerprint", "fingerprint", "created_at"),
        sa.Index("ix_risk_attempts_customer_id", "customer_id", "created_at"),
        sa.Index("ix_risk_attempts_email", "email", "created_at"),
    )

    kind: Mapped[AttemptKind] = mapped_column(enum_column(AttemptKind, "risk_attempt_kind", 16))
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("payments.id"), unique=True)
    payment_method_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("payment_methods.id"))
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    ip_address: Mapped[str | None] = mapped_column(sa.String(45))
    device_id: Mapped[str | None] = mapped_column(sa.String(128))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    amount_minor: Mapped[int | None] = mapped_column(sa.BigInteger)
    action: Mapped[RiskAction] = mapped_column(enum_column(RiskAction, "risk_action", 16))
    score: Mapped[int] = mapped_column(sa.SmallInteger)
    level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel, "risk_level", 16))
    # [{"rule": id, "name": …, "action": …, "detail": …}]
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSONDocument)


class Review(Entity):
    """A payment the rules sent to review: authorised, not captured, until staff approve or
    reject it, or its time runs out (``closes_at``) and the default action applies."""

    __tablename__ = "reviews"

    payment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("payments.id"), unique=True)
    status: Mapped[ReviewStatus] = mapped_column(enum_column(ReviewStatus, "review_status", 16))
    reason: Mapped[str] = mapped_column(sa.String(500))
    # The charge asked for automatic capture: approving captures it.
    capture_on_approve: Mapped[bool]
    closes_at: Mapped[datetime] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[ReviewClosedReason | None] = mapped_column(
        enum_column(ReviewClosedReason, "review_closed_reason", 16)
    )
    closed_by: Mapped[str | None] = mapped_column(sa.String(200))
    # What the decision does: capture (approved) or cancel and refund; an expiry's is the
    # default action's. None while undecided.
    approved: Mapped[bool | None]
    note: Mapped[str | None] = mapped_column(sa.String(500))
