"""Relay cursor connections with `totalCount`."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from app.services.pagination import encode_cursor

NodeT = TypeVar("NodeT")

# The arguments of every connection field.
First = Annotated[int | None, strawberry.argument(description="Page size, 0 to 100 (default 20).")]
After = Annotated[
    str | None, strawberry.argument(description="Cursor of the edge after which the page starts.")
]


@strawberry.type(description="Where a page stands in its connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(
        description="Items precede this page (it was fetched with `after`)."
    )
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last edge: pass it as `after` for the next page."
    )


def _cursor(root: Any) -> str:
    """An edge's cursor, made when selected (a page of 50 customers selects none, often):
    the executor calls a resolver taking only its object like an attribute read."""
    return encode_cursor(root.key)


@strawberry.type(description="One item of a connection, with its cursor.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(resolver=_cursor, description="Opaque position of this item.")
    node: NodeT = strawberry.field(description="The item.")
    key: strawberry.Private[uuid.UUID]


@strawberry.type(description="A page of items, newest first, with cursors (Relay).")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Cursors and whether more pages exist.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of items in the whole connection, all pages.")
    async def total_count(self) -> int:
        return await self._count()

    @classmethod
    def of(
        cls,
        rows: Sequence[Any],
        build: Callable[[Any], NodeT],
        *,
        more: bool,
        after: str | None,
        count: Callable[[], Awaitable[int]],
    ) -> "Connection[NodeT]":
        """A page of rows with time-ordered ``id`` keys, newest first."""
        return cls(
            edges=[Edge(node=build(row), key=row.id) for row in rows],
            page_info=PageInfo(
                has_next_page=more,
                has_previous_page=after is not None,
                start_cursor=encode_cursor(rows[0].id) if rows else None,
                end_cursor=encode_cursor(rows[-1].id) if rows else None,
            ),
            _count=count,
        )
