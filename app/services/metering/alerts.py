"""Usage alerts: a quantity of a meter that, reached by a customer's usage in a billing
period, states ``usage.alert_triggered`` (``app/services/billing/usage_watch.py`` checks
them as the billing engine passes each subscription)."""

from __future__ import annotations

import uuid
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.domain.metering import quantity_text
from app.models import Customer, Meter, UsageAlert
from app.services.metering.ingest import decimal_value


async def create_alert(
    session: AsyncSession,
    *,
    clock: Clock,
    meter_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    quantity: str,
) -> UsageAlert:
    value = decimal_value(quantity)
    if value is None or value <= 0:
        raise UserInputError(
            Problem(ErrorCode.INVALID, "A positive decimal quantity, e.g. 10000.", ("quantity",))
        )
    meter = await session.get(Meter, meter_id)
    if meter is None or meter.archived_at is not None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such active meter.", ("meterId",)))
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such customer.", ("customerId",)))
    alert = UsageAlert(
        meter_id=meter_id,
        customer_id=customer_id,
        quantity=quantity_text(Fraction(value)),
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(alert)
    await session.commit()
    return alert


async def archive_alert(session: AsyncSession, *, clock: Clock, alert_id: uuid.UUID) -> UsageAlert:
    alert = await session.get(UsageAlert, alert_id, with_for_update=True)
    if alert is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such usage alert.", ("id",)))
    if alert.archived_at is None:
        alert.archived_at = clock.now()
        alert.updated_at = clock.now()
    await session.commit()
    return alert


def alerts_query(meter_id: uuid.UUID) -> sa.Select[UsageAlert]:
    return (
        sa.select(UsageAlert)
        .where(UsageAlert.meter_id == meter_id, UsageAlert.archived_at.is_(None))
        .order_by(UsageAlert.id)
    )
