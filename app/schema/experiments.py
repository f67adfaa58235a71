"""Pricing experiments in GraphQL: the experiment, its variants and its results.

The results are here with the experiment: they name its variants, a variant names its
experiment, and the experiment has the results, one cycle of object types kept in one
module (their statistics are in ``experiment_statistics``). Revenue totals are `Money`.
"""

import uuid
from datetime import datetime
from operator import attrgetter
from typing import Annotated

import strawberry

from app import models
from app.context import RequestContext
from app.domain.currencies import get_currency
from app.domain.experiments.assignment import BUCKETS
from app.domain.experiments.lifecycle import ExperimentStatus, GuardrailMetric, Platform
from app.graphql.read.fields import batched
from app.models import Experiment as ExperimentRow
from app.models import ExperimentVariant as VariantRow
from app.schema.catalog import Price, Product
from app.schema.coupons import Coupon
from app.schema.enum_values.experiments import (
    EXPERIMENT_STATUS,
    GUARDRAIL_METRIC,
    PLATFORM,
)
from app.schema.enums import described_enum
from app.schema.experiment_statistics import (
    Comparison,
    ConfidenceInterval,
    CupedAdjustment,
    Estimate,
    RateEstimate,
    SampleRatioCheck,
)
from app.schema.money import Money
from app.schema.node import Node, encode_gid
from app.schema.scalars import CurrencyCode
from app.services.experiments import guardrails
from app.services.experiments import results as service

Info = strawberry.Info[RequestContext, None]

described_enum(
    ExperimentStatus,
    description="`DRAFT → RUNNING ⇄ PAUSED → CONCLUDED | ARCHIVED`. Only a running "
    "experiment assigns units and shows its variants.",
    values=EXPERIMENT_STATUS,
)
described_enum(Platform, description="Where a visitor sees an offer.", values=PLATFORM)
described_enum(
    GuardrailMetric,
    description="What a guardrail watches, over the payments of a variant's subscriptions.",
    values=GUARDRAIL_METRIC,
)


def percent(basis_points: int | None) -> str | None:
    """Basis points as a percentage string, e.g. 1250 -> `"12.50"`."""
    if basis_points is None:
        return None
    return f"{basis_points // 100}.{basis_points % 100:02d}"


@strawberry.type(description="Who may enter an experiment. Every condition must hold.")
class ExperimentAudience:
    new_customers_only: bool = strawberry.field(
        description="Only visitors who never subscribed to the product and never paid an "
        "invoice (anonymous visitors are new)."
    )
    countries: list[str] = strawberry.field(
        description="ISO countries of the visitor (or customer); empty: every country."
    )
    platforms: list[Platform] = strawberry.field(description="Platforms; empty: every one.")


@strawberry.type(description="Thresholds that pause the experiment when a variant crosses one.")
class ExperimentGuardrails:
    max_refund_rate: str | None = strawberry.field(
        description="Refunds per successful payment, in percent, e.g. `5.00`; null: unwatched."
    )
    max_dispute_rate: str | None = strawberry.field(
        description="Disputes per successful payment, in percent; null: unwatched."
    )
    max_payment_failure_rate: str | None = strawberry.field(
        description="Failed payments per attempt, in percent; null: unwatched."
    )
    minimum_payments: int = strawberry.field(
        description="Payments a variant needs before its rates are judged."
    )


@strawberry.type(description="A range of a layer's 10,000 buckets, `start` included, `end` not.")
class BucketRange:
    start: int = strawberry.field(description="First bucket.")
    end: int = strawberry.field(description="Bucket after the last.")


