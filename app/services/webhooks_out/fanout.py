"""From the event log to deliveries: per endpoint, one delivery for every event of a type
it subscribes to after its cursor, and the cursor moved past them, in one transaction.

The endpoint row is locked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two workers
never fan out to one endpoint at once, and neither waits for the other. Because the log's
``seq`` is its commit order (``app.services.outbox.recorder``), an event committed after
the page was read always has a larger ``seq`` than the cursor: none is skipped.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.webhooks_out import DeliveryStatus
from app.models import WebhookDelivery, WebhookEndpoint
from app.services.outbox import log

PAGE = 500


async def fan_out(session: AsyncSession, *, clock: Clock) -> int:
    """Fan out to every enabled endpoint; returns the deliveries created."""
    ids = list(
        await session.scalars(
            sa.select(WebhookEndpoint.id)
            .where(WebhookEndpoint.disabled_at.is_(None))
            .order_by(WebhookEndpoint.id)
        )
    )
    await session.rollback()
    created = 0
    for endpoint_id in ids:
        while True:
            count, more = await fan_out_one(session, endpoint_id, clock=clock)
            created += count
            if not more:
                break
    return created


async def fan_out_one(
    session: AsyncSession, endpoint_id: uuid.UUID, *, clock: Clock, limit: int = PAGE
) -> tuple[int, bool]:
    """One page for one endpoint: (deliveries created, whether more events may follow)."""
    statement = sa.select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.disabled_at.is_(None)
    )
    if (await session.connection()).dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    endpoint = await session.scalar(statement)
    if endpoint is None:  # disabled, deleted, or another worker is at it
        await session.rollback()
        return 0, False
    end = await log.last_seq(session)
    events = await log.page(session, after=endpoint.seq, types=endpoint.event_types, limit=limit)
    full = len(events) == limit
    # A full page: on from its last event. Else every event up to the log's end (read
    # before the page) is handed over, and the page's own events past it too.
    reached = events[-1].seq if full else max(end, events[-1].seq if events else 0, endpoint.seq)
    now = clock.now()
    for event in events:
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_seq=event.seq,
                event_id=event.id,
                object_id=event.object_id,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    if reached != endpoint.seq:
        endpoint.seq = reached
    await session.commit()
    return len(events), full
