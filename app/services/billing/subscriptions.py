"""Subscriptions: creation (first invoice paid at once, or a trial), cancellation, pause
and resume, on the customer's clock. Renewals are in ``renewals``, dunning in ``dunning``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import (
    BillingReason,
    InvoiceStatus,
    SubscriptionStatus,
    period_boundary,
)
from app.domain.clock import Clock, FrozenClock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.ids import new_id
from app.domain.subscription_states import InvalidTransition, Reason, initial, transition
from app.models import Price, Subscription, SubscriptionItem
from app.models.catalog import PriceType
from app.psp.registry import PspRegistry
from app.services import idempotency, test_clocks
from app.services.billing import coupons, dunning, invoices, promotion_codes, usage_lines
from app.services.billing.renewals import BILLABLE, USAGE_GRACE
from app.services.customers import ensure_not_erased, live_customer
from app.services.experiments import units

MAX_ITEMS = 20


@dataclass(frozen=True, slots=True)
class ItemRequest:
    price_id: uuid.UUID
    quantity: int = 1


async def _items(session: AsyncSession, requested: list[ItemRequest]) -> list[tuple[Price, int]]:
    problems = Problems()
    if not 1 <= len(requested) <= MAX_ITEMS:
        problems.add(ErrorCode.INVALID, f"Give 1 to {MAX_ITEMS} items.", "items")
    priced: list[tuple[Price, int]] = []
    for index, item in enumerate(requested[:MAX_ITEMS]):
        price = await session.get(Price, item.price_id)
        where = ("items", str(index))
        if price is None or not price.active:
            problems.add(ErrorCode.NOT_FOUND, "No such active price.", *where, "priceId")
        elif price.type is not PriceType.RECURRING:
            problems.add(ErrorCode.INVALID, "Subscriptions need recurring prices.", *where)
        elif not 1 <= item.quantity <= 10_000:
            problems.add(ErrorCode.INVALID, "Quantity is 1 to 10000.", *where, "quantity")
        else:
            priced.append((price, item.quantity))
    meters = [p.meter_id for p, _ in priced if p.meter_id is not None]
    if len(meters) != len(set(meters)):
        problems.add(ErrorCode.INVALID, "One usage price per meter on a subscription.", "items")
    if any(p.meter_id is not None and quantity != 1 for p, quantity in priced):
        problems.add(ErrorCode.INVALID, "A usage price's quantity is its usage: give 1.",
                     "items")  # fmt: skip
    shapes = {(p.currency, p.recurring_interval, p.recurring_interval_count) for p, _ in priced}
    if len(shapes) > 1:
        problems.add(
            ErrorCode.INVALID,
            "All items of a subscription share one currency and billing interval.",
            "items",
        )
    problems.raise_if_any()
    return priced


async def _meters_free(
    session: AsyncSession, customer_id: uuid.UUID, meter_ids: list[uuid.UUID]
) -> None:
    """A meter counts a customer's usage once: one live subscription bills it."""
    if not meter_ids:
        return
    taken = await session.scalar(
        sa.select(sa.func.count())
        .select_from(SubscriptionItem)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
        .join(Price, Price.id == SubscriptionItem.price_id)
        .where(
            Subscription.customer_id == customer_id,
            Subscription.status.not_in(
                [SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED]
            ),
            Price.meter_id.in_(meter_ids),
        )
    )
    if taken:
        raise UserInputError(
            Problem(ErrorCode.INVALID, "The customer's usage of this meter is billed by "
                    "another live subscription already.", ("items",))
        )  # fmt: skip