@strawberry.type(
    description="One arm of an experiment: its weight and what it changes. The first variant "
    "is the control."
)
class ExperimentVariant(Node):
    name: str = strawberry.field(description="Unique within the experiment, e.g. `control`.")
    is_control: bool = strawberry.field(description="The baseline the others are compared to.")
    weight: int = strawberry.field(description="Relative share of the experiment's units.")
    trial_period_days: int | None = strawberry.field(
        description="Trial it offers (0: none); null: the price's own trial."
    )
    price_key: strawberry.Private[uuid.UUID | None]
    coupon_key: strawberry.Private[uuid.UUID | None]
    experiment_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Price it offers; null: the product's default price.")
    @batched(lambda loaders: loaders.price, key=attrgetter("price_key"))
    def price(self, row: models.Price | None) -> Price | None:
        return None if row is None else Price.from_model(row)

    @strawberry.field(description="Coupon it applies at subscription; null: none.")
    @batched(lambda loaders: loaders.coupon, key=attrgetter("coupon_key"))
    def coupon(self, row: models.Coupon | None) -> Coupon | None:
        return None if row is None else Coupon.from_model(row)

    @strawberry.field(description="The experiment it belongs to.")
    @batched(lambda loaders: loaders.experiment, key=attrgetter("experiment_key"))
    def experiment(self, row: models.Experiment | None) -> "Experiment":
        assert row is not None, "variants always have an experiment (foreign key)"
        return Experiment.from_model(row)

    @classmethod
    def from_model(cls, row: VariantRow) -> "ExperimentVariant":
        return cls(
            id=encode_gid("ExperimentVariant", row.id),
            name=row.name,
            is_control=row.position == 0,
            weight=row.weight,
            trial_period_days=row.trial_period_days,
            price_key=row.price_id,
            coupon_key=row.coupon_id,
            experiment_key=row.experiment_id,
        )


