"""Keyset pagination over time-ordered UUID keys, newest first, with opaque cursors."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import ErrorCode, Problem, UserInputError
from app.records import ReadSource, columns, read_select

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


def _window(first: int | None, after: str | None) -> tuple[int, dict[str, Any]]:
    """The page size, and the values of ``_ordered``'s parameters for it."""
    size = page_size(first)
    values: dict[str, Any] = {"page_limit": size + 1}
    if after is not None:
        values["page_after"] = decode_cursor(after, "after")
    return size, values


def _ordered(statement: sa.Select[T], key: sa.ColumnElement[Any], after: bool) -> sa.Select[T]:
    """``statement``'s page: newest key first, after ``:page_after`` if ``after``, at most
    ``:page_limit`` rows (one more than the page: whether there is a next one)."""
    if after:
        statement = statement.where(key < sa.bindparam("page_after", type_=key.type))
    return statement.order_by(key.desc()).limit(sa.bindparam("page_limit", type_=sa.Integer))


def _page(rows: Sequence[T], size: int, after: str | None) -> Page[T]:
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
    size, values = _window(first, after)
    ordered = _ordered(statement, key, after is not None)
    return _page((await session.scalars(ordered, values)).all(), size, after)


async def read_page(
    source: ReadSource,
    statement: sa.Select[Any],
    key: sa.ColumnElement[Any],
    *,
    first: int | None,
    after: str | None,
) -> Page[Any]:
    """``fetch_page`` for pages only read: one model's rows as read-only records, without
    ORM or session; the page's cursor and limit are added to the statement once per shape
    (``app.records.read_select``)."""
    size, values = _window(first, after)
    variant = ("page", str(key), after is not None)
    rows = await read_select(
        source, statement, partial(_read_columns, key, after is not None), variant, values
    )
    return _page(rows, size, after)


def _read_columns(
    key: sa.ColumnElement[Any], after: bool, statement: sa.Select[Any], model: type
) -> sa.Select[Any]:
    """``statement``'s page with the model's columns as records read them."""
    return _ordered(statement, key, after).with_only_columns(*columns(model))


async def count(session: AsyncSession, statement: sa.Select[Any]) -> int:
    total = await session.scalar(sa.select(sa.func.count()).select_from(statement.subquery()))
    return int(total or 0)
