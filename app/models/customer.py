"""Customers: who pays."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Entity


class Customer(Entity):
    """Personal data: email, name, locale and metadata (pseudonymised by an erasure, which
    sets ``erased_at``); ``country`` is the tax country and stays with the invoices."""

    __tablename__ = "customers"

    email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    name: Mapped[str | None] = mapped_column(sa.String(256))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    locale: Mapped[str | None] = mapped_column(sa.String(35))
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", default=dict)
    # Sandbox: the customer lives on this simulated clock's time instead of the wall clock.
    test_clock_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("test_clocks.id"), index=True
    )
    # GDPR erasure: when the personal data was removed. An erased customer is never charged,
    # subscribed or changed again; its invoices, payments and refunds stay (legal retention).
    erased_at: Mapped[datetime | None]
