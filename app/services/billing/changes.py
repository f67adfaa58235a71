"""Changing a subscription's price or quantity mid-period, with exact prorations, and the
dry run (preview) that shows the invoice a change would produce without changing anything.

Behaviours, as in Stripe: ``CREATE_PRORATIONS`` puts a credit for the unused time and a
charge for the remaining time on the next invoice; ``ALWAYS_INVOICE`` bills them at once (a
net credit is carried to the next invoice instead); ``NONE`` changes the price from the next
period on, without prorations.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import (
    BillingReason,
    InvoiceStatus,
    PlannedLine,
    Preview,
    ProrationBehavior,
    SubscriptionStatus,
    prorate,
    remaining_share,
)
from app.domain.clock import Clock, FrozenClock
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.domain.ids import new_id
from app.models import (
    Invoice,
    InvoiceLine,
    Price,
    Product,
    Subscription,
    SubscriptionItem,
)
from app.models.catalog import PriceType
from app.psp.registry import PspRegistry
from app.services import idempotency, test_clocks
from app.services.billing import coupons, invoices, promotion_codes, renewals, usage_lines
from app.services.metering.pricing import is_simple
from app.services.payments.outcomes import Caller


@dataclass(frozen=True, slots=True)
class Discount:
    """A discount asked for with a change: a promotion code or a coupon's code."""

    promotion_code: str | None = None
    coupon_code: str | None = None


NO_DISCOUNT = Discount()
_LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)


@dataclass(frozen=True, slots=True)
class _Plan:
    subscription: Subscription
    item: SubscriptionItem
    price: Price
    quantity: int
    now: datetime
    prorations: tuple[PlannedLine, ...]
    behavior: ProrationBehavior


async def _plan(
    session: AsyncSession,
    *,
    clock: Clock,
    subscription_id: uuid.UUID,
    price_id: uuid.UUID | None,
    quantity: int | None,
    behavior: ProrationBehavior,
    lock: bool,
) -> _Plan:
    subscription = await session.get(Subscription, subscription_id, with_for_update=lock,
                                     populate_existing=True)  # fmt: skip
    if subscription is None:
        raise UserInputError(
            Problem(ErrorCode.NOT_FOUND, "No such subscription.", ("subscriptionId",))
        )
    live = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)
    if subscription.status not in live:
        raise UserInputError(
            Problem(
                ErrorCode.INVALID_STATE,
                f"A {subscription.status.value} subscription cannot change.",
                ("subscriptionId",),
            )
        )
    # the licensed items (usage items, billed in arrears, are not changed here)
    items = (
        await session.scalars(
            sa.select(SubscriptionItem)
            .join(Price, Price.id == SubscriptionItem.price_id)
            .where(SubscriptionItem.subscription_id == subscription.id, Price.meter_id.is_(None))
        )
    ).all()
    if len(items) != 1:
        raise UserInputError(
            Problem(
                ErrorCode.OPERATION_NOT_SUPPORTED,
                "Only subscriptions of one licensed item can change price or quantity for now.",
                ("subscriptionId",),
            )
        )
    item = items[0]
    price = await session.get(Price, price_id or item.price_id)
    if price is None or (price_id is not None and not price.active):
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such active price.", ("priceId",)))
    current = await session.get(Price, item.price_id)
    if not is_simple(price) or current is None or not is_simple(current):
        raise UserInputError(
            Problem(
                ErrorCode.OPERATION_NOT_SUPPORTED,
                "Only prices of a whole amount per unit, without a meter, change mid-period "
                "for now (prorations of tiered and usage prices are not supported).",
                ("priceId",),
            )
        )
    same_shape = (
        price.type is PriceType.RECURRING
        and price.currency == subscription.currency
        and price.recurring_interval is subscription.interval
        and price.recurring_interval_count == subscription.interval_count
    )
    if not same_shape:
        raise UserInputError(
            Problem(
                ErrorCode.INVALID,
                "The new price must be recurring with the subscription's currency and "
                "billing interval.",
                ("priceId",),
            )
        )
    new_quantity = item.quantity if quantity is None else quantity
    if not 1 <= new_quantity <= 10_000:
        raise UserInputError(Problem(ErrorCode.INVALID, "Quantity is 1 to 10000.", ("quantity",)))
    now = (await test_clocks.clock_of(session, subscription.customer_id, clock)).now()
    prorations: tuple[PlannedLine, ...] = ()
    trialing = subscription.status is SubscriptionStatus.TRIALING
    if behavior is not ProrationBehavior.NONE and not trialing:
        prorations = await _prorations(session, subscription, item, price, new_quantity, now)
    return _Plan(subscription, item, price, new_quantity, now, prorations, behavior)


