"""The billing engine: each subscription is billed up to its customer's "now", renewals
and dunning retries in the order they fall due (the worker runs it on the wall clock;
``advanceTestClock`` runs it for a test clock's customers).

Several engines may run at once: each period's invoice is unique per subscription (a
constraint), each collection attempt is a payment keyed by the attempt, and a subscription
is advanced under its row lock.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.domain.billing import (
    BillingReason,
    DunningPolicy,
    InvoiceStatus,
    SubscriptionStatus,
    period_at,
)
from app.domain.clock import Clock, FrozenClock
from app.domain.dunning import WAITS_FOR_NEW_METHOD
from app.domain.subscription_states import Reason, transition
from app.models import Customer, Invoice, Subscription, TestClock
from app.psp.registry import PspRegistry
from app.services import test_clocks
from app.services.billing import (
    dunning,
    invoices,
    promotion_codes,
    trial_notices,
    usage_lines,
    usage_watch,
)

DEFAULT_POLICY = dunning.DEFAULT_POLICY
BILLABLE = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
INCOMPLETE_WINDOW = timedelta(hours=23)
# How long an invoice that bills usage stays a draft after its period ends, for late events
# (PAYGATE_USAGE_GRACE_SECONDS).
USAGE_GRACE = timedelta(hours=1)


class Step(enum.Enum):
    """What one step of a subscription's billing did (``None``: nothing was due)."""

    CANCELED = "canceled"  # canceled at the end of its period, now over
    SKIPPED = "skipped"  # another engine billed this period first
    EXPIRED = "expired"  # incomplete for 23 hours: expired, its first invoice voided
    INVOICED = "invoiced"  # a period invoiced: paid already, or its collection waits
    DRAFTED = "drafted"  # a period's invoice drafted: it bills usage after the grace window
    FINALIZED = "finalized"  # a drafted invoice finalized with its usage, and collected
    RENEWED = "renewed"  # a period invoiced and its charge attempted
    NOTHING_TO_RETRY = "nothing to retry"  # a retry fell due with no open invoice
    RETRIED = "retried"  # a dunning retry attempted


async def advance(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    subscription_id: uuid.UUID,
    now: FrozenClock,
    policy: DunningPolicy = DEFAULT_POLICY,
    grace: timedelta = USAGE_GRACE,
) -> int:
    """Bill ``subscription_id`` up to ``now``: renewals, dunning retries and the invoices
    that waited for late usage (``grace``), in the order they fall due. Returns how many
    steps were taken."""
    steps = 0
    while await _next_step(session, psps, subscription_id, now, policy, grace) is not None:
        steps += 1
        if steps > 1000:
            raise RuntimeError("runaway billing loop")
    # the period so far: usage alerts, and a threshold invoice when usage reached it
    found = await usage_watch.watch(session, subscription_id=subscription_id, now=now.now())
    if found is not None:
        subscription, invoice = found
        await _finalize_and_collect(
            session, psps, subscription, invoice, now, policy, bill_usage=False
        )
        steps += 1
    return steps


async def _next_step(
    session: AsyncSession,
    psps: PspRegistry,
    subscription_id: uuid.UUID,
    now: FrozenClock,
    policy: DunningPolicy,
    grace: timedelta,
) -> Step | None:
    subscription = await session.get(Subscription, subscription_id, with_for_update=True,
                                     populate_existing=True)  # fmt: skip
    assert subscription is not None
    if subscription.status is SubscriptionStatus.INCOMPLETE:
        return await _expire_if_stale(session, subscription, now)
    finalize_at = subscription.invoice_finalizes_at  # whatever the status: usage is owed
    billable = subscription.status in BILLABLE or subscription.status is SubscriptionStatus.UNPAID
    renew_at = subscription.current_period_end if billable else None
    retry_at = subscription.next_retry_at if billable else None
    due = min((t for t in (finalize_at, renew_at, retry_at) if t is not None), default=None)
    if due is None or due > now.now():
        await session.commit()
        return None
    at = FrozenClock(due)
    if finalize_at == due:
        return await _finalize_waiting(session, psps, subscription, at, policy)
    if retry_at is not None and renew_at is not None and retry_at <= renew_at:
        return await _retry(session, psps, subscription, at, policy)
    return await _renew(session, psps, subscription, at, policy, grace)


