"""Starting, pausing, concluding and archiving experiments.

Starting takes a range of the layer's buckets as wide as the traffic allocation, under a
lock of the layer (PostgreSQL advisory lock; SQLite has a single writer), so that two
experiments of one layer never overlap. Concluding or archiving frees the range. Shipping
the winner makes its price the product's default price for new customers; subscribers
keep the prices they bought at, whatever is shipped.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.experiments.assignment import free_offset
from app.domain.experiments.lifecycle import (
    HOLDS_TRAFFIC,
    Action,
    ExperimentStatus,
    TransitionError,
    transition,
)
from app.models import Coupon, Experiment, ExperimentVariant, Price, Product
from app.services.experiments.definitions import get_experiment, variants_of


async def _locked(
    session: AsyncSession, experiment_id: uuid.UUID, action: Action
) -> tuple[Experiment, ExperimentStatus]:
    experiment = await get_experiment(session, experiment_id, "id", lock=True)
    try:
        return experiment, transition(experiment.status, action)
    except TransitionError as error:
        await session.rollback()
        raise UserInputError(Problem(ErrorCode.INVALID_STATE, str(error), ("id",))) from None


async def _refuse(session: AsyncSession, problems: Problems) -> None:
    if problems:
        await session.rollback()
        problems.raise_if_any()


async def _lock_layer(session: AsyncSession, layer: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"paygate:experiment-layer:{layer}"},
        )


async def _check_still_valid(
    session: AsyncSession, experiment: Experiment, problems: Problems
) -> None:
    """What a draft refers to may have been archived since it was written."""
    product = await session.get(Product, experiment.product_id)
    if product is None or not product.active:
        problems.add(ErrorCode.PRODUCT_ARCHIVED, "The product is archived.", "id")
    for variant in await variants_of(session, experiment.id):
        if variant.price_id is not None:
            price = await session.get(Price, variant.price_id)
            if price is None or not price.active:
                problems.add(
                    ErrorCode.INVALID_STATE,
                    f"The price of variant {variant.name!r} is archived.",
                    "id",
                )
        if variant.coupon_id is not None:
            coupon = await session.get(Coupon, variant.coupon_id)
            if coupon is None or not coupon.active:
                problems.add(
                    ErrorCode.INVALID_STATE,
                    f"The coupon of variant {variant.name!r} is no longer active.",
                    "id",
                )


async def _take_range(session: AsyncSession, experiment: Experiment, problems: Problems) -> None:
    await _lock_layer(session, experiment.layer)
    others = (
        await session.execute(
            sa.select(
                Experiment.key,
                Experiment.layer,
                Experiment.layer_offset,
                Experiment.traffic_bp,
                Experiment.product_id,
            )
            .where(Experiment.status.in_(HOLDS_TRAFFIC), Experiment.id != experiment.id)
            .where(
                sa.or_(
                    Experiment.layer == experiment.layer,
                    Experiment.product_id == experiment.product_id,
                )
            )
        )
    ).all()
    for key, layer, _, _, product_id in others:
        if product_id == experiment.product_id and layer != experiment.layer:
            problems.add(
                ErrorCode.INVALID_STATE,
                f"Experiment {key!r} on this product runs in layer {layer!r}: experiments on "
                "one product share a layer, so that a visitor sees one of them.",
                "id",
            )
    taken = [(o, w) for _, layer, o, w, _ in others if layer == experiment.layer and o is not None]
    offset = free_offset(taken, experiment.traffic_bp)
    if offset is None:
        problems.add(
            ErrorCode.INVALID_STATE,
            f"Layer {experiment.layer!r} has no free range of {experiment.traffic_bp / 100:g} % "
            "of traffic: conclude another of its experiments or lower the allocation.",
            "id",
        )
    experiment.layer_offset = offset


async def start_experiment(
    session: AsyncSession, *, clock: Clock, experiment_id: uuid.UUID
) -> Experiment:
    """Start a draft (it takes its range of the layer), or resume a paused experiment."""
    experiment, status = await _locked(session, experiment_id, Action.START)
    problems = Problems()
    await _check_still_valid(session, experiment, problems)
    if experiment.status is ExperimentStatus.DRAFT:
        await _take_range(session, experiment, problems)
    await _refuse(session, problems)
    now = clock.now()
    experiment.status = status
    experiment.started_at = experiment.started_at or now
    experiment.paused_at = None
    experiment.status_reason = None
    experiment.updated_at = now
    await session.commit()
    return experiment


async def pause_experiment(
    session: AsyncSession,
    *,
    clock: Clock,
    experiment_id: uuid.UUID,
    reason: str | None = None,
) -> Experiment:
    """Everyone gets the default offer until it is started again; assignments are kept."""
    problems = Problems()
    note = check.text(problems, reason, "reason", max_length=500)
    await _refuse(session, problems)
    experiment, status = await _locked(session, experiment_id, Action.PAUSE)
    pause(experiment, status, note, clock)
    await session.commit()
    return experiment


def pause(
    experiment: Experiment, status: ExperimentStatus, reason: str | None, clock: Clock
) -> None:
    experiment.status = status
    experiment.paused_at = clock.now()
    experiment.status_reason = reason
    experiment.updated_at = clock.now()


async def conclude_experiment(
    session: AsyncSession,
    *,
    clock: Clock,
    experiment_id: uuid.UUID,
    winner_id: uuid.UUID | None,
    ship_winner: bool,
    reason: str | None = None,
) -> Experiment:
    """End the experiment: new visitors get the default offer. With ``ship_winner`` the
    winning variant's price becomes the product's default price, so new customers get it;
    existing subscriptions keep the amounts they were sold at."""
    problems = Problems()
    note = check.text(problems, reason, "reason", max_length=500)
    await _refuse(session, problems)
    experiment, status = await _locked(session, experiment_id, Action.CONCLUDE)
    winner: ExperimentVariant | None = None
    if winner_id is not None:
        winner = await session.get(ExperimentVariant, winner_id)
        if winner is None or winner.experiment_id != experiment.id:
            problems.add(ErrorCode.NOT_FOUND, "No such variant of this experiment.", "winnerId")
    if ship_winner and winner_id is None:
        problems.add(ErrorCode.REQUIRED, "Name the winner to ship it.", "winnerId")
    elif ship_winner and winner is not None and winner.price_id is None:
        problems.add(
            ErrorCode.INVALID,
            "Only a variant with a price of its own can be shipped (its price becomes the "
            "default); create a price with this trial or coupon and make it the default.",
            "shipWinner",
        )
    await _refuse(session, problems)
    if ship_winner and winner is not None and winner.price_id is not None:
        product = await session.get(
            Product, experiment.product_id, with_for_update=True, populate_existing=True
        )
        price = await session.get(Price, winner.price_id)
        if product is None or price is None or not price.active:
            await session.rollback()
            raise UserInputError(
                Problem(ErrorCode.INVALID_STATE, "The winner's price is archived.", ("winnerId",))
            )
        product.default_price_id = price.id
        product.updated_at = clock.now()
    now = clock.now()
    experiment.status = status
    experiment.winner_variant_id = winner.id if winner is not None else None
    experiment.winner_shipped = ship_winner
    experiment.layer_offset = None
    experiment.concluded_at = now
    experiment.status_reason = note
    experiment.updated_at = now
    await session.commit()
    return experiment


async def archive_experiment(
    session: AsyncSession, *, clock: Clock, experiment_id: uuid.UUID
) -> Experiment:
    """Abandon or file away an experiment; a running one stops at once."""
    experiment, status = await _locked(session, experiment_id, Action.ARCHIVE)
    experiment.status = status
    experiment.layer_offset = None
    experiment.archived_at = clock.now()
    experiment.updated_at = clock.now()
    await session.commit()
    return experiment