async def _prorations(
    session: AsyncSession,
    subscription: Subscription,
    item: SubscriptionItem,
    price: Price,
    quantity: int,
    now: datetime,
) -> tuple[PlannedLine, ...]:
    old_total = item.unit_amount_minor * item.quantity
    new_total = price.unit_amount_minor * quantity
    start, end = subscription.current_period_start, subscription.current_period_end
    share = remaining_share(start, end, now)
    if share == 0 or old_total == new_total:
        return ()
    result = prorate(old_total, new_total, share)
    old_name = await session.scalar(
        sa.select(Product.name).join(Price, Price.product_id == Product.id)
        .where(Price.id == item.price_id)
    )  # fmt: skip
    new_name = await session.scalar(sa.select(Product.name).where(Product.id == price.product_id))
    return (
        PlannedLine(f"Unused time on {item.quantity} x {old_name}", item.quantity,
                    -item.unit_amount_minor, result.credit, True, now, end),
        PlannedLine(f"Remaining time on {quantity} x {new_name}", quantity,
                    price.unit_amount_minor, result.debit, True, now, end),
    )  # fmt: skip


def _immediate(plan: _Plan) -> bool:
    net = sum(line.amount_minor for line in plan.prorations)
    return plan.behavior is ProrationBehavior.ALWAYS_INVOICE and net > 0


async def preview_change(
    session: AsyncSession,
    *,
    clock: Clock,
    subscription_id: uuid.UUID,
    price_id: uuid.UUID | None,
    quantity: int | None,
    behavior: ProrationBehavior,
) -> Preview:
    """The invoice the change would produce; nothing is written."""
    plan = await _plan(session, clock=clock, subscription_id=subscription_id, price_id=price_id,
                       quantity=quantity, behavior=behavior, lock=False)  # fmt: skip
    subscription = plan.subscription
    if _immediate(plan):
        preview = Preview(subscription.currency, True, plan.now,
                          subscription.current_period_end, plan.prorations)  # fmt: skip
    else:
        start = subscription.current_period_end
        end = renewals.period_after(subscription, start)
        name = await session.scalar(
            sa.select(Product.name).where(Product.id == plan.price.product_id)
        )
        pending = (
            await session.scalars(
                sa.select(InvoiceLine).where(
                    InvoiceLine.subscription_id == subscription.id,
                    InvoiceLine.invoice_id.is_(None),
                )
            )
        ).all()
        renewal = PlannedLine(
            f"{plan.quantity} x {name}",
            plan.quantity,
            plan.price.unit_amount_minor,
            plan.price.unit_amount_minor * plan.quantity,
            False,
            start,
            end,
        )
        carried = tuple(
            PlannedLine(line.description, line.quantity, line.unit_amount_minor,
                        line.amount_minor, line.proration, line.period_start, line.period_end)
            for line in pending
        )  # fmt: skip
        usage = usage_lines.planned(await usage_lines.so_far(session, subscription, plan.now))
        preview = Preview(subscription.currency, False, start, end,
                          (renewal, *carried, *plan.prorations, *usage))  # fmt: skip
    pricing = await coupons.pricing_for(
        session,
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        period_start=preview.period_start,
        consume=False,
    )
    discount, totals = coupons.priced_lines([line.amount_minor for line in preview.lines], pricing)
    await session.rollback()
    return replace(preview, discount_minor=discount, tax_minor=sum(t.tax for t in totals))


async def update_subscription(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    caller: Caller,
    subscription_id: uuid.UUID,
    price_id: uuid.UUID | None,
    quantity: int | None,
    behavior: ProrationBehavior,
    discount: Discount = NO_DISCOUNT,
) -> Subscription:
    """Change the price or quantity, and/or the discount: a promotion code or a coupon
    code replaces the subscription's discount from its next invoice."""
    if discount.coupon_code is not None and discount.promotion_code is not None:
        raise UserInputError(
            Problem(ErrorCode.INVALID, "Give couponCode or promotionCode, not both.",
                    ("promotionCode",))
        )  # fmt: skip
    arguments: dict[str, object] = {
        "subscription": str(subscription_id), "quantity": quantity,
        "price": str(price_id) if price_id else None, "proration": behavior.value,
    }  # fmt: skip
    if discount != NO_DISCOUNT:
        arguments["discount"] = [discount.promotion_code, discount.coupon_code]
    claimed = await idempotency.claim(
        session, clock=clock, principal=caller.principal, key=caller.idempotency_key,
        operation="updateSubscription", arguments=arguments,
    )  # fmt: skip
    if claimed.replay is None and price_id is None and quantity is None and discount != NO_DISCOUNT:
        await _discount_only(session, clock, claimed, subscription_id, discount)
    elif claimed.replay is None:
        invoice_id = await _apply(session, clock, claimed, subscription_id, price_id, quantity,
                                  behavior, discount)  # fmt: skip
        if invoice_id is not None:
            found = await session.get(Subscription, subscription_id)
            assert found is not None
            method = await invoices.default_method(session, found)
            customer_clock = FrozenClock(found.updated_at)
            await session.commit()
            await invoices.collect(
                session, psps=psps, clock=customer_clock, invoice_id=invoice_id,
                payment_method_id=method, off_session=False,
            )  # fmt: skip
    subscription = await session.get(Subscription, subscription_id, populate_existing=True)
    assert subscription is not None
    return subscription


