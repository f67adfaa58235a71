"""Guardrails: the refund, dispute and payment failure rates of the payments of each
variant's subscriptions. A variant over a threshold, once it has the minimum number of
payments, pauses the experiment (everyone then gets the default offer) and the reason is
recorded. Checked whenever results are read, and by the worker every five minutes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.experiments.lifecycle import Action, ExperimentStatus, GuardrailMetric, transition
from app.domain.payments import PaymentStatus, RefundStatus
from app.models import (
    Dispute,
    Experiment,
    ExperimentVariant,
    Invoice,
    Payment,
    Refund,
    Subscription,
)
from app.services.experiments.lifecycle import pause

REFUNDS, DISPUTES = GuardrailMetric.REFUND_RATE, GuardrailMetric.DISPUTE_RATE
FAILURES = GuardrailMetric.PAYMENT_FAILURE_RATE


@dataclass(frozen=True, slots=True)
class PaymentHealth:
    """Counts of one variant's subscription payments."""

    succeeded: int = 0
    failed: int = 0
    refunds: int = 0  # pending or succeeded
    disputes: int = 0


@dataclass(frozen=True, slots=True)
class GuardrailCheck:
    metric: GuardrailMetric
    variant: ExperimentVariant
    events: int
    payments: int  # the denominator
    threshold_bp: int
    evaluated: bool  # enough payments to judge
    breached: bool

    @property
    def rate(self) -> float | None:
        return self.events / self.payments if self.payments else None

    def describe(self) -> str:
        return (
            f"Guardrail: {self.metric.value.replace('_', ' ')} of variant {self.variant.name!r} is "
            f"{100 * (self.rate or 0):.2f} % over {self.payments} payments, above the "
            f"{self.threshold_bp / 100:g} % threshold."
        )


async def payment_health(
    session: AsyncSession, experiment_ids: list[uuid.UUID]
) -> dict[uuid.UUID, PaymentHealth]:
    """Per variant of these experiments, in one statement (refunds and disputes counted per
    payment first)."""
    refunds = (
        sa.select(Refund.payment_id, sa.func.count().label("n"))
        .where(Refund.status.in_((RefundStatus.PENDING, RefundStatus.SUCCEEDED)))
        .group_by(Refund.payment_id)
        .subquery()
    )
    disputes = (
        sa.select(Dispute.payment_id, sa.func.count().label("n"))
        .group_by(Dispute.payment_id)
        .subquery()
    )

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    rows = await session.execute(
        sa.select(
            Subscription.experiment_variant_id,
            count(Payment.status == PaymentStatus.SUCCEEDED),
            count(Payment.status == PaymentStatus.FAILED),
            sa.func.coalesce(sa.func.sum(refunds.c.n), 0),
            sa.func.coalesce(sa.func.sum(disputes.c.n), 0),
        )
        .join(Invoice, Invoice.subscription_id == Subscription.id)
        .join(Payment, Payment.invoice_id == Invoice.id)
        .outerjoin(refunds, refunds.c.payment_id == Payment.id)
        .outerjoin(disputes, disputes.c.payment_id == Payment.id)
        .where(Subscription.experiment_id.in_(experiment_ids))
        .group_by(Subscription.experiment_variant_id)
    )
    return {
        variant: PaymentHealth(int(ok), int(failed), int(refunded), int(disputed))
        for variant, ok, failed, refunded, disputed in rows
        if variant is not None
    }


def evaluate(
    experiment: Experiment,
    variants: list[ExperimentVariant],
    health: dict[uuid.UUID, PaymentHealth],
) -> list[GuardrailCheck]:
    checks = []
    minimum = experiment.guardrail_min_payments
    for variant in variants:
        h = health.get(variant.id, PaymentHealth())
        for metric, threshold, events, payments in (
            (REFUNDS, experiment.max_refund_rate_bp, h.refunds, h.succeeded),
            (DISPUTES, experiment.max_dispute_rate_bp, h.disputes, h.succeeded),
            (FAILURES, experiment.max_payment_failure_rate_bp, h.failed,
             h.succeeded + h.failed),
        ):  # fmt: skip
            if threshold is None:
                continue
            evaluated = payments >= minimum
            breached = evaluated and events * 10_000 > threshold * payments
            checks.append(
                GuardrailCheck(metric, variant, events, payments, threshold, evaluated, breached)
            )
    return checks


def watched(experiment: Experiment) -> bool:
    return any(
        t is not None
        for t in (
            experiment.max_refund_rate_bp,
            experiment.max_dispute_rate_bp,
            experiment.max_payment_failure_rate_bp,
        )
    )


async def pause_if_breached(
    session: AsyncSession, *, clock: Clock, experiment_id: uuid.UUID, checks: list[GuardrailCheck]
) -> bool:
    """Pause a running experiment when a check is breached; returns whether it paused."""
    breached = [c for c in checks if c.breached]
    if not breached:
        return False
    experiment = await session.get(
        Experiment, experiment_id, with_for_update=True, populate_existing=True
    )
    if experiment is None or experiment.status is not ExperimentStatus.RUNNING:
        await session.rollback()
        return False
    pause(experiment, transition(experiment.status, Action.PAUSE), breached[0].describe(), clock)
    await session.commit()
    return True


async def check_running(session: AsyncSession, *, clock: Clock) -> list[uuid.UUID]:
    """Every running experiment with guardrails (the worker's job), in three statements
    whatever their number; returns the ids of those it paused."""
    running = [
        e
        for e in (
            await session.scalars(
                sa.select(Experiment).where(Experiment.status == ExperimentStatus.RUNNING)
            )
        ).all()
        if watched(e)
    ]
    ids = [e.id for e in running]
    variants: dict[uuid.UUID, list[ExperimentVariant]] = {i: [] for i in ids}
    for variant in await session.scalars(
        sa.select(ExperimentVariant)
        .where(ExperimentVariant.experiment_id.in_(ids))
        .order_by(ExperimentVariant.position)
    ):
        variants[variant.experiment_id].append(variant)
    health = await payment_health(session, ids) if ids else {}
    await session.commit()
    paused = []
    for experiment in running:
        checks = evaluate(experiment, variants[experiment.id], health)
        if await pause_if_breached(
            session, clock=clock, experiment_id=experiment.id, checks=checks
        ):
            paused.append(experiment.id)
    return paused
