"""The root of live subscriptions, ``LiveUpdates`` (graphql-transport-ws over WebSocket on
/graphql; README: Live updates over WebSocket). Not named ``Subscription``: that is the
billing object.

Each object field yields the object's current state when subscribed — the subscriber is
registered with the hub first, so nothing committed between a client's query and its
subscribe is missed — and then its state again after every event about it, loaded as the
typed query roots load it (``load_typed``: the DataLoaders, and a customer session sees
only its own objects; another's is ``NOT_FOUND``, as an ID that does not exist). Events
already waiting when a state is loaded are folded into that one result. Between results the
subscription holds no database connection (``RequestContext.rest``). The events come from
the outbox through the process's hub (``app.services.outbox.hub``), whichever replica
committed them.
"""

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from app.domain.errors import ErrorCode
from app.domain.event_types import EventType
from app.resolvers.common import Info, key_of
from app.resolvers.nodes import load_typed
from app.schema.errors import PublicError
from app.schema.events import Event
from app.schema.invoices import Invoice
from app.schema.payment import Payment
from app.schema.subscriptions import Subscription
from app.services.outbox import log

GlobalId = Annotated[strawberry.ID, strawberry.argument(description="A global ID.")]

_WORDS = {"Payment": "payment", "Invoice": "invoice", "Subscription": "subscription"}


async def _state(info: Info, global_id: str, expected: str) -> Any:
    node = await load_typed(info.context, global_id, expected)
    if node is None:
        raise PublicError(f"No such {_WORDS[expected]}.", ErrorCode.NOT_FOUND)
    return node


async def follow(info: Info, global_id: str, expected: str) -> AsyncGenerator[Any, None]:
    """The object now, then after each event about it."""
    key = key_of(global_id, expected, "id")
    context = info.context
    hub = context.runtime.hub
    subscriber = await hub.subscribe(object_id=key, coalesce=True)
    try:
        state = await _state(info, global_id, expected)
        while True:
            yield state
            # The previous result is sent: free its connection while waiting.
            await context.rest()
            await subscriber.next()
            subscriber.drain()
            state = await _state(info, global_id, expected)
    finally:
        hub.unsubscribe(subscriber)


@strawberry.type(
    name="LiveUpdates",
    description=(
        "Live subscriptions (graphql-transport-ws over WebSocket at /graphql): an object's "
        "state when subscribed and after each change, or the event log as it grows."
    ),
)
class LiveUpdates:
    @strawberry.subscription(
        description="The payment now, then after each change (3-D Secure, capture, refund, "
        "dispute ...)."
    )
    async def payment_updated(self, info: Info, id: GlobalId) -> AsyncGenerator[Payment, None]:
        async for state in follow(info, id, "Payment"):
            yield state

    @strawberry.subscription(description="The invoice now, then after each change.")
    async def invoice_updated(self, info: Info, id: GlobalId) -> AsyncGenerator[Invoice, None]:
        async for state in follow(info, id, "Invoice"):
            yield state

    @strawberry.subscription(description="The subscription now, then after each change.")
    async def subscription_updated(
        self, info: Info, id: GlobalId
    ) -> AsyncGenerator[Subscription, None]:
        async for state in follow(info, id, "Subscription"):
            yield state

    @strawberry.subscription(
        description="Events committed after subscribing, in log order (staff). A subscriber "
        "that falls too far behind is ended with `SUBSCRIBER_TOO_SLOW`: read on with the "
        "`events(after:)` query."
    )
    async def events(
        self,
        info: Info,
        types: Annotated[
            list[EventType] | None,
            strawberry.argument(description="Only events of these types (all without)."),
        ] = None,
    ) -> AsyncGenerator[Event, None]:
        context = info.context
        hub = context.runtime.hub
        subscriber = await hub.subscribe(types={t.value for t in types or ()})
        try:
            # Registered first: every event committed after this read reaches the queue.
            async with context.db() as session:
                after = await log.last_seq(session)
            await context.rest()
            while True:
                row = await subscriber.next()
                if subscriber.overflowed:
                    raise PublicError(
                        "This subscriber fell too far behind the event log and was ended: "
                        "read on with the `events(after:)` query.",
                        ErrorCode.SUBSCRIBER_TOO_SLOW,
                    )
                if row.seq > after:
                    yield Event.from_model(row)
        finally:
            hub.unsubscribe(subscriber)
