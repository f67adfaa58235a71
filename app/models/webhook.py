"""Inbound PSP webhook events, stored raw and deduplicated by the provider's event id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Entity, JSONDocument


class WebhookEvent(Entity):
    __tablename__ = "webhook_events"
    __table_args__ = (
        sa.UniqueConstraint("psp", "event_id", name="uq_webhook_events_event"),
        # Events about a payment we cannot match yet (its PSP reference is not stored)
        # wait here until the synchronous response records the reference.
        sa.Index("ix_webhook_events_unmatched", "psp", "object_reference", "processed_at"),
    )

    psp: Mapped[str] = mapped_column(sa.String(32))
    event_id: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(128))
    kind: Mapped[str] = mapped_column(sa.String(32))
    object_reference: Mapped[str | None] = mapped_column(sa.String(255))
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)  # as the PSP sent it
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONDocument)  # verified, neutral
    deliveries: Mapped[int] = mapped_column(default=1)
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(sa.String(500))
