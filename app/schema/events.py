"""The event log: every business fact paygate recorded, in commit order."""

from datetime import datetime
from typing import Any

import strawberry

from app.domain.event_types import EventType
from app.domain.ids import global_id
from app.models import Event as EventRow
from app.schema.enum_values.events import EVENT_TYPE
from app.schema.enums import described_enum
from app.schema.node import Node, encode_gid
from app.schema.scalars import JSON

described_enum(
    EventType,
    description=(
        "What an event states. Webhooks, the event bus and `Event.name` carry the dotted "
        "name (`payment.succeeded`)."
    ),
    values=EVENT_TYPE,
)


@strawberry.type(
    description=(
        "A business fact (a payment succeeded, an invoice was paid), with its object as this "
        "API showed it then. Events are ordered by `sequence`, the commit order."
    )
)
class Event(Node):
    sequence: str = strawberry.field(
        description="Position in the log, increasing in commit order (a 64-bit integer as a "
        "string). Gaps are possible; order is not."
    )
    type: EventType = strawberry.field(description="What happened.")
    name: str = strawberry.field(
        description="The type's dotted name, as webhooks and the event bus carry it."
    )
    api_version: str = strawberry.field(description="The API version of `data`'s shape.")
    created_at: datetime = strawberry.field(description="When it was committed.")
    object_type: str = strawberry.field(description="The GraphQL type of `data`.")
    object_id: strawberry.ID = strawberry.field(description="The global ID of the object.")
    data: JSON = strawberry.field(
        description="The object as a query of these fields returned it when the event was "
        "recorded (field names, enums, money and dates as the API shows them)."
    )
    previous_attributes: JSON | None = strawberry.field(
        description="The previous values of the fields of `data` that changed (null for a "
        "created object)."
    )

    @classmethod
    def from_model(cls, row: EventRow) -> "Event":
        kind = EventType(row.type)
        return cls(
            id=encode_gid("Event", row.id),
            sequence=str(row.seq),
            type=kind,
            name=kind.value,
            api_version=row.api_version,
            created_at=row.created_at,
            object_type=row.object_type,
            object_id=strawberry.ID(global_id(row.object_type, row.object_id)),
            data=JSON(row.data),
            previous_attributes=None if row.previous is None else JSON(row.previous),
        )


@strawberry.type(description="One event of the log, with its cursor.")
class EventEdge:
    cursor: str = strawberry.field(description="Opaque position: pass it as `after`.")
    node: Event = strawberry.field(description="The event.")


@strawberry.type(description="Where a page of the event log stands.")
class EventPageInfo:
    has_next_page: bool = strawberry.field(
        description="More events were committed after this page (so far)."
    )
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last edge, or the `after` given when the page is empty: "
        "pass it as `after` to read on (the log's end moves as events are committed)."
    )


@strawberry.type(description="A page of the event log, oldest first (Relay).")
class EventConnection:
    edges: list[EventEdge] = strawberry.field(description="The events of this page.")
    page_info: EventPageInfo = strawberry.field(description="The cursor to read on from.")

    @classmethod
    def of(
        cls, rows: list[Any], *, more: bool, after: str | None, cursor: Any
    ) -> "EventConnection":
        edges = [EventEdge(cursor=cursor(row.seq), node=Event.from_model(row)) for row in rows]
        return cls(
            edges=edges,
            page_info=EventPageInfo(
                has_next_page=more, end_cursor=edges[-1].cursor if edges else after
            ),
        )
