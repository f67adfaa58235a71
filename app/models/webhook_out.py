"""Webhooks to merchants: endpoints, their signing secrets, and one delivery per endpoint
and event (``app.services.webhooks_out``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.ids import new_id
from app.domain.webhooks_out import DeliveryStatus, DisabledReason
from app.models.base import Base, Entity, JSONDocument, UTCDateTime, enum_column


class WebhookEndpoint(Entity):
    """A merchant's URL and the event types it wants. ``seq`` is the last event of the log
    fanned out to it (set to the log's end when created: only later events go out)."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(sa.String(2048))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    event_types: Mapped[list[str]] = mapped_column(JSONDocument)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[DisabledReason | None] = mapped_column(
        enum_column(DisabledReason, "webhook_disabled_reason", length=16)
    )
    # The first failed attempt since the last success (None: not failing).
    failing_since: Mapped[datetime | None]


class WebhookSecret(Base):
    """A signing secret (``whsec_…``, Standard Webhooks). A rotated-out secret keeps
    signing, beside the new one, until ``expires_at``."""

    __tablename__ = "webhook_secrets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    secret: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Entity):
    """One event for one endpoint: sent until a 2xx answer (at least once)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_object", "endpoint_id", "object_id", "event_seq"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_seq: Mapped[int] = mapped_column(sa.BigInteger)
    event_id: Mapped[uuid.UUID]
    object_id: Mapped[uuid.UUID]
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus, "webhook_delivery_status", length=16)
    )
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    response_code: Mapped[int | None] = mapped_column(sa.Integer)
    latency_ms: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    delivered_at: Mapped[datetime | None]