async def _apply(
    session: AsyncSession,
    clock: Clock,
    claimed: idempotency.Claim,
    subscription_id: uuid.UUID,
    price_id: uuid.UUID | None,
    quantity: int | None,
    behavior: ProrationBehavior,
    discount: Discount,
) -> uuid.UUID | None:
    try:
        plan = await _plan(
            session,
            clock=clock,
            subscription_id=subscription_id,
            price_id=price_id,
            quantity=quantity,
            behavior=behavior,
            lock=True,
        )
        await _take_discount(session, plan.subscription, plan.now, discount)
    except UserInputError:
        await idempotency.abandon(session, claimed)
        raise
    subscription, now = plan.subscription, plan.now
    invoice: Invoice | None = None
    if _immediate(plan):
        invoice = invoices.blank_invoice(
            customer_id=subscription.customer_id,
            subscription_id=subscription.id,
            reason=BillingReason.SUBSCRIPTION_UPDATE,
            currency=subscription.currency,
            period_start=now,
            period_end=subscription.current_period_end,
            now=now,
        )
        session.add(invoice)
        await session.flush()
    for planned in plan.prorations:
        session.add(
            InvoiceLine(
                id=new_id(), invoice_id=None, customer_id=subscription.customer_id,
                subscription_id=subscription.id, currency=subscription.currency,
                description=planned.description, quantity=planned.quantity,
                unit_amount_minor=planned.unit_amount_minor, amount_minor=planned.amount_minor,
                proration=True, period_start=planned.period_start,
                period_end=planned.period_end, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    await session.flush()
    if invoice is not None:
        await invoices.take_pending_items(session, invoice, subscription_id=subscription.id)
        await invoices.finalize(session, invoice, clock=FrozenClock(now))
    plan.item.price_id = plan.price.id
    plan.item.quantity = plan.quantity
    plan.item.unit_amount_minor = plan.price.unit_amount_minor  # the new price, locked
    plan.item.updated_at = now
    subscription.updated_at = now
    key_row = await idempotency.key_row(session, claimed)
    idempotency.complete(key_row, {"subscription_id": str(subscription.id)}, clock)
    invoice_id = (
        invoice.id if invoice is not None and invoice.status is InvoiceStatus.OPEN else None
    )
    await session.commit()
    return invoice_id


async def _take_discount(
    session: AsyncSession, subscription: Subscription, now: datetime, discount: Discount
) -> None:
    """Redeem the code (counted with this change's commit) and discount the invoices of
    the subscription from its next one: the next period's (a ``REPEATING`` coupon's months
    count from there), or an invoice the change bills at once."""
    start = subscription.current_period_end
    if discount.promotion_code is not None:
        subtotal = await session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(
                SubscriptionItem.unit_amount_minor * SubscriptionItem.quantity), 0))
            .join(Price, Price.id == SubscriptionItem.price_id)
            .where(SubscriptionItem.subscription_id == subscription.id, Price.meter_id.is_(None))
        )  # fmt: skip
        promotion, coupon = await promotion_codes.redeem(
            session, code=discount.promotion_code, customer_id=subscription.customer_id,
            currency=subscription.currency, subtotal=int(subtotal or 0), now=now,
        )  # fmt: skip
        if await promotion_codes.redeemed_by(session, promotion, subscription):
            raise UserInputError(
                Problem(ErrorCode.INVALID_PROMOTION_CODE,
                        "This subscription has redeemed this promotion code.",
                        ("promotionCode",))
            )  # fmt: skip
        promotion_codes.record(session, subscription, coupon, promotion, now)
        promotion_codes.attach(subscription, coupon, start=start)
    elif discount.coupon_code is not None:
        coupon = await coupons.redeem(
            session, code=discount.coupon_code, currency=subscription.currency, now=now
        )
        promotion_codes.record(session, subscription, coupon, None, now)
        promotion_codes.attach(subscription, coupon, start=start)


async def _discount_only(
    session: AsyncSession,
    clock: Clock,
    claimed: idempotency.Claim,
    subscription_id: uuid.UUID,
    discount: Discount,
) -> None:
    try:
        subscription = await session.get(Subscription, subscription_id, with_for_update=True,
                                         populate_existing=True)  # fmt: skip
        if subscription is None:
            raise UserInputError(
                Problem(ErrorCode.NOT_FOUND, "No such subscription.", ("subscriptionId",))
            )
        if subscription.status not in _LIVE:
            raise UserInputError(
                Problem(ErrorCode.INVALID_STATE,
                        f"A {subscription.status.value} subscription cannot change.",
                        ("subscriptionId",))
            )  # fmt: skip
        now = (await test_clocks.clock_of(session, subscription.customer_id, clock)).now()
        await _take_discount(session, subscription, now, discount)
    except UserInputError:
        await idempotency.abandon(session, claimed)
        raise
    subscription.updated_at = now
    key_row = await idempotency.key_row(session, claimed)
    idempotency.complete(key_row, {"subscription_id": str(subscription.id)}, clock)
    await session.commit()
