"""Files uploaded to paygate (``POST /files``): dispute evidence so far.

The content is kept in the database (a deployment needs no shared directory); a file is at
most 5 MB (``app.domain.disputes.MAX_FILE_BYTES``). Its type is the one its bytes show,
not the one the sender declared.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Entity


class File(Entity):
    __tablename__ = "files"
    __table_args__ = (sa.CheckConstraint("size_bytes > 0", name="size_positive"),)

    purpose: Mapped[str] = mapped_column(sa.String(32))
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(32))
    size_bytes: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # Who uploaded it (the principal's scope, as idempotency keys and the audit log name it).
    uploaded_by: Mapped[str] = mapped_column(sa.String(255))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
