"""Results of an experiment, per variant: units exposed, trials, paid conversions, revenue
per exposed unit, MRR, payment health, each with intervals, and each variant against the
control (fixed-horizon and always-valid), with the sample-ratio check and optional CUPED.

The numbers come from four set-based SQL statements (grouped by variant), whatever the
number of units: the database does the sums, the domain does the statistics. The unit of
analysis is the exposed unit (intent to treat): every unit shown an offer of the experiment
counts in its variant, whether it subscribed or not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import RecurringInterval, SubscriptionStatus
from app.domain.clock import Clock
from app.domain.experiments import cuped
from app.domain.experiments.intervals import Interval
from app.domain.experiments.lifecycle import ExperimentStatus
from app.domain.experiments.stats import (
    Comparison,
    SampleRatioCheck,
    Summary,
    compare_means,
    compare_proportions,
    mean_interval,
    sample_ratio,
    wilson,
)
from app.domain.payments import PaymentStatus
from app.models import (
    Experiment,
    ExperimentAssignment,
    ExperimentExposure,
    ExperimentVariant,
    Invoice,
    Payment,
    Subscription,
    SubscriptionItem,
)
from app.services.experiments import guardrails
from app.services.experiments.definitions import get_experiment

MRR_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
# Months in one interval unit, to normalise recurring amounts to a month.
_MONTHS = {
    RecurringInterval.DAY: Fraction(12, 365),
    RecurringInterval.WEEK: Fraction(12, 52),
    RecurringInterval.MONTH: Fraction(1),
    RecurringInterval.YEAR: Fraction(12),
}


@dataclass(frozen=True, slots=True)
class Rate:
    events: int
    units: int
    interval: Interval | None  # Wilson

    @property
    def value(self) -> float | None:
        return self.events / self.units if self.units else None


@dataclass(frozen=True, slots=True)
class VariantResults:
    variant: ExperimentVariant
    exposed_units: int
    offers_shown: int
    trials_started: int
    paid_conversions: int
    conversion_rate: Rate
    revenue_minor: int  # net of refunds
    revenue_per_unit: Summary  # minor units per exposed unit (CUPED-adjusted if asked)
    revenue_per_unit_interval: Interval | None
    mrr_minor: int
    active_subscriptions: int
    refund_rate: Rate
    dispute_rate: Rate
    payment_failure_rate: Rate
    conversion: Comparison | None  # against the control; None for the control
    revenue: Comparison | None


@dataclass(frozen=True, slots=True)
class CupedInfo:
    theta: float
    variance_reduction: float


@dataclass(frozen=True, slots=True)
class ExperimentResults:
    experiment: Experiment
    computed_at: datetime
    alpha: float
    sample_ratio: SampleRatioCheck
    variants: list[VariantResults]
    guardrails: list[guardrails.GuardrailCheck]
    cuped: CupedInfo | None


@dataclass(frozen=True, slots=True)
class _Units:
    exposed: int = 0
    trials: int = 0
    paid: int = 0
    revenue: int = 0
    joint: cuped.Joint = field(default_factory=lambda: cuped.Joint(0, 0.0, 0.0, 0.0, 0.0, 0.0))


async def _units(session: AsyncSession, experiment_ids: list[uuid.UUID]) -> dict[uuid.UUID, _Units]:
    """Per variant: exposed units, trials, conversions and revenue sums (per unit first)."""
    outcome = (
        sa.select(
            Subscription.experiment_assignment_id.label("assignment_id"),
            sa.func.max(sa.case((Subscription.trial_start.is_not(None), 1), else_=0)).label(
                "trial"
            ),
            sa.func.max(sa.case((Payment.amount_received_minor > 0, 1), else_=0)).label("paid"),
            sa.func.coalesce(
                sa.func.sum(Payment.amount_received_minor - Payment.amount_refunded_minor), 0
            ).label("revenue"),
        )
        .outerjoin(Invoice, Invoice.subscription_id == Subscription.id)
        .outerjoin(
            Payment,
            sa.and_(Payment.invoice_id == Invoice.id, Payment.status == PaymentStatus.SUCCEEDED),
        )
        .where(Subscription.experiment_id.in_(experiment_ids))
        .group_by(Subscription.experiment_assignment_id)
        .subquery()
    )
    y = sa.cast(sa.func.coalesce(outcome.c.revenue, 0), sa.Float)
    x = sa.cast(ExperimentAssignment.pre_revenue_minor, sa.Float)
    total = sa.func.coalesce
    rows = await session.execute(
        sa.select(
            ExperimentAssignment.variant_id,
            sa.func.count(),
            total(sa.func.sum(outcome.c.trial), 0),
            total(sa.func.sum(outcome.c.paid), 0),
            total(sa.func.sum(outcome.c.revenue), 0),
            total(sa.func.sum(y * y), 0.0),
            total(sa.func.sum(x), 0.0),
            total(sa.func.sum(x * x), 0.0),
            total(sa.func.sum(x * y), 0.0),
        )
        .outerjoin(outcome, outcome.c.assignment_id == ExperimentAssignment.id)
        .where(
            ExperimentAssignment.experiment_id.in_(experiment_ids),
            ExperimentAssignment.first_exposed_at.is_not(None),
        )
        .group_by(ExperimentAssignment.variant_id)
    )
    found = {}
    for variant, n, trials, paid, revenue, y2, sx, x2, xy in rows:
        joint = cuped.Joint(int(n), float(revenue), float(y2), float(sx), float(x2), float(xy))
        found[variant] = _Units(int(n), int(trials), int(paid), int(revenue), joint)
    return found


async def _offers_shown(
    session: AsyncSession, experiment_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        sa.select(ExperimentExposure.variant_id, sa.func.count())
        .where(ExperimentExposure.experiment_id.in_(experiment_ids))
        .group_by(ExperimentExposure.variant_id)
    )
    return {variant: int(n) for variant, n in rows}


async def _mrr(
    session: AsyncSession, experiment_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """Per variant: monthly recurring revenue of active and past-due subscriptions at their
    locked amounts (before discounts and tax), and how many there are."""
    rows = await session.execute(
        sa.select(
            Subscription.experiment_variant_id,
            Subscription.interval,
            Subscription.interval_count,
            sa.func.count(sa.distinct(Subscription.id)),
            sa.func.sum(SubscriptionItem.unit_amount_minor * SubscriptionItem.quantity),
        )
        .join(SubscriptionItem, SubscriptionItem.subscription_id == Subscription.id)
        .where(
            Subscription.experiment_id.in_(experiment_ids), Subscription.status.in_(MRR_STATUSES)
        )
        .group_by(
            Subscription.experiment_variant_id, Subscription.interval, Subscription.interval_count
        )
    )
    monthly: dict[uuid.UUID, Fraction] = {}
    counts: dict[uuid.UUID, int] = {}
    for variant, interval, interval_count, subscriptions, amount in rows:
        if variant is None:
            continue
        share = Fraction(int(amount)) / (_MONTHS[interval] * interval_count)
        monthly[variant] = monthly.get(variant, Fraction(0)) + share
        counts[variant] = counts.get(variant, 0) + int(subscriptions)
    return {v: (round(monthly[v]), counts[v]) for v in monthly}


def _rate(events: int, units: int, confidence: float) -> Rate:
    return Rate(events, units, wilson(min(events, units), units, confidence) if units else None)


@dataclass(frozen=True, slots=True)
class _Sums:
    """The aggregates of a batch of experiments, keyed by variant (variant ids are
    unique across experiments)."""

    units: dict[uuid.UUID, _Units]
    shown: dict[uuid.UUID, int]
    mrr: dict[uuid.UUID, tuple[int, int]]
    health: dict[uuid.UUID, guardrails.PaymentHealth]


async def compute_many(
    session: AsyncSession, *, clock: Clock, experiment_ids: list[uuid.UUID], use_cuped: bool
) -> dict[uuid.UUID, ExperimentResults]:
    """Results of several experiments in the same six statements as one (a DataLoader
    batch). A breached guardrail pauses a running experiment on the way."""
    experiments = (
        await session.scalars(sa.select(Experiment).where(Experiment.id.in_(experiment_ids)))
    ).all()
    variants: dict[uuid.UUID, list[ExperimentVariant]] = {e.id: [] for e in experiments}
    for variant in await session.scalars(
        sa.select(ExperimentVariant)
        .where(ExperimentVariant.experiment_id.in_(experiment_ids))
        .order_by(ExperimentVariant.position)
    ):
        variants[variant.experiment_id].append(variant)
    sums = _Sums(
        units=await _units(session, experiment_ids),
        shown=await _offers_shown(session, experiment_ids),
        mrr=await _mrr(session, experiment_ids),
        health=await guardrails.payment_health(session, experiment_ids),
    )
    found = {}
    for experiment in experiments:
        checks = guardrails.evaluate(experiment, variants[experiment.id], sums.health)
        if experiment.status is ExperimentStatus.RUNNING and await guardrails.pause_if_breached(
            session, clock=clock, experiment_id=experiment.id, checks=checks
        ):
            experiment = await get_experiment(session, experiment.id, "id")
        found[experiment.id] = _results(
            experiment, variants[experiment.id], sums, checks, clock.now(), use_cuped
        )
    await session.commit()
    return found


async def compute(
    session: AsyncSession, *, clock: Clock, experiment_id: uuid.UUID, use_cuped: bool = False
) -> ExperimentResults:
    found = await compute_many(
        session, clock=clock, experiment_ids=[experiment_id], use_cuped=use_cuped
    )
    if experiment_id not in found:
        await get_experiment(session, experiment_id, "id")  # raises NOT_FOUND
    return found[experiment_id]


def _results(
    experiment: Experiment,
    variants: list[ExperimentVariant],
    sums: _Sums,
    checks: list[guardrails.GuardrailCheck],
    now: datetime,
    use_cuped: bool,
) -> ExperimentResults:
    alpha = experiment.alpha_bp / 10_000
    mixture_lift = experiment.mde_bp / 10_000
    confidence = 1 - alpha
    per = [sums.units.get(v.id, _Units()) for v in variants]
    revenue = [u.joint.summary() for u in per]
    cuped_info = None
    if use_cuped:
        adjusted = cuped.adjust([u.joint for u in per])
        revenue = list(adjusted.summaries)
        cuped_info = CupedInfo(adjusted.theta, adjusted.variance_reduction)
    results = [
        VariantResults(
            variant=variant,
            exposed_units=u.exposed,
            offers_shown=sums.shown.get(variant.id, 0),
            trials_started=u.trials,
            paid_conversions=u.paid,
            conversion_rate=_rate(u.paid, u.exposed, confidence),
            revenue_minor=u.revenue,
            revenue_per_unit=revenue[index],
            revenue_per_unit_interval=mean_interval(revenue[index], confidence),
            mrr_minor=sums.mrr.get(variant.id, (0, 0))[0],
            active_subscriptions=sums.mrr.get(variant.id, (0, 0))[1],
            refund_rate=_rate(h.refunds, h.succeeded, confidence),
            dispute_rate=_rate(h.disputes, h.succeeded, confidence),
            payment_failure_rate=_rate(h.failed, h.succeeded + h.failed, confidence),
            conversion=None
            if index == 0
            else compare_proportions(
                (per[0].paid, per[0].exposed),
                (u.paid, u.exposed),
                alpha=alpha,
                mixture_lift=mixture_lift,
            ),
            revenue=None
            if index == 0
            else compare_means(revenue[0], revenue[index], alpha=alpha, mixture_lift=mixture_lift),
        )
        for index, (variant, u) in enumerate(zip(variants, per, strict=True))
        for h in [sums.health.get(variant.id, guardrails.PaymentHealth())]
    ]
    return ExperimentResults(
        experiment=experiment,
        computed_at=now,
        alpha=alpha,
        sample_ratio=sample_ratio([u.exposed for u in per], [v.weight for v in variants]),
        variants=results,
        guardrails=checks,
        cuped=cuped_info,
    )
