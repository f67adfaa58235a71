"""Uploaded files (``POST /files``): checked, then stored in the database.

A file is refused, and nothing stored, when its purpose is unknown, it is empty or larger
than its purpose allows, its bytes are not of an allowed type (the magic number decides,
not the declared type), its name is unusable, or its bytes hold a card number.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import disputes as rules
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.domain.pan import contains_card_number
from app.domain.validation import NO_CARD_DATA
from app.models import File

PURPOSES = {rules.PURPOSE_DISPUTE_EVIDENCE: rules.MAX_FILE_BYTES}
ALLOWED = frozenset(rules.FileType)


def _refuse(code: ErrorCode, message: str, *field: str) -> UserInputError:
    return UserInputError(Problem(code, message, field))


def clean_filename(name: str | None) -> str:
    """A file name safe to store and to send on (no path, no control characters)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return kept[: rules.MAX_FILENAME] or "evidence"


def check(purpose: str, filename: str | None, content: bytes) -> tuple[rules.FileType, str]:
    """The file's type and clean name; ``UserInputError`` for a file to refuse."""
    limit = PURPOSES.get(purpose)
    if limit is None:
        raise _refuse(
            ErrorCode.INVALID, f"Unknown purpose; use one of: {', '.join(PURPOSES)}.", "purpose"
        )
    if not content:
        raise _refuse(ErrorCode.BLANK, "The file is empty.", "file")
    if len(content) > limit:
        raise _refuse(
            ErrorCode.FILE_TOO_LARGE,
            f"A {purpose} file is at most {limit:,} bytes (Stripe's limit).",
            "file",
        )
    kind = sniff_allowed(content)
    name = clean_filename(filename)
    # Evidence must never carry card numbers (PCI DSS SAQ A): the bytes are searched as
    # text. An image or a compressed PDF stream cannot be read so: mask numbers before.
    if contains_card_number(content.decode("latin-1")) or contains_card_number(name):
        raise _refuse(ErrorCode.CARD_DATA_NOT_ALLOWED, NO_CARD_DATA, "file")
    return kind, name


def sniff_allowed(content: bytes) -> rules.FileType:
    kind = rules.sniff(content)
    if kind not in ALLOWED:
        raise _refuse(
            ErrorCode.FILE_TYPE_NOT_ALLOWED,
            "Only PDF, JPEG and PNG files are taken, recognised by their content.",
            "file",
        )
    assert kind is not None
    return kind


async def upload(
    session: AsyncSession,
    *,
    clock: Clock,
    uploaded_by: str,
    purpose: str,
    filename: str | None,
    content: bytes,
) -> File:
    kind, name = check(purpose, filename, content)
    now = clock.now()
    row = File(
        purpose=purpose,
        filename=name,
        content_type=kind.value,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=uploaded_by,
        content=content,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.commit()
    return row


async def get_file(session: AsyncSession, file_id: uuid.UUID, *field: str) -> File:
    row = await session.get(File, file_id)
    if row is None:
        raise _refuse(ErrorCode.NOT_FOUND, "No such file.", *field)
    return row