async def _expire_if_stale(
    session: AsyncSession, subscription: Subscription, now: FrozenClock
) -> Step | None:
    """An incomplete subscription whose first invoice is unpaid after 23 hours expires, and
    that invoice is voided (as Stripe does)."""
    if subscription.created_at + INCOMPLETE_WINDOW > now.now():
        await session.commit()
        return None
    expired_at = subscription.created_at + INCOMPLETE_WINDOW
    subscription.status = transition(
        subscription.status, SubscriptionStatus.INCOMPLETE_EXPIRED, Reason.FIRST_INVOICE_UNPAID
    )
    subscription.ended_at = expired_at
    subscription.updated_at = expired_at
    await promotion_codes.release(session, subscription, expired_at)
    # Row by row (one, as a rule), so that each voided invoice states its event.
    for invoice in await session.scalars(
        sa.select(Invoice)
        .where(Invoice.subscription_id == subscription.id, Invoice.status == InvoiceStatus.OPEN)
        .with_for_update()
    ):
        invoice.status = InvoiceStatus.VOID
        invoice.voided_at = expired_at
        invoice.updated_at = expired_at
    await session.commit()
    return Step.EXPIRED


async def _renew(
    session: AsyncSession,
    psps: PspRegistry,
    subscription: Subscription,
    at: FrozenClock,
    policy: DunningPolicy,
    grace: timedelta,
) -> Step:
    start = subscription.current_period_end
    metered = bool(await usage_lines.metered_items(session, subscription.id))
    # usage of the period that ends now is billed in arrears (a trial's usage is free)
    usage_start = (
        subscription.current_period_start
        if metered and subscription.status is not SubscriptionStatus.TRIALING
        else None
    )
    if subscription.cancel_at_period_end:
        subscription.status = transition(
            subscription.status, SubscriptionStatus.CANCELED, Reason.PERIOD_ENDED
        )
        subscription.ended_at = start
        subscription.next_retry_at = None
        subscription.updated_at = start
        if usage_start is None:
            await session.commit()
            return Step.CANCELED
        # the last period's usage: an invoice of its own, at the end
        invoice = usage_lines.last_invoice(subscription, at=start, usage_start=usage_start)
        session.add(invoice)
    else:
        end = period_after(subscription, start)
        invoice = await invoices.draft_for_period(
            session,
            subscription=subscription,
            reason=BillingReason.SUBSCRIPTION_CYCLE,
            period_start=start,
            period_end=end,
            clock=at,
        )
        if subscription.status is SubscriptionStatus.TRIALING:
            subscription.status = transition(
                subscription.status, SubscriptionStatus.ACTIVE, Reason.TRIAL_ENDED
            )
        subscription.current_period_start, subscription.current_period_end = start, end
        subscription.updated_at = start
        invoice.usage_period_start = usage_start
    try:
        await session.flush()
    except IntegrityError:  # another worker billed this period first
        await session.rollback()
        return Step.SKIPPED
    if metered and grace > timedelta(0):
        subscription.invoice_finalizes_at = start + grace  # late usage may still come
        await session.commit()
        return Step.DRAFTED
    return await _finalize_and_collect(session, psps, subscription, invoice, at, policy)


