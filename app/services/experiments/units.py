"""Units of experiments across identities: an anonymous visitor's assignments pass to the
customer they become (at sign-up, when they are signed in with their old id, or when they
subscribe), and a new subscription is attributed to the customer's running experiment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import ErrorCode, Problems
from app.domain.experiments.assignment import anonymous_unit, valid_anonymous_id
from app.domain.experiments.lifecycle import ExperimentStatus
from app.models import Coupon, Experiment, ExperimentAssignment, ExperimentVariant

ANONYMOUS_ID_RULE = "An anonymous id has 8 to 128 letters, digits, '_', '.', ':' or '-'."


@dataclass(frozen=True, slots=True)
class Attribution:
    """The experiment a customer is in for a product, and the terms of their variant."""

    experiment_id: uuid.UUID
    variant_id: uuid.UUID
    assignment_id: uuid.UUID
    price_id: uuid.UUID | None
    trial_period_days: int | None
    coupon_code: str | None


def check_anonymous_id(problems: Problems, value: str | None, *field: str) -> str | None:
    if value is not None and not valid_anonymous_id(value):
        problems.add(ErrorCode.INVALID, ANONYMOUS_ID_RULE, *field)
        return None
    return value


async def link_anonymous(
    session: AsyncSession, *, customer_id: uuid.UUID, anonymous_id: str, now: datetime
) -> int:
    """Give a customer the assignments of the anonymous visitor they were, except in
    experiments where the customer already has one. Returns how many were linked."""
    taken = sa.select(ExperimentAssignment.experiment_id).where(
        ExperimentAssignment.customer_id == customer_id
    )
    statement = (
        sa.update(ExperimentAssignment)
        .where(
            ExperimentAssignment.unit == anonymous_unit(anonymous_id),
            ExperimentAssignment.customer_id.is_(None),
            ExperimentAssignment.experiment_id.not_in(taken),
        )
        .values(customer_id=customer_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    try:
        async with session.begin_nested():
            result: Any = await session.execute(statement)
    except IntegrityError:  # a concurrent link or assignment won: theirs stands
        return 0
    return int(result.rowcount or 0)


async def attribution(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    anonymous_id: str | None,
    product_ids: list[uuid.UUID],
    now: datetime,
) -> Attribution | None:
    """The running experiment a new subscription of these products is sold under: the
    customer's assignment (brought from ``anonymous_id`` first, if given)."""
    if anonymous_id is not None:
        await link_anonymous(session, customer_id=customer_id, anonymous_id=anonymous_id, now=now)
    found = (
        await session.execute(
            sa.select(ExperimentAssignment.id, ExperimentVariant, Coupon.code)
            .join(Experiment, Experiment.id == ExperimentAssignment.experiment_id)
            .join(ExperimentVariant, ExperimentVariant.id == ExperimentAssignment.variant_id)
            .outerjoin(Coupon, Coupon.id == ExperimentVariant.coupon_id)
            .where(
                ExperimentAssignment.customer_id == customer_id,
                Experiment.status == ExperimentStatus.RUNNING,
                Experiment.product_id.in_(product_ids),
            )
            .order_by(ExperimentAssignment.id)
            .limit(1)
        )
    ).first()
    if found is None:
        return None
    assignment_id, variant, coupon_code = found
    return Attribution(
        experiment_id=variant.experiment_id,
        variant_id=variant.id,
        assignment_id=assignment_id,
        price_id=variant.price_id,
        trial_period_days=variant.trial_period_days,
        coupon_code=coupon_code,
    )
