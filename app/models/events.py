"""The outbox: every business fact as an event, written in the transaction that made it.

``seq`` is the log's order, assigned when the writing transaction commits (see
``app.services.outbox.recorder``): on PostgreSQL under a transaction-level advisory lock
taken just before COMMIT, on SQLite under the write lock every writer holds. So a reader that
has seen ``seq`` N never sees a smaller one appear later. Rows are never updated, except by
an erasure, which removes a person's data from them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.ids import new_id
from app.models.base import Base, JSONDocument, UTCDateTime

# SQLite makes an INTEGER PRIMARY KEY its rowid (the autoincrementing one); PostgreSQL a
# BIGSERIAL.
Sequence = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_object", "object_id", "seq"),
        sa.Index("ix_events_type", "type", "seq"),
    )

    seq: Mapped[int] = mapped_column(Sequence, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=new_id)
    type: Mapped[str] = mapped_column(sa.String(64))
    api_version: Mapped[str] = mapped_column(sa.String(16))
    object_type: Mapped[str] = mapped_column(sa.String(32))
    object_id: Mapped[uuid.UUID]
    # Whose data the event may hold (an erasure rewrites that customer's events).
    customer_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OutboxCursor(Base):
    """How far a reader of the log that must not miss an event (the event bus relay) has
    published: it resumes after ``seq``."""

    __tablename__ = "outbox_cursors"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
