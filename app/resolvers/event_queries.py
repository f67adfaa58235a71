"""The Query fields of the event log: `events(after:)` and `event(id:)`, for staff."""

from typing import Annotated

import strawberry

from app.domain.event_types import EventType
from app.resolvers.common import Info, any_key, key_of
from app.schema.events import Event, EventConnection
from app.schema.pagination import After, First
from app.services.outbox import log
from app.services.pagination import page_size


@strawberry.type
class EventQueries:
    @strawberry.field(
        description=(
            "The event log in commit order, oldest first: every business fact from the point "
            "`after` (the start of the retained log without it). Read on with "
            "`pageInfo.endCursor`; an event committed later always comes after it."
        )
    )
    async def events(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        types: Annotated[
            list[EventType] | None,
            strawberry.argument(description="Only events of these types (all without)."),
        ] = None,
        object_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only events about this object (a global ID)."),
        ] = None,
    ) -> EventConnection:
        size = page_size(first)
        start = log.decode_cursor(after, "after")
        key = None
        if object_id is not None:
            _type, key = any_key(object_id, "objectId")
        async with info.context.db() as session:
            rows = await log.page(
                session,
                after=start,
                types=frozenset(t.value for t in types or ()),
                object_id=key,
                limit=size + 1,
            )
        return EventConnection.of(
            rows[:size], more=len(rows) > size, after=after, cursor=log.encode_cursor
        )

    @strawberry.field(description="One event by its global ID; null when there is none.")
    async def event(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")],
    ) -> Event | None:
        key = key_of(id, "Event", "id")
        async with info.context.db() as session:
            row = await log.get(session, key)
        return None if row is None else Event.from_model(row)