@strawberry.type(
    description="A pricing experiment: visitors of a product are assigned to variants "
    "(deterministically, and for good), shown their variant's offer, and the variants' "
    "conversion and revenue are compared with the control."
)
class Experiment(Node):
    key: str = strawberry.field(description="Your unique name, e.g. `pro-price-2027`.")
    name: str = strawberry.field(description="Readable name.")
    hypothesis: str | None = strawberry.field(description="What you expect, and why.")
    status: ExperimentStatus = strawberry.field(description="Where it stands.")
    status_reason: str | None = strawberry.field(
        description="Why it was last paused or concluded, e.g. the guardrail that tripped."
    )
    currency: CurrencyCode = strawberry.field(
        description="Currency of its offers: visitors asking for another one are not in it; "
        "revenue is reported in it."
    )
    traffic_percent: str = strawberry.field(
        description="Share of its layer's units in the experiment, in percent, e.g. `50.00`."
    )
    audience: ExperimentAudience = strawberry.field(description="Who may enter.")
    salt: str = strawberry.field(
        description="Input of the variant hash: a new salt reshuffles units."
    )
    layer: str = strawberry.field(
        description="Experiments of one layer never share a unit (disjoint bucket ranges)."
    )
    layer_buckets: BucketRange | None = strawberry.field(
        description="Its range of the layer's buckets while running or paused."
    )
    guardrails: ExperimentGuardrails = strawberry.field(description="What pauses it.")
    alpha: float = strawberry.field(description="Significance level of its results, e.g. 0.05.")
    minimum_detectable_lift: str = strawberry.field(
        description="Relative lift the sequential test is tuned to detect, in percent."
    )
    winner_shipped: bool = strawberry.field(
        description="The winner's price became the product's default price."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    started_at: datetime | None = strawberry.field(description="When it first started.")
    paused_at: datetime | None = strawberry.field(description="When it was last paused.")
    concluded_at: datetime | None = strawberry.field(description="When it was concluded.")
    archived_at: datetime | None = strawberry.field(description="When it was archived.")
    key_: strawberry.Private[uuid.UUID]
    product_key: strawberry.Private[uuid.UUID]
    winner_key: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The product whose prices it tests.")
    @batched(lambda loaders: loaders.product, key=attrgetter("product_key"))
    def product(self, row: models.Product | None) -> Product:
        assert row is not None, "experiments always have a product (foreign key)"
        return Product.from_model(row)

    @strawberry.field(description="Its variants, the control first.")
    @batched(lambda loaders: loaders.experiment_variants, key=attrgetter("key_"))
    def variants(self, rows: list[models.ExperimentVariant]) -> list[ExperimentVariant]:
        return [ExperimentVariant.from_model(row) for row in rows]

    @strawberry.field(description="The variant declared the winner when it was concluded.")
    @batched(lambda loaders: loaders.experiment_variant, key=attrgetter("winner_key"))
    def winner(self, row: models.ExperimentVariant | None) -> ExperimentVariant | None:
        return None if row is None else ExperimentVariant.from_model(row)

    @strawberry.field(
        description="Per variant: exposures, trials, paid conversions, revenue per exposed "
        "unit, MRR, refund, dispute and failure rates, with intervals, against the control "
        "(always-valid p-values and confidence sequences), the sample-ratio check and the "
        "guardrails. Computed when asked; a breached guardrail pauses a running experiment."
    )
    async def results(
        self,
        info: Info,
        cuped: Annotated[
            bool,
            strawberry.argument(
                description="Reduce the variance of revenue per exposed unit with the units' "
                "revenue before their first exposure (CUPED)."
            ),
        ] = False,
    ) -> "ExperimentResults":
        data = await info.context.loaders.experiment_results.load((self.key_, cuped))
        return ExperimentResults.of(data)

    @classmethod
    def from_model(cls, row: ExperimentRow) -> "Experiment":
        return cls(
            id=encode_gid("Experiment", row.id),
            key_=row.id,
            product_key=row.product_id,
            winner_key=row.winner_variant_id,
            key=row.key,
            name=row.name,
            hypothesis=row.hypothesis,
            status=row.status,
            status_reason=row.status_reason,
            currency=CurrencyCode(row.currency),
            traffic_percent=percent(row.traffic_bp) or "0.00",
            audience=ExperimentAudience(
                new_customers_only=row.new_customers_only,
                countries=list(row.countries),
                platforms=[Platform(p) for p in row.platforms],
            ),
            salt=row.salt,
            layer=row.layer,
            layer_buckets=(
                None
                if row.layer_offset is None
                else BucketRange(
                    start=row.layer_offset, end=min(BUCKETS, row.layer_offset + row.traffic_bp)
                )
            ),
            guardrails=ExperimentGuardrails(
                max_refund_rate=percent(row.max_refund_rate_bp),
                max_dispute_rate=percent(row.max_dispute_rate_bp),
                max_payment_failure_rate=percent(row.max_payment_failure_rate_bp),
                minimum_payments=row.guardrail_min_payments,
            ),
            alpha=row.alpha_bp / 10_000,
            minimum_detectable_lift=percent(row.mde_bp) or "0.00",
            winner_shipped=row.winner_shipped,
            created_at=row.created_at,
            started_at=row.started_at,
            paused_at=row.paused_at,
            concluded_at=row.concluded_at,
            archived_at=row.archived_at,
        )


@strawberry.type(description="One variant's figures, and how it compares with the control.")
class VariantResults:
    variant: ExperimentVariant = strawberry.field(description="The variant.")
    exposed_units: int = strawberry.field(
        description="Units shown at least one of its offers: the denominator of every rate."
    )
    offers_shown: int = strawberry.field(description="Offers shown, repeats included.")
    trials_started: int = strawberry.field(description="Exposed units that started a trial.")
    paid_conversions: int = strawberry.field(description="Exposed units that paid.")
    conversion_rate: RateEstimate = strawberry.field(
        description="Paid conversions per exposed unit."
    )
    revenue: Money = strawberry.field(description="Net revenue (payments less refunds).")
    revenue_per_exposed_unit: Estimate = strawberry.field(
        description="Net revenue per exposed unit, in major units (CUPED-adjusted if asked)."
    )
    mrr: Money = strawberry.field(
        description="Monthly recurring revenue of its active and past-due subscriptions, at "
        "their locked amounts before discounts and tax."
    )
    active_subscriptions: int = strawberry.field(description="Active and past-due ones.")
    refund_rate: RateEstimate = strawberry.field(description="Refunds per successful payment.")
    dispute_rate: RateEstimate = strawberry.field(description="Disputes per successful payment.")
    payment_failure_rate: RateEstimate = strawberry.field(
        description="Failed payments per payment attempt."
    )
    conversion_vs_control: Comparison | None = strawberry.field(
        description="Conversion rate against the control; null for the control."
    )
    revenue_per_exposed_unit_vs_control: Comparison | None = strawberry.field(
        description="Revenue per exposed unit against the control (major units); null for "
        "the control."
    )


@strawberry.type(description="A guardrail of one variant, as of these results.")
class GuardrailCheck:
    metric: GuardrailMetric = strawberry.field(description="What is watched.")
    variant: ExperimentVariant = strawberry.field(description="Whose payments.")
    rate: float | None = strawberry.field(description="Current rate; null without payments.")
    events: int = strawberry.field(description="Refunds, disputes or failures.")
    payments: int = strawberry.field(description="The denominator.")
    threshold: str = strawberry.field(description="The threshold, in percent.")
    evaluated: bool = strawberry.field(description="There are enough payments to judge.")
    breached: bool = strawberry.field(description="Over the threshold: pauses the experiment.")


@strawberry.type(description="An experiment's results, computed when asked.")
class ExperimentResults:
    computed_at: datetime = strawberry.field(description="When they were computed.")
    status: ExperimentStatus = strawberry.field(
        description="The experiment's status after its guardrails were checked."
    )
    alpha: float = strawberry.field(description="Significance level of every comparison.")
    sample_ratio: SampleRatioCheck = strawberry.field(description="Assignment health.")
    variants: list[VariantResults] = strawberry.field(description="In order, the control first.")
    guardrails: list[GuardrailCheck] = strawberry.field(description="Each watched rate.")
    cuped: CupedAdjustment | None = strawberry.field(
        description="The adjustment, when asked for with `cuped: true`."
    )

    @classmethod
    def of(cls, data: service.ExperimentResults) -> "ExperimentResults":
        currency = data.experiment.currency
        known = get_currency(currency)
        scale = 10.0 ** -(known.minor_units if known else 2)
        variants = [
            VariantResults(
                variant=ExperimentVariant.from_model(v.variant),
                exposed_units=v.exposed_units,
                offers_shown=v.offers_shown,
                trials_started=v.trials_started,
                paid_conversions=v.paid_conversions,
                conversion_rate=RateEstimate.of(v.conversion_rate),
                revenue=Money.of(v.revenue_minor, currency),
                revenue_per_exposed_unit=Estimate(
                    value=v.revenue_per_unit.mean * scale,
                    interval=ConfidenceInterval.of(v.revenue_per_unit_interval, scale),
                ),
                mrr=Money.of(v.mrr_minor, currency),
                active_subscriptions=v.active_subscriptions,
                refund_rate=RateEstimate.of(v.refund_rate),
                dispute_rate=RateEstimate.of(v.dispute_rate),
                payment_failure_rate=RateEstimate.of(v.payment_failure_rate),
                conversion_vs_control=Comparison.of(v.conversion, data.alpha),
                revenue_per_exposed_unit_vs_control=Comparison.of(v.revenue, data.alpha, scale),
            )
            for v in data.variants
        ]
        srm = data.sample_ratio
        return cls(
            computed_at=data.computed_at,
            status=data.experiment.status,
            alpha=data.alpha,
            sample_ratio=SampleRatioCheck(
                chi_square=srm.chi_square,
                p_value=srm.p_value,
                mismatch=srm.mismatch,
                expected_units=list(srm.expected),
            ),
            variants=variants,
            guardrails=[_check(c) for c in data.guardrails],
            cuped=None
            if data.cuped is None
            else CupedAdjustment(
                theta=data.cuped.theta, variance_reduction=data.cuped.variance_reduction
            ),
        )


def _check(check: guardrails.GuardrailCheck) -> GuardrailCheck:
    return GuardrailCheck(
        metric=check.metric,
        variant=ExperimentVariant.from_model(check.variant),
        rate=check.rate,
        events=check.events,
        payments=check.payments,
        threshold=percent(check.threshold_bp) or "0.00",
        evaluated=check.evaluated,
        breached=check.breached,
    )
