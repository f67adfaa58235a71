"""Customers: who pays."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Entity


class Customer(Entity):
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