async def create_subscription(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    principal: str,
    idempotency_key: str,
    customer_id: uuid.UUID,
    items: list[ItemRequest],
    trial_period_days: int | None,
    payment_method_id: uuid.UUID | None,
    coupon_code: str | None = None,
    anonymous_id: str | None = None,
    promotion_code: str | None = None,
) -> Subscription:
    """Subscribe a customer. Without a trial the first invoice is charged at once (on
    session: a 3-D Secure challenge shows as ``requires_action`` on its payment, and the
    subscription stays ``incomplete`` until it is paid).

    A customer in a running pricing experiment of an item's product (their own assignment,
    or the one of ``anonymous_id``, the visitor they were) has it recorded on the
    subscription, and gets their variant's trial and coupon unless the input names others.
    Items keep the amounts they are sold at for the subscription's life.

    A discount comes from ``promotion_code`` (a customer-facing code with its own
    restrictions, ``promotion_codes``) or ``coupon_code`` (a coupon's own code), not both;
    either is redeemed in the transaction that creates the subscription."""
    problems = Problems()
    units.check_anonymous_id(problems, anonymous_id, "anonymousId")
    if coupon_code is not None and promotion_code is not None:
        problems.add(ErrorCode.INVALID, "Give couponCode or promotionCode, not both.",
                     "promotionCode")  # fmt: skip
    problems.raise_if_any()
    customer = await live_customer(session, customer_id, "customerId")
    priced = await _items(session, items)
    await _meters_free(session, customer.id, [p.meter_id for p, _ in priced if p.meter_id])
    now = (await test_clocks.clock_of(session, customer.id, clock)).now()
    attributed = await units.attribution(
        session, customer_id=customer.id, anonymous_id=anonymous_id,
        product_ids=[price.product_id for price, _ in priced], now=now,
    )  # fmt: skip
    price_trial = next((p.trial_period_days for p, _ in priced if p.trial_period_days), None)
    # The key's fingerprint is the caller's request (the experiment's state may change
    # before a retry): the trial asked for, or the price's, and the coupon asked for.
    requested = {
        "trial": trial_period_days if trial_period_days is not None else price_trial,
        "coupon": coupon_code,
        "promotion": promotion_code,
    }
    if attributed is not None and (
        attributed.price_id is None or attributed.price_id in {p.id for p, _ in priced}
    ):  # the offer the customer was shown: its trial and coupon apply
        if trial_period_days is None and attributed.trial_period_days is not None:
            trial_period_days = attributed.trial_period_days
        if coupon_code is None and promotion_code is None:
            coupon_code = attributed.coupon_code
    trial_days = trial_period_days
    if trial_days is None:
        trial_days = price_trial
    if trial_days is not None and not 0 <= trial_days <= 730:
        raise UserInputError(
            Problem(ErrorCode.INVALID_TRIAL, "A trial is 0 to 730 days.", ("trialPeriodDays",))
        )
    arguments: dict[str, object] = {
        "customer": str(customer_id), "trial": requested["trial"],
        "method": str(payment_method_id) if payment_method_id else None,
        "coupon": requested["coupon"], "items": [[str(i.price_id), i.quantity] for i in items],
    }  # fmt: skip
    if promotion_code is not None:
        arguments["promotion"] = promotion_code
    if anonymous_id is not None:
        arguments["anonymous"] = anonymous_id
    claimed = await idempotency.claim(
        session, clock=clock, principal=principal, key=idempotency_key,
        operation="createSubscription", arguments=arguments,
    )  # fmt: skip
    if claimed.replay is not None:
        found = await session.get(Subscription, uuid.UUID(claimed.replay["subscription_id"]))
        assert found is not None
        return found
    first, _ = priced[0]
    assert first.recurring_interval is not None and first.recurring_interval_count is not None
    trial_end = now + timedelta(days=trial_days) if trial_days else None
    anchor = trial_end or now
    subscription = Subscription(
        id=new_id(),
        customer_id=customer_id,
        status=initial(trial=trial_end is not None),
        currency=first.currency,
        interval=first.recurring_interval,
        interval_count=first.recurring_interval_count,
        billing_cycle_anchor=anchor,
        current_period_start=now,
        current_period_end=trial_end
        or period_boundary(anchor, first.recurring_interval, first.recurring_interval_count, 1),
        trial_start=now if trial_end else None,
        trial_end=trial_end,
        default_payment_method_id=payment_method_id,
        retry_count=0,
        experiment_id=attributed.experiment_id if attributed else None,
        experiment_variant_id=attributed.variant_id if attributed else None,
        experiment_assignment_id=attributed.assignment_id if attributed else None,
        created_at=now,
        updated_at=now,
    )
    coupon, promotion = None, None
    try:
        if promotion_code is not None:
            # the order's amount per period, licensed items (usage is billed in arrears)
            subtotal = sum(p.unit_amount_minor * q for p, q in priced if p.meter_id is None)
            promotion, coupon = await promotion_codes.redeem(
                session, code=promotion_code, customer_id=customer.id,
                currency=first.currency, subtotal=subtotal, now=now,
            )  # fmt: skip
            promotion_codes.attach(subscription, coupon, start=anchor)
        elif coupon_code is not None:
            coupon = await coupons.redeem(
                session, code=coupon_code, currency=first.currency, now=now
            )
            promotion_codes.attach(subscription, coupon, start=anchor)
    except UserInputError:
        await idempotency.abandon(session, claimed)
        raise
    session.add(subscription)
    for price, quantity in priced:
        session.add(
            SubscriptionItem(
                subscription_id=subscription.id, price_id=price.id, quantity=quantity,
                unit_amount_minor=price.unit_amount_minor, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    if coupon is not None:
        promotion_codes.record(session, subscription, coupon, promotion, now)
    await session.flush()
    try:
        await ensure_not_erased(session, customer_id, "customerId")
    except UserInputError:
        await idempotency.abandon(session, claimed)
        raise
    invoice = None
    if trial_end is None:
        invoice = await invoices.draft_for_period(
            session, subscription=subscription, reason=BillingReason.SUBSCRIPTION_CREATE,
            period_start=now, period_end=subscription.current_period_end, clock=FrozenClock(now),
        )  # fmt: skip
        await invoices.finalize(session, invoice, clock=FrozenClock(now))
        if invoice.status is InvoiceStatus.PAID:  # nothing to pay (a 100% coupon, say)
            subscription.status = transition(
                subscription.status, SubscriptionStatus.ACTIVE, Reason.INVOICE_PAID
            )
    key_row = await idempotency.key_row(session, claimed)
    idempotency.complete(key_row, {"subscription_id": str(subscription.id)}, clock)
    subscription_id, invoice_id = subscription.id, invoice.id if invoice else None
    await session.commit()
    if invoice_id is not None and subscription.status is SubscriptionStatus.INCOMPLETE:
        await invoices.collect(
            session, psps=psps, clock=FrozenClock(now), invoice_id=invoice_id,
            payment_method_id=payment_method_id, off_session=False,
        )  # fmt: skip
    refreshed = await session.get(Subscription, subscription_id, populate_existing=True)
    assert refreshed is not None
    return refreshed


async def cancel_subscription(
    session: AsyncSession,
    *,
    clock: Clock,
    subscription_id: uuid.UUID,
    at_period_end: bool,
    grace: timedelta = USAGE_GRACE,
) -> Subscription:
    """Cancel at once, or at the period's end. Canceled at once, a subscription with usage
    items gets a last invoice for the usage of its period so far, finalized after the grace
    window (usage arriving after that is not billed)."""
    subscription = await session.get(Subscription, subscription_id, with_for_update=True,
                                     populate_existing=True)  # fmt: skip
    if subscription is None:
        raise UserInputError(
            Problem(ErrorCode.NOT_FOUND, "No such subscription.", ("subscriptionId",))
        )
    now = (await test_clocks.clock_of(session, subscription.customer_id, clock)).now()
    if subscription.status is SubscriptionStatus.CANCELED:
        await session.commit()
        return subscription
    if at_period_end:
        subscription.cancel_at_period_end = True
    else:
        owed = subscription.status in BILLABLE and subscription.status is not (
            SubscriptionStatus.TRIALING
        )
        subscription.status = transition(
            subscription.status, SubscriptionStatus.CANCELED, Reason.CANCELED
        )
        subscription.ended_at = now
        subscription.next_retry_at = None
        if owed and now > subscription.current_period_start:
            await _last_usage_invoice(session, subscription, now, grace)
    subscription.canceled_at = now
    subscription.updated_at = now
    await session.commit()
    return subscription


async def _last_usage_invoice(
    session: AsyncSession, subscription: Subscription, now: datetime, grace: timedelta
) -> None:
    if not await usage_lines.metered_items(session, subscription.id):
        return
    session.add(
        usage_lines.last_invoice(
            subscription, at=now, usage_start=subscription.current_period_start
        )
    )
    # the billing engine finalizes and collects it (even canceled: usage is owed)
    waiting = subscription.invoice_finalizes_at
    due = now + grace
    subscription.invoice_finalizes_at = due if waiting is None else min(waiting, due)


async def _locked_with_now(
    session: AsyncSession, subscription_id: uuid.UUID, clock: Clock
) -> tuple[Subscription, FrozenClock]:
    subscription = await session.get(Subscription, subscription_id, with_for_update=True,
                                     populate_existing=True)  # fmt: skip
    if subscription is None:
        raise UserInputError(
            Problem(ErrorCode.NOT_FOUND, "No such subscription.", ("subscriptionId",))
        )
    now = (await test_clocks.clock_of(session, subscription.customer_id, clock)).now()
    return subscription, FrozenClock(now)


async def pause_subscription(
    session: AsyncSession, *, clock: Clock, subscription_id: uuid.UUID
) -> Subscription:
    """Stop billing (no renewals, no retries) until ``resume_subscription``."""
    subscription, now = await _locked_with_now(session, subscription_id, clock)
    if subscription.status is not SubscriptionStatus.PAUSED:
        try:
            subscription.status = transition(
                subscription.status, SubscriptionStatus.PAUSED, Reason.PAUSED
            )
        except InvalidTransition as error:
            await session.rollback()
            message = f"A {error.current.value} subscription cannot be paused."
            raise UserInputError(error.problem(message)) from None
        subscription.next_retry_at = None
        subscription.updated_at = now.now()
    await session.commit()
    return subscription


async def resume_subscription(
    session: AsyncSession, *, psps: PspRegistry, clock: Clock, subscription_id: uuid.UUID
) -> Subscription:
    """Undo a cancellation at period end, or restart a paused subscription: a new period
    starts now, billed at once."""
    subscription, now = await _locked_with_now(session, subscription_id, clock)
    if subscription.cancel_at_period_end and subscription.status in BILLABLE:
        subscription.cancel_at_period_end = False
        subscription.canceled_at = None
        subscription.updated_at = now.now()
        await session.commit()
        return subscription
    try:
        subscription.status = transition(
            subscription.status, SubscriptionStatus.ACTIVE, Reason.RESUMED
        )
    except InvalidTransition as error:
        await session.rollback()
        message = "Only paused subscriptions, or those canceling at period end, resume."
        raise UserInputError(error.problem(message)) from None
    start = now.now()
    if start == subscription.current_period_start:
        # Resumed the very instant its current period began (a test clock not moved since
        # the pause): that period is invoiced already, and stands.
        subscription.updated_at = start
        await session.commit()
        return subscription
    subscription.billing_cycle_anchor = start
    subscription.current_period_start = start
    subscription.current_period_end = period_boundary(
        start, subscription.interval, subscription.interval_count, 1
    )
    subscription.updated_at = start
    invoice = await invoices.draft_for_period(
        session, subscription=subscription, reason=BillingReason.SUBSCRIPTION_CYCLE,
        period_start=start, period_end=subscription.current_period_end, clock=now,
    )  # fmt: skip
    await invoices.finalize(session, invoice, clock=now)
    method = await invoices.default_method(session, subscription)
    invoice_id = invoice.id
    await session.commit()
    attempt = await invoices.collect(
        session, psps=psps, clock=now, invoice_id=invoice_id, payment_method_id=method,
        off_session=True,
    )  # fmt: skip
    await dunning.after_attempt(session, subscription_id, attempt, now, first=True)
    found = await session.get(Subscription, subscription_id, populate_existing=True)
    assert found is not None
    return found
