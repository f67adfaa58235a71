"""The upcoming invoice: what a subscription's next invoice would carry if its period
ended now (licensed items for the next period, usage so far, adjustments, pending items),
priced with its discount and tax. Nothing is written."""

from __future__ import annotations

import uuid
from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import PlannedLine, Preview, SubscriptionStatus
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.models import InvoiceLine, Price, Product, Subscription, SubscriptionItem
from app.services import test_clocks
from app.services.billing import coupons, renewals, usage_lines
from app.services.metering.pricing import licensed_amount

LIVE = (
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID,
)


async def upcoming(session: AsyncSession, *, clock: Clock, subscription_id: uuid.UUID) -> Preview:
    subscription = await session.get(Subscription, subscription_id)
    if subscription is None or subscription.status not in LIVE:
        raise UserInputError(
            Problem(
                ErrorCode.INVALID_STATE,
                "Only a live subscription has an upcoming invoice.",
                ("subscriptionId",),
            )
        )
    now = (await test_clocks.clock_of(session, subscription.customer_id, clock)).now()
    start = subscription.current_period_end
    end = renewals.period_after(subscription, start)
    lines: list[PlannedLine] = []
    if not subscription.cancel_at_period_end:
        for item, price, name in await session.execute(
            sa.select(SubscriptionItem, Price, Product.name)
            .join(Price, Price.id == SubscriptionItem.price_id)
            .join(Product, Product.id == Price.product_id)
            .where(SubscriptionItem.subscription_id == subscription.id, Price.meter_id.is_(None))
            .order_by(SubscriptionItem.id)
        ):
            amount = licensed_amount(price, item)
            lines.append(
                PlannedLine(
                    f"{item.quantity} x {name}",
                    item.quantity,
                    item.unit_amount_minor,
                    amount,
                    False,
                    start,
                    end,
                )
            )
    for line in await session.scalars(
        sa.select(InvoiceLine).where(
            InvoiceLine.customer_id == subscription.customer_id,
            InvoiceLine.invoice_id.is_(None),
            InvoiceLine.currency == subscription.currency,
            sa.or_(
                InvoiceLine.subscription_id.is_(None),
                InvoiceLine.subscription_id == subscription.id,
            ),
        )
    ):
        lines.append(
            PlannedLine(
                line.description,
                line.quantity,
                line.unit_amount_minor,
                line.amount_minor,
                line.proration,
                line.period_start,
                line.period_end,
            )
        )
    lines.extend(usage_lines.planned(await usage_lines.so_far(session, subscription, now)))
    preview = Preview(subscription.currency, False, start, end, tuple(lines))
    pricing = await coupons.pricing_for(
        session,
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        period_start=start,
        consume=False,
    )
    discount, totals = coupons.priced_lines([line.amount_minor for line in lines], pricing)
    await session.rollback()
    return replace(preview, discount_minor=discount, tax_minor=sum(t.tax for t in totals))
