"""What a visitor is offered (``checkoutOffer``), the units' sticky assignments and the
exposure log.

A unit is a customer, or an anonymous visitor's client-generated id. A unit keeps the
variant of its first offer for the experiment's life (a row per experiment and unit, so
changes to the audience, the visitor's country or the hash inputs never move it). An
anonymous visitor who signs up or subscribes with their ``anonymousId`` brings their
assignments to the customer (``units``), so the price they saw logged out is the price
they get.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.currencies import CURRENCIES
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.experiments.assignment import (
    anonymous_unit,
    choose_variant,
    customer_unit,
    in_traffic,
)
from app.domain.experiments.lifecycle import ExperimentStatus, Platform
from app.domain.ids import new_id
from app.domain.payments import PaymentStatus
from app.models import (
    Customer,
    Experiment,
    ExperimentAssignment,
    ExperimentExposure,
    ExperimentVariant,
    Invoice,
    Payment,
    Price,
    PriceType,
    Product,
    Subscription,
    SubscriptionItem,
)
from app.services import test_clocks
from app.services.experiments.units import check_anonymous_id, link_anonymous


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who asks for an offer, and from where."""

    anonymous_id: str | None = None
    customer_id: uuid.UUID | None = None
    platform: Platform | None = None
    country: str | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    price: Price
    trial_period_days: int | None  # none: no trial
    coupon_id: uuid.UUID | None
    experiment: Experiment | None
    variant: ExperimentVariant | None


Running = list[tuple[Experiment, list[ExperimentVariant]]]


async def default_price(
    session: AsyncSession, product: Product, currency: str | None
) -> Price | None:
    """The product's default price when it is active and in ``currency``; else its oldest
    active recurring price in that currency (the one in place before any experiment)."""
    if product.default_price_id is not None:
        price = await session.get(Price, product.default_price_id)
        if price is not None and price.active and currency in (None, price.currency):
            return price
    statement = sa.select(Price).where(
        Price.product_id == product.id, Price.active.is_(True), Price.type == PriceType.RECURRING
    )
    if currency is not None:
        statement = statement.where(Price.currency == currency)
    return await session.scalar(statement.order_by(Price.created_at, Price.id).limit(1))


async def _running(session: AsyncSession, product_id: uuid.UUID) -> Running:
    rows = await session.execute(
        sa.select(Experiment, ExperimentVariant)
        .join(ExperimentVariant, ExperimentVariant.experiment_id == Experiment.id)
        .where(Experiment.product_id == product_id, Experiment.status == ExperimentStatus.RUNNING)
        .order_by(Experiment.id, ExperimentVariant.position)
    )
    grouped: dict[uuid.UUID, tuple[Experiment, list[ExperimentVariant]]] = {}
    for experiment, variant in rows:
        grouped.setdefault(experiment.id, (experiment, []))[1].append(variant)
    return list(grouped.values())


async def _is_returning(
    session: AsyncSession, customer_id: uuid.UUID, product_id: uuid.UUID
) -> bool:
    """A customer with a subscription to the product, or any paid invoice, is not new."""
    subscribed = (
        sa.select(SubscriptionItem.id)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
        .join(Price, Price.id == SubscriptionItem.price_id)
        .where(Subscription.customer_id == customer_id, Price.product_id == product_id)
        .exists()
    )
    paid = (
        sa.select(Invoice.id)
        .where(Invoice.customer_id == customer_id, Invoice.amount_paid_minor > 0)
        .exists()
    )
    return bool(await session.scalar(sa.select(sa.or_(subscribed, paid))))


def _in_audience(experiment: Experiment, visitor: Visitor, country: str | None) -> bool:
    if experiment.countries and country not in experiment.countries:
        return False
    platform = visitor.platform.value if visitor.platform else None
    return not experiment.platforms or platform in experiment.platforms


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(ExperimentAssignment)


async def _existing(
    session: AsyncSession,
    experiment_ids: list[uuid.UUID],
    units: list[str],
    customer_id: uuid.UUID | None,
) -> ExperimentAssignment | None:
    match: list[sa.ColumnElement[bool]] = [ExperimentAssignment.unit.in_(units)]
    if customer_id is not None:
        match.append(ExperimentAssignment.customer_id == customer_id)
    rows = (
        await session.scalars(
            sa.select(ExperimentAssignment)
            .where(ExperimentAssignment.experiment_id.in_(experiment_ids), sa.or_(*match))
            .order_by(ExperimentAssignment.id)
        )
    ).all()
    mine = [r for r in rows if customer_id is not None and r.customer_id == customer_id]
    return (mine or list(rows))[0] if rows else None


