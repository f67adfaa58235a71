"""Test clocks (sandbox): simulated time for the customers attached to a clock, so that a
year of renewals, trial ends and dunning runs in seconds."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock, FrozenClock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.models import Customer, TestClock


async def create_test_clock(
    session: AsyncSession, *, clock: Clock, name: str | None, frozen_time: datetime
) -> TestClock:
    problems = Problems()
    label = check.text(problems, name, "name", max_length=256) or "Test clock"
    problems.raise_if_any()
    if frozen_time.tzinfo is None:
        raise UserInputError(
            Problem(ErrorCode.INVALID, "Give a time with its UTC offset.", ("frozenTime",))
        )
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
    """Move a test clock forward (never backwards); the caller then runs billing."""
    test_clock = await get_test_clock(session, clock_id, "testClockId")
    if to.tzinfo is None or to < test_clock.frozen_time:
        raise UserInputError(
            Problem(
                ErrorCode.INVALID,
                "A test clock only moves forward, to a time with its UTC offset.",
                ("frozenTime",),
            )
        )
    test_clock.frozen_time = to
    test_clock.updated_at = clock.now()
    await session.commit()
    return test_clock


async def clock_of(session: AsyncSession, customer_id: uuid.UUID, default: Clock) -> Clock:
    """The clock a customer lives on: its test clock's time, or ``default``."""
    frozen = await session.scalar(
        sa.select(TestClock.frozen_time)
        .join(Customer, Customer.test_clock_id == TestClock.id)
        .where(Customer.id == customer_id)
    )
    return default if frozen is None else FrozenClock(frozen)
