"""List pages read as records: a connection's page (``Query.customers``, ``products`` …)
with the keyset rules of ``app.services.pagination``, one model's rows as read-only
records, without ORM or session."""

from __future__ import annotations

from functools import partial
from typing import Any

import sqlalchemy as sa

from app.graphql.read.records import ReadSource, columns, read_select
from app.services.pagination import Page, newest_first, page_of, window


async def read_page(
    source: ReadSource,
    statement: sa.Select[Any],
    key: sa.ColumnElement[Any],
    *,
    first: int | None,
    after: str | None,
) -> Page[Any]:
    """``pagination.fetch_page`` for pages only read: the page's cursor and limit are added
    to the statement once per shape (``app.graphql.read.records.read_select``)."""
    size, values = window(first, after)
    variant = ("page", str(key), after is not None)
    rows = await read_select(
        source, statement, partial(_read_columns, key, after is not None), variant, values
    )
    return page_of(rows, size, after)


def _read_columns(
    key: sa.ColumnElement[Any], after: bool, statement: sa.Select[Any], model: type
) -> sa.Select[Any]:
    """``statement``'s page with the model's columns as records read them."""
    return newest_first(statement, key, after).with_only_columns(*columns(model))
