"""Relay cursor connections with `totalCount`."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from app.services.pagination import encode_cursor

NodeT = TypeVar("NodeT")


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


@strawberry.type(description="One item of a connection, with its cursor.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Opaque position of this item.")
    node: NodeT = strawberry.field(description="The item.")


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
        edges = [Edge(cursor=encode_cursor(row.id), node=build(row)) for row in rows]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=more,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            _count=count,
        )
