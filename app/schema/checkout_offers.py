"""The checkout offer in GraphQL: what to show a visitor for a product, in or out of an
experiment."""

import uuid
from operator import attrgetter

import strawberry

from app import models
from app.graphql.read.fields import batched
from app.models import Experiment as ExperimentRow
from app.models import ExperimentVariant as VariantRow
from app.schema.catalog import Price
from app.schema.coupons import Coupon
from app.schema.experiments import Experiment, ExperimentVariant


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
