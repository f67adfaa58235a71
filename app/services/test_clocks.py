"""Test clocks (sandbox): simulated time for the customers attached to a clock, so that a
year of renewals, trial ends and dunning runs in seconds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.billing import SubscriptionStatus, period_boundary
from app.domain.clock import Clock, FrozenClock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.models import Customer, Subscription, TestClock

# One advance bills at most this many periods of the clock's shortest subscription, so that
# it ends in bounded time, well within the billing loop's guard of 1,000 steps (a period
# takes a renewal and its few dunning retries). Stripe allows two intervals.
MAX_PERIODS_PER_ADVANCE = 100
# Billing computes times up to a few years past a clock (a trial of up to two years, then a
# period of up to one), and Python's datetime ends with year 9999.
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# The statuses that renewals.run_due bills.
_BILLED = (
    SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID, SubscriptionStatus.INCOMPLETE,
)  # fmt: skip


async def create_test_clock(
    session: AsyncSession, *, clock: Clock, name: str | None, frozen_time: datetime
) -> TestClock:
    problems = Problems()
    label = check.text(problems, name, "name", max_length=256) or "Test clock"
    check.moment(problems, frozen_time, "frozenTime")  # with its offset, within UTC
    problems.raise_if_any()
    _not_too_late(frozen_time)
    test_clock = TestClock(
        name=label, frozen_time=frozen_time, created_at=clock.now(), updated_at=clock.now()
    )
    session.add(test_clock)
    await session.commit()
    return test_clock


async def get_test_clock(session: AsyncSession, clock_id: uuid.UUID, *field: str) -> TestClock:
    test_clock = await session.get(TestClock, clock_id, with_for_update=True,
                                   populate_existing=True)  # fmt: skip
    if test_clock is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such test clock.", field))
    return test_clock


async def move(
    session: AsyncSession, *, clock: Clock, clock_id: uuid.UUID, to: datetime
) -> TestClock:
    """Move a test clock forward (never backwards); ``renewals.advance_test_clock`` then
    runs billing."""
    test_clock = await get_test_clock(session, clock_id, "testClockId")
    problems = Problems()
    check.moment(problems, to, "frozenTime")  # with its offset, within UTC
    problems.raise_if_any()
    _not_too_late(to)
    if to < test_clock.frozen_time:
        raise UserInputError(
            Problem(ErrorCode.INVALID, "A test clock only moves forward.", ("frozenTime",))
        )
    furthest = await _furthest(session, test_clock)
    if furthest is not None and to > furthest:
        raise UserInputError(
            Problem(
                ErrorCode.INVALID,
                f"A test clock moves at most {MAX_PERIODS_PER_ADVANCE} billing periods of its "
                f"shortest subscription at a time: here up to {furthest.isoformat()}.",
                ("frozenTime",),
            )
        )
    test_clock.frozen_time = to
    test_clock.updated_at = clock.now()
    await session.commit()
    return test_clock


def _not_too_late(moment: datetime) -> None:
    if moment >= LATEST:
        raise UserInputError(
            Problem(ErrorCode.INVALID, "A test clock's time is before year 9000.", ("frozenTime",))
        )


async def _furthest(session: AsyncSession, test_clock: TestClock) -> datetime | None:
    """How far the clock may move in one advance; ``None`` when nothing bounds it."""
    intervals = (
        await session.execute(
            sa.select(Subscription.interval, Subscription.interval_count)
            .join(Customer, Customer.id == Subscription.customer_id)
            .where(Customer.test_clock_id == test_clock.id, Subscription.status.in_(_BILLED))
            .distinct()
        )
    ).all()
    bounds = []
    for interval, count in intervals:
        try:
            bounds.append(
                period_boundary(test_clock.frozen_time, interval, count, MAX_PERIODS_PER_ADVANCE)
            )
        except (OverflowError, ValueError):  # beyond year 9999: any time is within the bound
            continue
    return min(bounds, default=None)


async def clock_of(session: AsyncSession, customer_id: uuid.UUID, default: Clock) -> Clock:
    """The clock a customer lives on: its test clock's time, or ``default``."""
    frozen = await session.scalar(
        sa.select(TestClock.frozen_time)
        .join(Customer, Customer.test_clock_id == TestClock.id)
        .where(Customer.id == customer_id)
    )
    return default if frozen is None else FrozenClock(frozen)
