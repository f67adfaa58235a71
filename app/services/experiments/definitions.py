"""Creating and editing experiments (drafts): every input checked, every problem at once."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.currencies import CURRENCIES
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.experiments.lifecycle import (
    Action,
    ExperimentStatus,
    Platform,
    TransitionError,
    transition,
)
from app.domain.ids import new_id
from app.domain.updates import KEEP, Keep
from app.models import Coupon, Experiment, ExperimentVariant, Price, PriceType, Product

_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{1,63}")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_VARIANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
MAX_VARIANTS = 10
MAX_TRIAL_DAYS = 730


@dataclass(frozen=True, slots=True)
class VariantSpec:
    name: str
    weight: int = 1
    price_id: uuid.UUID | None = None  # none: the product's default price
    trial_period_days: int | None = None  # none: the price's own trial; 0: no trial
    coupon_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class AudienceSpec:
    new_customers_only: bool = True
    countries: tuple[str, ...] = ()  # none: every country
    platforms: tuple[Platform, ...] = ()  # none: every platform


@dataclass(frozen=True, slots=True)
class GuardrailSpec:
    """Thresholds as percentages (``"2"``, ``"0.5"``); none: not watched."""

    max_refund_rate: str | None = None
    max_dispute_rate: str | None = None
    max_payment_failure_rate: str | None = None
    minimum_payments: int = 50


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    key: str
    name: str
    product_id: uuid.UUID
    currency: str
    variants: Sequence[VariantSpec]
    hypothesis: str | None = None
    traffic_percent: str = "100"
    audience: AudienceSpec = field(default_factory=AudienceSpec)
    guardrails: GuardrailSpec = field(default_factory=GuardrailSpec)
    layer: str | None = None  # none: a layer of its own (its key)
    salt: str | None = None  # none: random
    alpha: float = 0.05
    minimum_detectable_lift: str = "10"


@dataclass(frozen=True, slots=True)
class ExperimentChanges:
    """Changes to a draft; KEEP leaves a field as it is, ``variants`` replaces them all."""

    name: str | Keep = KEEP
    hypothesis: str | Keep | None = KEEP
    currency: str | Keep = KEEP
    variants: Sequence[VariantSpec] | Keep = KEEP
    traffic_percent: str | Keep = KEEP
    audience: AudienceSpec | Keep = KEEP
    guardrails: GuardrailSpec | Keep = KEEP
    layer: str | Keep = KEEP
    salt: str | Keep = KEEP
    alpha: float | Keep = KEEP
    minimum_detectable_lift: str | Keep = KEEP


async def get_experiment(
    session: AsyncSession, experiment_id: uuid.UUID, *field: str, lock: bool = False
) -> Experiment:
    experiment = await session.get(
        Experiment, experiment_id, with_for_update=lock, populate_existing=lock
    )
    if experiment is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such experiment.", field))
    return experiment


async def variants_of(session: AsyncSession, experiment_id: uuid.UUID) -> list[ExperimentVariant]:
    """The variants in order: the control first."""
    return list(
        (
            await session.scalars(
                sa.select(ExperimentVariant)
                .where(ExperimentVariant.experiment_id == experiment_id)
                .order_by(ExperimentVariant.position)
            )
        ).all()
    )


def _token(problems: Problems, value: str, what: str, *field: str) -> str | None:
    if not _TOKEN.fullmatch(value):
        problems.add(
            ErrorCode.INVALID,
            f"A {what} has 1 to 64 letters, digits, '_', '.', ':' or '-'.",
            *field,
        )
        return None
    return value


def _alpha(problems: Problems, alpha: float) -> int | None:
    if not 0.001 <= alpha <= 0.2:
        problems.add(ErrorCode.INVALID, "A significance level from 0.001 to 0.2.", "alpha")
        return None
    return round(alpha * 10_000)


async def _check_variants(
    session: AsyncSession,
    problems: Problems,
    variants: Sequence[VariantSpec],
    product_id: uuid.UUID,
    currency: str,
) -> None:
    if not 2 <= len(variants) <= MAX_VARIANTS:
        problems.add(ErrorCode.INVALID, f"Give 2 to {MAX_VARIANTS} variants.", "variants")
    names: set[str] = set()
    for index, variant in enumerate(variants[:MAX_VARIANTS]):
        where = ("variants", str(index))
        if not _VARIANT.fullmatch(variant.name):
            problems.add(
                ErrorCode.INVALID,
                "A variant name has 1 to 64 letters, digits, spaces, '_', '.' or '-'.",
                *where, "name",
            )  # fmt: skip
        elif variant.name.lower() in names:
            problems.add(ErrorCode.INVALID, "Variant names are unique.", *where, "name")
        names.add(variant.name.lower())
        if not 1 <= variant.weight <= 10_000:
            problems.add(ErrorCode.INVALID, "A weight from 1 to 10000.", *where, "weight")
        trial = variant.trial_period_days
        if trial is not None and not 0 <= trial <= MAX_TRIAL_DAYS:
            problems.add(
                ErrorCode.INVALID_TRIAL,
                f"A trial of 0 (none) to {MAX_TRIAL_DAYS} days.",
                *where, "trialPeriodDays",
            )  # fmt: skip
        if variant.price_id is not None:
            price = await session.get(Price, variant.price_id)
            if price is None or not price.active:
                problems.add(ErrorCode.NOT_FOUND, "No such active price.", *where, "priceId")
            elif price.product_id != product_id or price.type is not PriceType.RECURRING:
                problems.add(
                    ErrorCode.INVALID,
                    "A variant's price is a recurring price of the experiment's product.",
                    *where, "priceId",
                )  # fmt: skip
            elif price.currency != currency:
                problems.add(
                    ErrorCode.CURRENCY_MISMATCH,
                    f"The experiment is in {currency}; this price is in {price.currency}.",
                    *where, "priceId",
                )  # fmt: skip
        if variant.coupon_id is not None:
            coupon = await session.get(Coupon, variant.coupon_id)
            if coupon is None or not coupon.active:
                problems.add(ErrorCode.NOT_FOUND, "No such active coupon.", *where, "couponId")
            elif coupon.currency is not None and coupon.currency != currency:
                problems.add(
                    ErrorCode.CURRENCY_MISMATCH,
                    f"This coupon is for {coupon.currency} prices.",
                    *where, "couponId",
                )  # fmt: skip


def _audience(problems: Problems, audience: AudienceSpec) -> tuple[list[str], list[str]]:
    countries: list[str] = []
    for index, code in enumerate(audience.countries):
        checked = check.country(problems, code, "audience", "countries", str(index))
        if checked is not None and checked not in countries:
            countries.append(checked)
    platforms = sorted({p.value for p in audience.platforms})
    return sorted(countries), platforms


def _guardrails(problems: Problems, guardrails: GuardrailSpec) -> dict[str, int | None]:
    values: dict[str, int | None] = {}
    for attribute, name in (
        ("max_refund_rate", "maxRefundRate"),
        ("max_dispute_rate", "maxDisputeRate"),
        ("max_payment_failure_rate", "maxPaymentFailureRate"),
    ):
        given = getattr(guardrails, attribute)
        values[f"{attribute}_bp"] = (
            None
            if given is None
            else check.basis_points(problems, given, "guardrails", name, allow_zero=False)
        )
    if not 1 <= guardrails.minimum_payments <= 1_000_000:
        problems.add(ErrorCode.INVALID, "At least one payment.", "guardrails", "minimumPayments")
    values["guardrail_min_payments"] = guardrails.minimum_payments
    return values


def _variant_rows(
    experiment: Experiment, variants: Sequence[VariantSpec], clock: Clock
) -> list[ExperimentVariant]:
    return [
        ExperimentVariant(
            experiment_id=experiment.id,
            position=position,
            name=v.name,
            weight=v.weight,
            price_id=v.price_id,
            trial_period_days=v.trial_period_days,
            coupon_id=v.coupon_id,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        for position, v in enumerate(variants)
    ]


async def create_experiment(
    session: AsyncSession, *, clock: Clock, spec: ExperimentSpec
) -> Experiment:
    """A draft experiment: nothing is offered until it is started."""
    problems = Problems()
    key = spec.key.strip()
    if not _KEY.fullmatch(key):
        problems.add(
            ErrorCode.INVALID,
            "A key has 2 to 64 lower-case letters, digits, '_', '.' or '-'.",
            "key",
        )
    name = check.text(problems, spec.name, "name", max_length=256, required=True)
    hypothesis = check.text(problems, spec.hypothesis, "hypothesis", max_length=5000)
    if spec.currency not in CURRENCIES:
        problems.add(ErrorCode.UNKNOWN_CURRENCY, "Unknown currency.", "currency")
    traffic = check.basis_points(problems, spec.traffic_percent, "trafficPercent", allow_zero=False)
    mde = check.basis_points(
        problems, spec.minimum_detectable_lift, "minimumDetectableLift", allow_zero=False
    )
    alpha = _alpha(problems, spec.alpha)
    layer = _token(problems, spec.layer, "layer", "layer") if spec.layer is not None else key
    salt = (
        _token(problems, spec.salt, "salt", "salt")
        if spec.salt is not None
        else secrets.token_hex(8)
    )
    countries, platforms = _audience(problems, spec.audience)
    guardrails = _guardrails(problems, spec.guardrails)
    product = await session.get(Product, spec.product_id)
    if product is None:
        problems.add(ErrorCode.NOT_FOUND, "No such product.", "productId")
    elif not product.active:
        problems.add(ErrorCode.PRODUCT_ARCHIVED, "The product is archived.", "productId")
    await _check_variants(session, problems, spec.variants, spec.product_id, spec.currency)
    problems.raise_if_any()
    experiment = Experiment(
        id=new_id(),
        key=key, name=name, hypothesis=hypothesis, status=ExperimentStatus.DRAFT,
        product_id=spec.product_id, currency=spec.currency, traffic_bp=traffic, salt=salt,
        layer=layer, layer_offset=None, new_customers_only=spec.audience.new_customers_only,
        countries=countries, platforms=platforms, alpha_bp=alpha, mde_bp=mde,
        winner_shipped=False, created_at=clock.now(), updated_at=clock.now(), **guardrails,
    )  # fmt: skip
    session.add(experiment)
    return await _save(session, experiment, spec.variants, clock)


async def _save(
    session: AsyncSession,
    experiment: Experiment,
    variants: Sequence[VariantSpec] | None,
    clock: Clock,
) -> Experiment:
    try:
        if variants is not None:
            await session.execute(
                sa.delete(ExperimentVariant).where(ExperimentVariant.experiment_id == experiment.id)
            )
            await session.flush()
            session.add_all(_variant_rows(experiment, variants, clock))
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        message = str(error.orig)
        if "uq_experiments_key" in message or "experiments.key" in message:
            raise UserInputError(
                Problem(ErrorCode.DUPLICATE_KEY, "An experiment with this key exists.", ("key",))
            ) from None
        raise
    return experiment


async def update_experiment(
    session: AsyncSession, *, clock: Clock, experiment_id: uuid.UUID, changes: ExperimentChanges
) -> Experiment:
    """Change a draft. Once started, an experiment's definition is frozen: conclude it and
    start another (results must describe one fixed design)."""
    experiment = await get_experiment(session, experiment_id, "id", lock=True)
    try:
        transition(experiment.status, Action.UPDATE)
    except TransitionError as error:
        await session.rollback()
        raise UserInputError(Problem(ErrorCode.INVALID_STATE, str(error), ("id",))) from None
    problems = Problems()
    values: dict[str, object] = {}
    if changes.name is not KEEP:
        values["name"] = check.text(problems, changes.name, "name", max_length=256, required=True)
    if changes.hypothesis is not KEEP:
        values["hypothesis"] = check.text(
            problems, changes.hypothesis, "hypothesis", max_length=5000
        )
    currency = experiment.currency
    if changes.currency is not KEEP:
        currency = changes.currency
        if currency not in CURRENCIES:
            problems.add(ErrorCode.UNKNOWN_CURRENCY, "Unknown currency.", "currency")
        values["currency"] = currency
    if changes.traffic_percent is not KEEP:
        values["traffic_bp"] = check.basis_points(
            problems, changes.traffic_percent, "trafficPercent", allow_zero=False
        )
    if changes.minimum_detectable_lift is not KEEP:
        values["mde_bp"] = check.basis_points(
            problems, changes.minimum_detectable_lift, "minimumDetectableLift", allow_zero=False
        )
    if changes.alpha is not KEEP:
        values["alpha_bp"] = _alpha(problems, changes.alpha)
    if changes.layer is not KEEP:
        values["layer"] = _token(problems, changes.layer, "layer", "layer")
    if changes.salt is not KEEP:
        values["salt"] = _token(problems, changes.salt, "salt", "salt")
    if changes.audience is not KEEP:
        countries, platforms = _audience(problems, changes.audience)
        values.update(
            new_customers_only=changes.audience.new_customers_only,
            countries=countries,
            platforms=platforms,
        )
    if changes.guardrails is not KEEP:
        values.update(_guardrails(problems, changes.guardrails))
    variants: Sequence[VariantSpec] | None = None
    if changes.variants is not KEEP:
        variants = changes.variants
    elif changes.currency is not KEEP:  # the current variants must fit the new currency
        variants = [
            VariantSpec(v.name, v.weight, v.price_id, v.trial_period_days, v.coupon_id)
            for v in await variants_of(session, experiment.id)
        ]
    if variants is not None:
        await _check_variants(session, problems, variants, experiment.product_id, currency)
    if problems:
        await session.rollback()
        problems.raise_if_any()
    for attribute, value in values.items():
        setattr(experiment, attribute, value)
    experiment.updated_at = clock.now()
    return await _save(session, experiment, variants, clock)
