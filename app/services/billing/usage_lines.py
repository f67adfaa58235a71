"""Usage on invoices: metered items are billed in arrears, and late usage is corrected on
the next invoice, never by changing a finalized one.

One rule makes every case exact: for each metered item and usage window, what is due is
the price model applied to the window's quantity *now*, rounded once, minus what earlier
lines already billed for that window. The invoice at a period's end bills its window this
way; each later invoice of the subscription bills the difference for every earlier window
that can still change (an event may be up to 35 days old when it arrives) as an adjustment
line naming the window. So the lines of a window always add up to the price of its
deduplicated usage, to the minor unit, whatever order and lateness the events had. A meter
whose filters are corrected is re-rated the same way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import BillingReason, PlannedLine, SubscriptionStatus
from app.domain.ids import new_id
from app.domain.metering import PriceScheme, line_amount, quantity_text
from app.models import (
    Invoice,
    InvoiceLine,
    Meter,
    Price,
    Product,
    Subscription,
    SubscriptionItem,
)
from app.services.billing import invoices
from app.services.metering import readings
from app.services.metering.ingest import MAX_AGE
from app.services.metering.pricing import scheme_of

# Windows that ended longer ago than events may be late (and a day of margin) are final.
SETTLED_AFTER = MAX_AGE + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class MeteredItem:
    item: SubscriptionItem
    price: Price
    meter: Meter
    product_name: str

    @property
    def scheme(self) -> PriceScheme:
        return scheme_of(self.price)


@dataclass(frozen=True, slots=True)
class UsageCharge:
    """A usage line to bill (or shown so far): the item, its window and quantity, the
    amount due now, and whether it corrects a window billed before."""

    metered: MeteredItem
    start: datetime
    end: datetime
    quantity: Fraction
    amount_minor: int
    adjustment: bool

    @property
    def description(self) -> str:
        what = f"{self.metered.product_name} ({self.metered.meter.name})"
        window = f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"
        if self.adjustment:
            return f"Usage adjustment for {window}: {what}"
        return f"Usage {window}: {what}"


async def metered_items(session: AsyncSession, subscription_id: uuid.UUID) -> list[MeteredItem]:
    rows = await session.execute(
        sa.select(SubscriptionItem, Price, Meter, Product.name)
        .join(Price, Price.id == SubscriptionItem.price_id)
        .join(Meter, Meter.id == Price.meter_id)
        .join(Product, Product.id == Price.product_id)
        .where(SubscriptionItem.subscription_id == subscription_id)
        .order_by(SubscriptionItem.id)
    )
    return [MeteredItem(item, price, meter, name) for item, price, meter, name in rows.all()]


async def _billed(
    session: AsyncSession, item_id: uuid.UUID
) -> dict[datetime, tuple[datetime, int]]:
    """The usage windows of an item billed so far: start -> (end, amount billed)."""
    billed: dict[datetime, tuple[datetime, int]] = {}
    for start, end, amount in await session.execute(
        sa.select(InvoiceLine.period_start, InvoiceLine.period_end, InvoiceLine.amount_minor)
        .where(
            InvoiceLine.subscription_item_id == item_id,
            InvoiceLine.usage_quantity.is_not(None),
        )
        .order_by(InvoiceLine.id)
    ):
        if start is None or end is None:
            continue
        _, so_far = billed.get(start, (end, 0))
        billed[start] = (end, so_far + amount)
    return billed


async def _charge(
    session: AsyncSession,
    metered: MeteredItem,
    customer_id: uuid.UUID,
    start: datetime,
    end: datetime,
    billed: int,
    adjustment: bool,
) -> UsageCharge:
    quantity = await readings.measure(session, metered.meter, customer_id, start, end)
    price = line_amount(metered.scheme, max(quantity, Fraction(0)))
    return UsageCharge(metered, start, end, quantity, price - billed, adjustment)


async def charges(
    session: AsyncSession,
    *,
    subscription_id: uuid.UUID,
    customer_id: uuid.UUID,
    window: tuple[datetime, datetime] | None,
    now: datetime,
) -> list[UsageCharge]:
    """What is due for usage: the window's charge of each metered item (when ``window`` is
    given), then the adjustments of earlier windows that late usage changed."""
    due: list[UsageCharge] = []
    for metered in await metered_items(session, subscription_id):
        billed = await _billed(session, metered.item.id)
        if window is not None:
            start, end = window
            so_far = billed.get(start, (end, 0))[1]
            due.append(await _charge(session, metered, customer_id, start, end, so_far, False))
        for start, (end, amount) in sorted(billed.items()):
            if window is not None and start == window[0]:
                continue
            if end + SETTLED_AFTER < now:
                continue
            charge = await _charge(session, metered, customer_id, start, end, amount, True)
            if charge.amount_minor != 0:
                due.append(charge)
    return due


def last_invoice(subscription: Subscription, *, at: datetime, usage_start: datetime) -> Invoice:
    """A subscription's last invoice (it was canceled): only the usage of
    ``[usage_start, at)``, with no licensed period (added to the session by the caller)."""
    invoice = invoices.blank_invoice(
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        reason=BillingReason.SUBSCRIPTION_CYCLE,
        currency=subscription.currency,
        period_start=at,
        period_end=at,
        now=at,
    )
    invoice.billing_period_start = at  # one invoice per subscription and boundary
    invoice.usage_period_start = usage_start
    return invoice


async def bill(session: AsyncSession, invoice: Invoice, *, now: datetime) -> int:
    """Put the usage due on a draft invoice of its subscription: the window that ends at
    the invoice's start (``usage_period_start``), and the adjustments. Returns the lines
    added."""
    assert invoice.subscription_id is not None
    window = None
    if invoice.usage_period_start is not None and invoice.usage_period_start < invoice.period_start:
        window = (invoice.usage_period_start, invoice.period_start)
    found = await charges(
        session,
        subscription_id=invoice.subscription_id,
        customer_id=invoice.customer_id,
        window=window,
        now=now,
    )
    add_lines(session, invoice, found, now=now)
    return len(found)


def add_lines(
    session: AsyncSession, invoice: Invoice, found: list[UsageCharge], *, now: datetime
) -> None:
    for charge in found:
        session.add(
            InvoiceLine(
                id=new_id(),
                invoice_id=invoice.id,
                customer_id=invoice.customer_id,
                subscription_id=invoice.subscription_id,
                currency=invoice.currency,
                description=charge.description[:500],
                price_id=charge.metered.price.id,
                subscription_item_id=charge.metered.item.id,
                quantity=1,
                unit_amount_minor=charge.amount_minor,
                amount_minor=charge.amount_minor,
                period_start=charge.start,
                period_end=charge.end,
                usage_quantity=quantity_text(charge.quantity),
                usage_adjustment=charge.adjustment,
                created_at=now,
                updated_at=now,
            )
        )
        invoice.subtotal_minor += charge.amount_minor
    invoice.total_minor = invoice.subtotal_minor - invoice.discount_minor + invoice.tax_minor


def planned(found: list[UsageCharge]) -> tuple[PlannedLine, ...]:
    """Usage charges as the lines of a preview."""
    return tuple(
        PlannedLine(
            charge.description,
            1,
            charge.amount_minor,
            charge.amount_minor,
            False,
            charge.start,
            charge.end,
            quantity_text(charge.quantity),
            charge.adjustment,
        )
        for charge in found
    )


async def so_far(
    session: AsyncSession, subscription: Subscription, now: datetime
) -> list[UsageCharge]:
    """The usage the subscription's next invoice would bill if its period ended ``now``:
    the current window so far (none in a trial: its usage is free) and the adjustments."""
    window = None
    if subscription.status is not SubscriptionStatus.TRIALING:
        window = (subscription.current_period_start, min(now, subscription.current_period_end))
    return await charges(
        session,
        subscription_id=subscription.id,
        customer_id=subscription.customer_id,
        window=window if window and window[0] < window[1] else None,
        now=now,
    )