async def _finalize_waiting(
    session: AsyncSession,
    psps: PspRegistry,
    subscription: Subscription,
    at: FrozenClock,
    policy: DunningPolicy,
) -> Step:
    """The grace window of a drafted invoice is over: bill its usage, finalize, collect.
    Several may wait (a cancellation during a grace window): the oldest first, the next
    one in the next step."""
    drafts = (
        await session.scalars(
            sa.select(Invoice)
            .where(
                Invoice.subscription_id == subscription.id,
                Invoice.status == InvoiceStatus.DRAFT,
                Invoice.billing_period_start.is_not(None),
            )
            .order_by(Invoice.billing_period_start)
            .with_for_update()
        )
    ).all()
    subscription.invoice_finalizes_at = at.now() if len(drafts) > 1 else None
    if not drafts:  # finalized by hand (finalizeInvoice) meanwhile
        await session.commit()
        return Step.FINALIZED
    await _finalize_and_collect(session, psps, subscription, drafts[0], at, policy)
    return Step.FINALIZED


async def _finalize_and_collect(
    session: AsyncSession,
    psps: PspRegistry,
    subscription: Subscription,
    invoice: Invoice,
    at: FrozenClock,
    policy: DunningPolicy,
    *,
    bill_usage: bool = True,
) -> Step:
    if bill_usage:
        await usage_lines.bill(session, invoice, now=at.now())
    await invoices.finalize(session, invoice, clock=at)
    # An unpaid subscription keeps invoicing, but is not charged; nor is one whose
    # collection waits for a new payment method: its invoices say why.
    waiting = subscription.status is SubscriptionStatus.UNPAID or (
        subscription.collection_stop_reason in WAITS_FOR_NEW_METHOD
    )
    if waiting and subscription.collection_stop_reason and subscription.collection_stop_action:
        dunning.stop(invoice, subscription.collection_stop_reason,
                     subscription.collection_stop_action, at.now())  # fmt: skip
    subscription_id, invoice_id = subscription.id, invoice.id
    method = await invoices.default_method(session, subscription)
    await session.commit()
    if waiting or invoice.status is InvoiceStatus.PAID:
        return Step.INVOICED
    attempt = await invoices.collect(
        session, psps=psps, clock=at, invoice_id=invoice_id, payment_method_id=method,
        off_session=True,
    )  # fmt: skip
    await dunning.after_attempt(session, subscription_id, attempt, at, first=True,
                                policy=policy)  # fmt: skip
    return Step.RENEWED


def period_after(subscription: Subscription, start: datetime) -> datetime:
    """The end of the billing period that starts at ``start``."""
    return period_at(
        subscription.billing_cycle_anchor, subscription.interval, subscription.interval_count, start
    ).end


async def _retry(
    session: AsyncSession,
    psps: PspRegistry,
    subscription: Subscription,
    at: FrozenClock,
    policy: DunningPolicy,
) -> Step:
    invoice_id = await session.scalar(
        sa.select(Invoice.id)
        .where(Invoice.subscription_id == subscription.id, Invoice.status == InvoiceStatus.OPEN)
        .order_by(Invoice.period_start.desc())
        .limit(1)
    )
    subscription_id = subscription.id
    method = await invoices.default_method(session, subscription)
    if invoice_id is None:
        subscription.next_retry_at = None
        await session.commit()
        return Step.NOTHING_TO_RETRY
    subscription.next_retry_at = None  # taken: another worker will not retry it too
    await session.commit()
    attempt = await invoices.collect(
        session, psps=psps, clock=at, invoice_id=invoice_id, payment_method_id=method,
        off_session=True,
    )  # fmt: skip
    await dunning.after_attempt(session, subscription_id, attempt, at, first=False,
                                policy=policy)  # fmt: skip
    return Step.RETRIED


PAGE = 1000  # subscriptions read at a time by run_due


async def advance_test_clock(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    clock_id: uuid.UUID,
    to: datetime,
    policy: DunningPolicy = DEFAULT_POLICY,
    grace: timedelta = USAGE_GRACE,
) -> TestClock:
    """Move a test clock forward (``test_clocks.move``), then bill its customers up to the
    new time, as the wall clock's customers are billed by the worker."""
    test_clock = await test_clocks.move(session, clock=clock, clock_id=clock_id, to=to)
    await run_due(session, psps=psps, clock=clock, test_clock_id=clock_id, policy=policy,
                  grace=grace)  # fmt: skip
    return test_clock


