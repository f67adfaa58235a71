"""Inputs and payloads of the experiment mutations, and the filter of `experiments`."""

import strawberry

from app.domain.experiments.lifecycle import ExperimentStatus, Platform
from app.schema.errors import UserError
from app.schema.experiments import Experiment
from app.schema.idempotency import optional_key
from app.schema.scalars import CurrencyCode


@strawberry.input(description="One arm of an experiment. The first one is the control.")
class ExperimentVariantInput:
    name: str = strawberry.field(description="Unique, e.g. `control` or `lower-price`.")
    weight: int = strawberry.field(
        default=1, description="Relative share of the units, 1 to 10000 (1 and 1: half each)."
    )
    price_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A recurring price of the product in the experiment's currency; "
        "omit for the product's default price.",
    )
    trial_period_days: int | None = strawberry.field(
        default=None, description="Trial to offer, 0 (none) to 730; omit for the price's own."
    )
    coupon_id: strawberry.ID | None = strawberry.field(
        default=None, description="A coupon applied when the unit subscribes."
    )


@strawberry.input(description="Who may enter. Omitted: new customers, every country and platform.")
class ExperimentAudienceInput:
    new_customers_only: bool = strawberry.field(
        default=True, description="Only customers without a subscription or a paid invoice."
    )
    countries: list[str] | None = strawberry.field(
        default=None, description="ISO country codes; omit for every country."
    )
    platforms: list[Platform] | None = strawberry.field(
        default=None, description="Platforms; omit for every platform."
    )


@strawberry.input(description="Thresholds that pause the experiment, as percentages.")
class ExperimentGuardrailsInput:
    max_refund_rate: str | None = strawberry.field(
        default=None, description='Refunds per successful payment, e.g. "5".'
    )
    max_dispute_rate: str | None = strawberry.field(
        default=None, description='Disputes per successful payment, e.g. "0.75".'
    )
    max_payment_failure_rate: str | None = strawberry.field(
        default=None, description='Failed payments per attempt, e.g. "20".'
    )
    minimum_payments: int = strawberry.field(
        default=50, description="Payments a variant needs before its rates are judged."
    )


@strawberry.input(description="A new experiment, as a draft.")
class CreateExperimentInput:
    idempotency_key: str | None = optional_key()
    key: str = strawberry.field(description="Unique: 2 to 64 lower-case letters, digits, _ . -")
    name: str = strawberry.field(description="Readable name.")
    product_id: strawberry.ID = strawberry.field(description="Global ID of the product.")
    currency: CurrencyCode = strawberry.field(description="Currency of its offers and revenue.")
    variants: list[ExperimentVariantInput] = strawberry.field(
        description="2 to 10 variants, the control first."
    )
    hypothesis: str | None = strawberry.field(default=None, description="What you expect.")
    traffic_percent: str = strawberry.field(
        default="100", description='Share of the layer\'s units in it, e.g. "50" or "12.5".'
    )
    audience: ExperimentAudienceInput | None = strawberry.field(
        default=None, description="Who may enter."
    )
    guardrails: ExperimentGuardrailsInput | None = strawberry.field(
        default=None, description="What pauses it."
    )
    layer: str | None = strawberry.field(
        default=None, description="Mutual-exclusion layer; omit for a layer of its own."
    )
    salt: str | None = strawberry.field(default=None, description="Hash salt; omit for random.")
    alpha: float = strawberry.field(default=0.05, description="Significance level, 0.001-0.2.")
    minimum_detectable_lift: str = strawberry.field(
        default="10",
        description="Relative lift in percent the sequential test is tuned to detect.",
    )


@strawberry.input(description="Changes to a draft experiment; omitted fields stay.")
class UpdateExperimentInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the experiment.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    hypothesis: str | None = strawberry.field(
        default=strawberry.UNSET, description="New hypothesis; `null` clears it."
    )
    currency: CurrencyCode | None = strawberry.field(
        default=strawberry.UNSET, description="New currency."
    )
    variants: list[ExperimentVariantInput] | None = strawberry.field(
        default=strawberry.UNSET, description="New variants (replace all)."
    )
    traffic_percent: str | None = strawberry.field(
        default=strawberry.UNSET, description="New traffic share."
    )
    audience: ExperimentAudienceInput | None = strawberry.field(
        default=strawberry.UNSET, description="New audience."
    )
    guardrails: ExperimentGuardrailsInput | None = strawberry.field(
        default=strawberry.UNSET, description="New guardrails."
    )
    layer: str | None = strawberry.field(default=strawberry.UNSET, description="New layer.")
    salt: str | None = strawberry.field(default=strawberry.UNSET, description="New salt.")
    alpha: float | None = strawberry.field(
        default=strawberry.UNSET, description="New significance level."
    )
    minimum_detectable_lift: str | None = strawberry.field(
        default=strawberry.UNSET, description="New lift the sequential test is tuned to."
    )


@strawberry.input(description="An experiment to start (or resume), or archive.")
class ExperimentActionInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the experiment.")


@strawberry.input(description="Pause a running experiment: everyone gets the default offer.")
class PauseExperimentInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the experiment.")
    reason: str | None = strawberry.field(default=None, description="Why, for the record.")


@strawberry.input(description="End an experiment, optionally shipping its winner.")
class ConcludeExperimentInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the experiment.")
    winner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the winning variant."
    )
    ship_winner: bool = strawberry.field(
        default=False,
        description="Make the winner's price the product's default price for new customers "
        "(subscribers keep theirs).",
    )
    reason: str | None = strawberry.field(default=None, description="Why, for the record.")


@strawberry.input(description="Which experiments to list. All conditions must hold.")
class ExperimentFilter:
    status: list[ExperimentStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the product."
    )


@strawberry.type(description="Result of an experiment mutation.")
class ExperimentPayload:
    experiment: Experiment | None = strawberry.field(description="The experiment.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")
