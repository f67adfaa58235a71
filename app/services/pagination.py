"""Keyset pagination over time-ordered UUID keys, newest first, with opaque cursors.

``fetch_page`` reads a page of ORM rows through a session; the read side reads the same
pages as records (``app.graphql.read.pages``) with the same rules: :func:`window`,
:func:`newest_first`, :func:`page_of`."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import ErrorCode, Problem, UserInputError

T = TypeVar("T")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
_PREFIX = "cursor:v1:"
_URL_SAFE = bytes.maketrans(b"+/", b"-_")  # base64's URL-safe alphabet


def encode_cursor(key: uuid.UUID) -> str:
    encoded = binascii.b2a_base64(f"{_PREFIX}{key}".encode(), newline=False)
    return encoded.translate(_URL_SAFE).rstrip(b"=").decode()


def decode_cursor(cursor: str, *field: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_PREFIX):
            raise ValueError(raw)
        return uuid.UUID(raw[len(_PREFIX) :])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise UserInputError(
            Problem(ErrorCode.INVALID, "Not a cursor returned by this connection.", field)
        ) from None


def page_size(first: int | None) -> int:
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 0 <= size <= MAX_PAGE_SIZE:
        raise UserInputError(
            Problem(
                ErrorCode.INVALID,
                f"`first` must be between 0 and {MAX_PAGE_SIZE}.",
                ("first",),
            )
        )
    return size


def list_limit(n: int, *field: str) -> int:
    """A bound on a plain list's length (``last: 12``), 0 to ``MAX_PAGE_SIZE``."""
    if not 0 <= n <= MAX_PAGE_SIZE:
        message = f"`{field[-1]}` must be between 0 and {MAX_PAGE_SIZE}."
        raise UserInputError(Problem(ErrorCode.INVALID, message, field))
    return n


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_next_page: bool
    has_previous_page: bool


def window(first: int | None, after: str | None) -> tuple[int, dict[str, Any]]:
    """The page size, and the values of ``newest_first``'s parameters for it."""
    size = page_size(first)
    values: dict[str, Any] = {"page_limit": size + 1}
    if after is not None:
        values["page_after"] = decode_cursor(after, "after")
    return size, values


def newest_first(statement: sa.Select[T], key: sa.ColumnElement[Any], after: bool) -> sa.Select[T]:
    """``statement``'s page: newest key first, after ``:page_after`` if ``after``, at most
    ``:page_limit`` rows (one more than the page: whether there is a next one)."""
    if after:
        statement = statement.where(key < sa.bindparam("page_after", type_=key.type))
    return statement.order_by(key.desc()).limit(sa.bindparam("page_limit", type_=sa.Integer))


def page_of(rows: Sequence[T], size: int, after: str | None) -> Page[T]:
    """The page of ``size`` in ``rows`` (read with one more: whether there is a next)."""
    return Page(
        items=rows[:size], has_next_page=len(rows) > size, has_previous_page=after is not None
    )


async def fetch_page(
    session: AsyncSession,
    statement: sa.Select[T],
    key: sa.ColumnElement[Any],
    *,
    first: int | None,
    after: str | None,
) -> Page[T]:
    """One statement: the filtered rows after the cursor, newest key first."""
    size, values = window(first, after)
    ordered = newest_first(statement, key, after is not None)
    return page_of((await session.scalars(ordered, values)).all(), size, after)


async def count(session: AsyncSession, statement: sa.Select[Any]) -> int:
    total = await session.scalar(sa.select(sa.func.count()).select_from(statement.subquery()))
    return int(total or 0)
