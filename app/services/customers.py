"""Customers: create, update, find, list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.updates import KEEP, Keep
from app.models import Customer, TestClock
from app.services.experiments import units


@dataclass(frozen=True, slots=True)
class CustomerFilter:
    email: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def customers_query(filter_: CustomerFilter) -> sa.Select[Customer]:
    statement = sa.select(Customer)
    if filter_.email is not None:
        statement = statement.where(sa.func.lower(Customer.email) == filter_.email.strip().lower())
    if filter_.created_after is not None:
        statement = statement.where(Customer.created_at > filter_.created_after)
    if filter_.created_before is not None:
        statement = statement.where(Customer.created_at < filter_.created_before)
    return statement


async def get_customer(session: AsyncSession, customer_id: uuid.UUID, *field: str) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such customer.", field))
    return customer


def _erased(field: tuple[str, ...]) -> UserInputError:
    return UserInputError(
        Problem(
            ErrorCode.CUSTOMER_ERASED,
            "This customer's personal data was erased: they cannot be charged, subscribed "
            "or changed any more.",
            field,
        )
    )


async def live_customer(session: AsyncSession, customer_id: uuid.UUID, *field: str) -> Customer:
    """A customer that may still be charged, subscribed or changed: not erased (GDPR)."""
    customer = await get_customer(session, customer_id, *field)
    if customer.erased_at is not None:
        raise _erased(field)
    return customer


async def ensure_not_erased(session: AsyncSession, customer_id: uuid.UUID, *field: str) -> None:
    """The second check, in the transaction that has just written a row of the customer:
    the row's foreign key holds a key-share lock on the customer until commit, which an
    erasure's row lock waits for. So either the erasure committed before this write (and
    this sees it and refuses), or it will see the row once this transaction commits."""
    erased_at = await session.scalar(
        sa.select(Customer.erased_at).where(Customer.id == customer_id)
    )
    if erased_at is not None:
        raise _erased(field)


async def create_customer(
    session: AsyncSession,
    *,
    clock: Clock,
    email: str | None,
    name: str | None,
    country: str | None,
    locale: str | None,
    metadata: object,
    test_clock_id: uuid.UUID | None = None,
    anonymous_id: str | None = None,
) -> Customer:
    """A new customer; ``anonymous_id``, the visitor they were before signing up, brings
    its pricing-experiment assignments along (the offers they saw stay theirs)."""
    problems = Problems()
    units.check_anonymous_id(problems, anonymous_id, "anonymousId")
    customer = Customer(
        email=check.email(problems, email, "email"),
        name=check.text(problems, name, "name", max_length=256),
        country=check.country(problems, country, "country"),
        locale=check.locale(problems, locale, "locale"),
        metadata_=check.metadata(problems, metadata, "metadata") or {},
        test_clock_id=test_clock_id,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    problems.raise_if_any()
    if test_clock_id is not None and await session.get(TestClock, test_clock_id) is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such test clock.", ("testClockId",)))
    session.add(customer)
    if anonymous_id is not None:
        await session.flush()
        await units.link_anonymous(
            session, customer_id=customer.id, anonymous_id=anonymous_id, now=clock.now()
        )
    await session.commit()
    return customer


async def update_customer(
    session: AsyncSession,
    *,
    clock: Clock,
    customer_id: uuid.UUID,
    email: str | Keep | None = KEEP,
    name: str | Keep | None = KEEP,
    country: str | Keep | None = KEEP,
    locale: str | Keep | None = KEEP,
    metadata: object | Keep = KEEP,
) -> Customer:
    """Change the given fields; ``None`` clears a field. Metadata merges key by key as in
    Stripe: a key set to ``""`` is removed, ``None`` removes every key."""
    customer = await live_customer(session, customer_id, "id")
    problems = Problems()
    changes: dict[str, object] = {}
    if email is not KEEP:
        changes["email"] = check.email(problems, email, "email")
    if name is not KEEP:
        changes["name"] = check.text(problems, name, "name", max_length=256)
    if country is not KEEP:
        changes["country"] = check.country(problems, country, "country")
    if locale is not KEEP:
        changes["locale"] = check.locale(problems, locale, "locale")
    if metadata is not KEEP:
        changes["metadata_"] = check.merged_metadata(
            problems, customer.metadata_, metadata, "metadata"
        )
    problems.raise_if_any()
    for attribute, value in changes.items():
        setattr(customer, attribute, value)
    customer.updated_at = clock.now()
    await session.commit()
    return customer
