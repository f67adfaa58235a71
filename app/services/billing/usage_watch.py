"""While a period runs: usage alerts and progressive billing.

- A usage alert (``createUsageAlert``) is checked against the current period's usage each
  time the billing engine passes the subscription; reached, it states the event
  ``usage.alert_triggered`` once per alert, customer and period (a unique key).
- A subscription with a usage threshold is invoiced mid-period as soon as the usage billed
  so far in its period reaches it (Stripe's ``subscription_threshold`` invoices): the
  lines bill the period's usage up to now, and the period's own invoice bills the rest
  (``usage_lines``: what is due is always the price of the usage minus what was billed).

Both run under the subscription's row lock, in the engine that bills it, so two engines
never state an alert twice nor issue two threshold invoices for the same usage.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import BillingReason, SubscriptionStatus
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.domain.event_types import EventType
from app.domain.ids import new_id
from app.domain.metering import quantity_text
from app.domain.money import parse_money
from app.models import Invoice, Subscription, UsageAlert, UsageAlertTrigger
from app.services import test_clocks
from app.services.billing import invoices, usage_lines
from app.services.metering import readings
from app.services.outbox import recorder

WATCHED = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


async def watch(
    session: AsyncSession, *, subscription_id: uuid.UUID, now: datetime
) -> tuple[Subscription, Invoice] | None:
    """Check the alerts of a subscription's metered items, and its threshold. Returns the
    subscription (locked) and a draft threshold invoice with its usage lines for the caller
    to finalize and collect; or None, committed."""
    metered = await usage_lines.metered_items(session, subscription_id)
    if not metered:  # most subscriptions: one read, no lock
        await session.commit()
        return None
    subscription = await session.get(
        Subscription, subscription_id, with_for_update=True, populate_existing=True
    )
    assert subscription is not None
    start = subscription.current_period_start
    if subscription.status not in WATCHED or now <= start:
        await session.commit()
        return None
    await _alerts(session, subscription, metered, start, min(now, subscription.current_period_end))
    invoice = None
    if (
        subscription.usage_threshold_minor is not None
        and subscription.status is not SubscriptionStatus.TRIALING
    ):
        invoice = await _threshold(session, subscription, now)
    if invoice is None:
        await session.commit()
        return None
    return subscription, invoice


async def _alerts(
    session: AsyncSession,
    subscription: Subscription,
    metered: list[usage_lines.MeteredItem],
    start: datetime,
    at: datetime,
) -> None:
    meters = {m.meter.id: m.meter for m in metered}
    alerts = (
        await session.scalars(
            sa.select(UsageAlert)
            .where(
                UsageAlert.meter_id.in_(meters),
                UsageAlert.archived_at.is_(None),
                sa.or_(
                    UsageAlert.customer_id.is_(None),
                    UsageAlert.customer_id == subscription.customer_id,
                ),
            )
            .order_by(UsageAlert.id)
        )
    ).all()
    if not alerts:
        return
    given = set(
        await session.scalars(
            sa.select(UsageAlertTrigger.alert_id).where(
                UsageAlertTrigger.alert_id.in_([a.id for a in alerts]),
                UsageAlertTrigger.customer_id == subscription.customer_id,
                UsageAlertTrigger.period_start == start,
            )
        )
    )
    measured: dict[uuid.UUID, Fraction] = {}
    for alert in alerts:
        if alert.id in given:
            continue
        meter = meters[alert.meter_id]
        if meter.id not in measured:
            measured[meter.id] = await readings.measure(
                session, meter, subscription.customer_id, start, at
            )
        if measured[meter.id] < Fraction(alert.quantity):
            continue
        trigger = UsageAlertTrigger(
            id=new_id(),
            alert_id=alert.id,
            meter_id=meter.id,
            customer_id=subscription.customer_id,
            subscription_id=subscription.id,
            period_start=start,
            quantity=quantity_text(measured[meter.id]),
            threshold=alert.quantity,
            created_at=at,
            updated_at=at,
        )
        session.add(trigger)
        recorder.record(session.sync_session, EventType.USAGE_ALERT_TRIGGERED, trigger)


async def _threshold(
    session: AsyncSession, subscription: Subscription, now: datetime
) -> Invoice | None:
    assert subscription.usage_threshold_minor is not None
    window = (subscription.current_period_start, subscription.current_period_end)
    found = await usage_lines.charges(
        session,
        subscription_id=subscription.id,
        customer_id=subscription.customer_id,
        window=window,
        now=now,
    )
    due = sum(charge.amount_minor for charge in found if not charge.adjustment)
    if due < subscription.usage_threshold_minor or due <= 0:
        return None
    invoice = invoices.blank_invoice(
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        reason=BillingReason.SUBSCRIPTION_THRESHOLD,
        currency=subscription.currency,
        period_start=subscription.current_period_start,
        period_end=now,
        now=now,
    )
    session.add(invoice)
    usage_lines.add_lines(session, invoice, found, now=now)
    await session.flush()
    return invoice


async def set_threshold(
    session: AsyncSession, *, clock: Clock, subscription_id: uuid.UUID, amount: str | None
) -> Subscription:
    """Set (or clear, with None) the usage amount at which a subscription is invoiced
    mid-period; checked from the billing engine's next pass."""
    subscription = await session.get(
        Subscription, subscription_id, with_for_update=True, populate_existing=True
    )
    if subscription is None:
        raise UserInputError(
            Problem(ErrorCode.NOT_FOUND, "No such subscription.", ("subscriptionId",))
        )
    minor = None
    if amount is not None:
        try:
            minor = parse_money(amount, subscription.currency, field=("amount",)).amount_minor
        except UserInputError:
            await session.rollback()
            raise
        if minor <= 0:
            await session.rollback()
            raise UserInputError(
                Problem(ErrorCode.INVALID, "A threshold is a positive amount.", ("amount",))
            )
    subscription.usage_threshold_minor = minor
    subscription.updated_at = (
        await test_clocks.clock_of(session, subscription.customer_id, clock)
    ).now()
    await session.commit()
    return subscription
