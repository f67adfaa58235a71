"""Pricing experiments in GraphQL: the experiment, its variants, and the checkout offer."""

import uuid
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated

import strawberry

from app import models
from app.context import RequestContext
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
from app.schema.node import Node, encode_gid
from app.schema.scalars import CurrencyCode

if TYPE_CHECKING:
    from app.schema.experiment_results import ExperimentResults

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
    def experiment(
        self, row: models.Experiment | None
    ) -> Annotated["Experiment", strawberry.lazy("app.schema.experiments")]:
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
    ) -> Annotated["ExperimentResults", strawberry.lazy("app.schema.experiment_results")]:
        from app.schema import experiment_results  # a cycle: its types use this module's

        data = await info.context.loaders.experiment_results.load((self.key_, cuped))
        return experiment_results.ExperimentResults.of(data)

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


@strawberry.type(
    description="What to show a visitor for a product: the price, trial and coupon, and the "
    "experiment and variant they come from (null outside experiments). Subscribing with "
    "`createSubscription` keeps this price for the subscription's life."
)
class CheckoutOffer:
    trial_period_days: int | None = strawberry.field(description="Trial to show; null: none.")
    price_key: strawberry.Private[uuid.UUID]
    coupon_key: strawberry.Private[uuid.UUID | None]
    experiment_row: strawberry.Private[ExperimentRow | None]
    variant_row: strawberry.Private[VariantRow | None]

    @strawberry.field(description="The price to show and to subscribe to.")
    @batched(lambda loaders: loaders.price, key=attrgetter("price_key"))
    def price(self, row: models.Price | None) -> Price:
        assert row is not None, "offers are made of existing prices"
        return Price.from_model(row)

    @strawberry.field(description="Coupon applied when subscribing; null: none.")
    @batched(lambda loaders: loaders.coupon, key=attrgetter("coupon_key"))
    def coupon(self, row: models.Coupon | None) -> Coupon | None:
        return None if row is None else Coupon.from_model(row)

    @strawberry.field(description="The experiment the visitor is in; null: none.")
    def experiment(self) -> Experiment | None:
        return None if self.experiment_row is None else Experiment.from_model(self.experiment_row)

    @strawberry.field(description="The visitor's variant; null outside experiments.")
    def variant(self) -> ExperimentVariant | None:
        return None if self.variant_row is None else ExperimentVariant.from_model(self.variant_row)
