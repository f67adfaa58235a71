"""API keys and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.ids import new_id
from app.models.base import Base, Entity, JSONDocument, UTCDateTime, enum_column
from app.security.principals import Role


class ApiKey(Entity):
    """A server credential. Only a SHA-256 digest of the secret is stored: the key itself
    is shown once, when it is created."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[Role] = mapped_column(enum_column(Role, "api_key_role", length=16))
    # The public part of the key (``pgk_<prefix>_…``): finds the row, safe to display.
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    secret_digest: Mapped[str] = mapped_column(sa.String(64))
    revoked_at: Mapped[datetime | None]


class AuditEvent(Base):
    """One mutation, as called: who, what, on which objects, with which outcome.
    Append-only (database triggers)."""

    __tablename__ = "audit_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    principal: Mapped[str] = mapped_column(sa.String(80), index=True)
    actor: Mapped[str] = mapped_column(sa.String(16))
    operation: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_ids: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    input: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # ok | user_error | denied | error
    outcome: Mapped[str] = mapped_column(sa.String(16))
    error_codes: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    request_id: Mapped[str] = mapped_column(sa.String(64))
