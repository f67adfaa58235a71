"""``subscription.trial_will_end``: three days before a trial ends (Stripe's notice period),
once per trial end, stated by the billing engine as it passes that point on the customer's
clock (the wall clock, or a test clock moved forward).

No column marks a notice as given: the event log is the record. The subscription's row
lock makes the check-then-state step one engine's at a time, and a trial moved to a new
end gets a notice of its own.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.api_values import moment
from app.domain.billing import SubscriptionStatus
from app.domain.clock import FrozenClock
from app.domain.event_types import TRIAL_WILL_END_NOTICE_DAYS
from app.domain.event_types import EventType as T
from app.models import Customer, Event, Subscription
from app.services.outbox import recorder

NOTICE = timedelta(days=TRIAL_WILL_END_NOTICE_DAYS)


async def give_due(
    session: AsyncSession, *, now: FrozenClock, test_clock_id: uuid.UUID | None
) -> int:
    """State the notices that fell due by ``now`` for the trials of one clock's customers;
    returns how many."""
    at = now.now()
    statement = (
        sa.select(Subscription.id, Subscription.trial_end)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(
            Subscription.status == SubscriptionStatus.TRIALING,
            Subscription.trial_end > at,
            Subscription.trial_end <= at + NOTICE,
            Customer.test_clock_id.is_(None)
            if test_clock_id is None
            else Customer.test_clock_id == test_clock_id,
        )
    )
    trials = (await session.execute(statement)).all()
    # The notices given already, in one read: the engine passes every minute, and only a
    # trial without its notice takes the row lock.
    noticed = await _noticed(session, [subscription_id for subscription_id, _ in trials])
    given = 0
    for subscription_id, trial_end in trials:
        if (subscription_id, moment(trial_end)) not in noticed:
            given += await _give(session, subscription_id)
    await session.commit()
    return given


def _notices(*where: sa.ColumnElement[bool]) -> sa.Select[uuid.UUID, str]:
    return sa.select(Event.object_id, Event.data["trialEnd"].as_string()).where(
        Event.type == T.SUBSCRIPTION_TRIAL_WILL_END.value, *where
    )


async def _noticed(
    session: AsyncSession, subscription_ids: list[uuid.UUID]
) -> set[tuple[uuid.UUID, str | None]]:
    """(subscription, trial end) of the notices given to these subscriptions."""
    if not subscription_ids:
        return set()
    found = await session.execute(_notices(Event.object_id.in_(subscription_ids)))
    return {(object_id, trial_end) for object_id, trial_end in found}


async def _give(session: AsyncSession, subscription_id: uuid.UUID) -> int:
    subscription = await session.get(
        Subscription, subscription_id, with_for_update=True, populate_existing=True
    )
    if subscription is None or subscription.status is not SubscriptionStatus.TRIALING:
        return 0
    assert subscription.trial_end is not None
    # Again under the row lock: another engine may have given it meanwhile.
    given = await session.scalar(
        _notices(
            Event.object_id == subscription_id,
            Event.data["trialEnd"].as_string() == moment(subscription.trial_end),
        ).limit(1)
    )
    if given is not None:
        await session.commit()
        return 0
    recorder.record(session.sync_session, T.SUBSCRIPTION_TRIAL_WILL_END, subscription)
    await session.commit()
    return 1
