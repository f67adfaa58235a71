"""Idempotency keys of money-moving mutations (Stripe's semantics), scoped per caller."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Entity, JSONDocument


class IdempotencyKey(Entity):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        sa.UniqueConstraint("principal", "key", name="uq_idempotency_keys_principal_key"),
    )

    principal: Mapped[str] = mapped_column(sa.String(128))
    key: Mapped[str] = mapped_column(sa.String(255))
    operation: Mapped[str] = mapped_column(sa.String(64))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    # Set while a request owns the key; a stale lock (crash) may be taken over.
    locked_at: Mapped[datetime | None]
    # Where a crashed request left off: the object it created, for the retry to resume.
    recovery_point: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(index=True)