async def run_due(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    test_clock_id: uuid.UUID | None = None,
    page: int | None = None,
    policy: DunningPolicy = DEFAULT_POLICY,
    grace: timedelta = USAGE_GRACE,
) -> int:
    """Bill every subscription that is due on its customer's clock (the customers of one
    test clock, or those on the wall clock). Returns the number of steps taken.

    Every candidate is visited once per run, ``page`` at a time in the order of their ids
    (a key that billing does not move: ordering by the due time would let a run that stops
    after ``page`` rows leave the rest unbilled, and billed rows come round again)."""
    page = page or PAGE
    candidates = (
        sa.select(Subscription.id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(
            sa.or_(
                Subscription.status.in_(
                    [*BILLABLE, SubscriptionStatus.UNPAID, SubscriptionStatus.INCOMPLETE]
                ),
                Subscription.invoice_finalizes_at.is_not(None),  # usage owed, even if canceled
            )
        )
        .order_by(Subscription.id)
        .limit(page)
    )
    if test_clock_id is None:
        candidates = candidates.where(Customer.test_clock_id.is_(None))
        now = FrozenClock(clock.now())
    else:
        candidates = candidates.where(Customer.test_clock_id == test_clock_id)
        test_clock = await test_clocks.get_test_clock(session, test_clock_id, "testClockId")
        now = FrozenClock(test_clock.frozen_time)
    await session.commit()
    await trial_notices.give_due(session, now=now, test_clock_id=test_clock_id)
    steps = 0
    after: uuid.UUID | None = None
    async with _Exclusive.of(session) as exclusive:
        while True:
            statement = candidates if after is None else candidates.where(Subscription.id > after)
            ids = (await session.scalars(statement)).all()
            await session.commit()
            for subscription_id in ids:
                if await exclusive.take(subscription_id):
                    try:
                        steps += await advance(
                            session,
                            psps=psps,
                            subscription_id=subscription_id,
                            now=now,
                            policy=policy,
                            grace=grace,
                        )
                    finally:
                        await exclusive.release(subscription_id)
            if len(ids) < page:
                return steps
            after = ids[-1]


class _Exclusive:
    """One engine at a time bills a subscription: a PostgreSQL advisory lock, held across
    the commits of a renewal and its payment; other engines move on to the next
    subscription. SQLite (embedded mode) has a single writer.

    The lock is a transaction's (``pg_try_advisory_xact_lock``), held by an open transaction
    of a guard connection of its own until the subscription is done: behind a transaction
    pooler (PgBouncer ``pool_mode=transaction``) the guard's transaction keeps its server
    connection, where a session's lock would stay on whichever server connection took it
    while the next statements ran on others. It cannot outlive its transaction: a guard
    given back to the pool is rolled back (or discarded), and a dead engine's connection
    ends its transaction."""

    def __init__(self, guard: AsyncConnection | None) -> None:
        self._guard = guard

    @classmethod
    @asynccontextmanager
    async def of(cls, session: AsyncSession) -> AsyncIterator[_Exclusive]:
        bind = session.bind
        assert isinstance(bind, AsyncEngine), "sessions are bound to the engine"
        if bind.dialect.name != "postgresql":
            yield cls(None)
            return
        async with bind.connect() as guard:
            yield cls(guard)

    @staticmethod
    def _key(subscription_id: uuid.UUID) -> dict[str, str]:
        return {"key": f"paygate:subscription:{subscription_id}"}

    async def take(self, subscription_id: uuid.UUID) -> bool:
        """Whether this engine now holds ``subscription_id`` (until :meth:`release`)."""
        if self._guard is None:
            return True
        taken = await self._guard.scalar(  # begins the guard's transaction
            sa.text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"),
            self._key(subscription_id),
        )
        if not taken:
            await self._guard.rollback()  # another engine bills it: hold no server connection
        return bool(taken)

    async def release(self, subscription_id: uuid.UUID) -> None:
        """End the guard's transaction, and the lock with it."""
        if self._guard is not None:
            await self._guard.rollback()