async def _assign(
    session: AsyncSession,
    running: Running,
    visitor: Visitor,
    country: str | None,
    currency: str | None,
    now: datetime,
) -> ExperimentAssignment | None:
    """The unit's assignment in a running experiment of the product: the one it has, or a
    new one when it is in an experiment's audience and traffic."""
    units = [customer_unit(visitor.customer_id)] if visitor.customer_id else []
    if visitor.anonymous_id is not None:
        units.append(anonymous_unit(visitor.anonymous_id))
    if not units or not running:
        return None
    found = await _existing(session, [e.id for e, _ in running], units, visitor.customer_id)
    if found is not None:
        return found
    eligible = [
        (e, vs) for e, vs in running if e.currency == currency and _in_audience(e, visitor, country)
    ]
    customer_id = visitor.customer_id
    screened = customer_id is not None and any(e.new_customers_only for e, _ in eligible)
    if (
        screened
        and customer_id
        and await _is_returning(session, customer_id, running[0][0].product_id)
    ):
        eligible = [(e, vs) for e, vs in eligible if not e.new_customers_only]
    unit = units[0]  # the customer when known: the same variant on every device
    for experiment, variants in eligible:
        if experiment.layer_offset is None or not in_traffic(
            experiment.layer, unit, experiment.layer_offset, experiment.traffic_bp
        ):
            continue
        variant = variants[choose_variant(experiment.salt, unit, [v.weight for v in variants])]
        await session.execute(
            _insert(session)
            .values(
                id=new_id(), experiment_id=experiment.id, variant_id=variant.id, unit=unit,
                anonymous_id=visitor.anonymous_id, customer_id=visitor.customer_id,
                platform=visitor.platform, country=country, pre_revenue_minor=0,
                created_at=now, updated_at=now,
            )
            .on_conflict_do_nothing()
        )  # fmt: skip
        # Ours, or the row of a concurrent request for the same unit.
        return await _existing(session, [experiment.id], units, visitor.customer_id)
    return None


async def _pre_revenue(
    session: AsyncSession, customer_id: uuid.UUID, currency: str, before: datetime
) -> int:
    total = await session.scalar(
        sa.select(
            sa.func.coalesce(
                sa.func.sum(Payment.amount_received_minor - Payment.amount_refunded_minor), 0
            )
        ).where(
            Payment.customer_id == customer_id,
            Payment.currency == currency,
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.created_at < before,
        )
    )
    return int(total or 0)


async def _expose(
    session: AsyncSession, assignment: ExperimentAssignment, offer: Offer, visitor: Visitor,
    country: str | None, now: datetime,
) -> None:  # fmt: skip
    session.add(
        ExperimentExposure(
            experiment_id=assignment.experiment_id, assignment_id=assignment.id,
            variant_id=assignment.variant_id, price_id=offer.price.id,
            trial_period_days=offer.trial_period_days, coupon_id=offer.coupon_id,
            platform=visitor.platform, country=country, created_at=now,
        )
    )  # fmt: skip
    if assignment.first_exposed_at is None:
        pre = 0
        if assignment.customer_id is not None and offer.experiment is not None:
            pre = await _pre_revenue(session, assignment.customer_id, offer.price.currency, now)
        await session.execute(
            sa.update(ExperimentAssignment)
            .where(ExperimentAssignment.id == assignment.id)
            .where(ExperimentAssignment.first_exposed_at.is_(None))
            .values(first_exposed_at=now, pre_revenue_minor=pre, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def _validated(visitor: Visitor) -> str | None:
    problems = Problems()
    check_anonymous_id(problems, visitor.anonymous_id, "anonymousId")
    country = check.country(problems, visitor.country, "country")
    if visitor.currency is not None and visitor.currency not in CURRENCIES:
        problems.add(ErrorCode.UNKNOWN_CURRENCY, "Unknown currency.", "currency")
    problems.raise_if_any()
    return country


async def checkout_offer(
    session: AsyncSession,
    *,
    clock: Clock,
    product_id: uuid.UUID,
    visitor: Visitor,
    record_exposure: bool = True,
) -> Offer | None:
    """The price, trial and coupon to show ``visitor`` for a product; ``None`` when the
    product is archived or has no active recurring price in the currency asked."""
    country = _validated(visitor)
    product = await session.get(Product, product_id)
    if product is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such product.", ("productId",)))
    now = clock.now()
    if visitor.customer_id is not None:
        customer = await session.get(Customer, visitor.customer_id)
        if customer is None:
            raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such customer.", ("customerId",)))
        country = country or customer.country
        now = (await test_clocks.clock_of(session, customer.id, clock)).now()
        if visitor.anonymous_id is not None:
            await link_anonymous(
                session, customer_id=customer.id, anonymous_id=visitor.anonymous_id, now=now
            )
    if not product.active:
        await session.commit()
        return None
    fallback = await default_price(session, product, visitor.currency)
    currency = visitor.currency or (fallback.currency if fallback else None)
    running = await _running(session, product.id)
    assignment = await _assign(session, running, visitor, country, currency, now)
    offer = None
    if assignment is not None:
        offer = await _variant_offer(session, running, assignment, product, currency)
    if offer is not None and assignment is not None and record_exposure:
        await _expose(session, assignment, offer, visitor, country, now)
    await session.commit()
    if offer is not None:
        return offer
    if fallback is None:
        return None
    return Offer(fallback, fallback.trial_period_days, None, None, None)


async def _variant_offer(
    session: AsyncSession,
    running: Running,
    assignment: ExperimentAssignment,
    product: Product,
    currency: str | None,
) -> Offer | None:
    """The assigned variant's offer, when it can be made in the currency asked."""
    for experiment, variants in running:
        if experiment.id != assignment.experiment_id or experiment.currency != currency:
            continue
        variant = next(v for v in variants if v.id == assignment.variant_id)
        if variant.price_id is not None:
            price = await session.get(Price, variant.price_id)
        else:
            price = await default_price(session, product, experiment.currency)
        if price is None or not price.active:  # archived mid-experiment: not on sale
            return None
        trial = price.trial_period_days
        if variant.trial_period_days is not None:
            trial = variant.trial_period_days
        return Offer(price, trial or None, variant.coupon_id, experiment, variant)
    return None
