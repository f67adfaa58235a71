"""Subscriptions in GraphQL: a customer's recurring purchase and its items."""

import uuid
from datetime import datetime
from operator import attrgetter

import strawberry

from app import models
from app.context import RequestContext
from app.domain.billing import SubscriptionStatus
from app.domain.errors import UserInputError
from app.domain.metering import quantity_text
from app.graphql.read.fields import batched, reads
from app.models import Subscription as SubscriptionRow
from app.models import SubscriptionItem as ItemRow
from app.schema.catalog import Price
from app.schema.dunning import STOP_COLUMNS, CollectionStop
from app.schema.enum_values.billing import SUBSCRIPTION_STATUS
from app.schema.enums import described_enum
from app.schema.experiments import Experiment, ExperimentVariant
from app.schema.invoices import Invoice, InvoicePreview
from app.schema.metering import Meter, UsageCharge
from app.schema.money import Money
from app.schema.node import Node, encode_gid
from app.services import test_clocks
from app.services.billing import upcoming, usage_lines

Info = strawberry.Info[RequestContext, None]

described_enum(
    SubscriptionStatus,
    description="Where a subscription stands: whether it is billed, and whether it is paid.",
    values=SUBSCRIPTION_STATUS,
)


@strawberry.type(description="A price on a subscription, at the amount it was sold at.")
class SubscriptionItem:
    quantity: int = strawberry.field(description="Units billed each period.")
    unit_amount: Money = strawberry.field(
        description="Price per unit locked at sale: later price changes do not move it."
    )
    price_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The price sold (its current state).")
    @batched(lambda loaders: loaders.price, key=attrgetter("price_key"))
    def price(self, row: models.Price | None) -> Price:
        assert row is not None
        return Price.from_model(row)

    @classmethod
    def from_model(cls, row: ItemRow, currency: str) -> "SubscriptionItem":
        return cls(
            quantity=row.quantity,
            unit_amount=Money.of(row.unit_amount_minor, currency),
            price_key=row.price_id,
        )


@reads(
    models.Subscription,
    same=(
        "id",
        "status",
        "current_period_start",
        "current_period_end",
        "trial_end",
        "cancel_at_period_end",
        "canceled_at",
        "ended_at",
        "next_retry_at",
        "created_at",
    ),
    experiment=("experiment_id",),
    experiment_variant=("experiment_variant_id",),
    items=("id", "currency"),  # the items' amounts are in the subscription's currency
    invoices=("id",),
    latest_invoice=("id",),
    collection_stop=STOP_COLUMNS,
    usage_threshold=("usage_threshold_minor", "currency"),
    upcoming_invoice=("id",),
    current_usage=("id", "currency"),
)
@strawberry.type(description="A customer's recurring purchase of one or more prices.")
class Subscription(Node):
    status: SubscriptionStatus = strawberry.field(description="Where it stands.")
    current_period_start: datetime = strawberry.field(description="Current period start.")
    current_period_end: datetime = strawberry.field(description="Current period end.")
    trial_end: datetime | None = strawberry.field(description="When the trial ends(ed).")
    cancel_at_period_end: bool = strawberry.field(description="Ends when this period ends.")
    canceled_at: datetime | None = strawberry.field(description="When cancellation was asked.")
    ended_at: datetime | None = strawberry.field(description="When it ended.")
    next_retry_at: datetime | None = strawberry.field(description="Next dunning retry.")
    created_at: datetime = strawberry.field(description="When it was created.")
    collection_stop: CollectionStop | None = strawberry.field(
        description="Why paygate stopped collecting this subscription's invoices on its own "
        "(no retry is scheduled) and what the customer must do; null while it collects."
    )
    key: strawberry.Private[uuid.UUID]
    currency: strawberry.Private[str]
    experiment_key: strawberry.Private[uuid.UUID | None]
    variant_key: strawberry.Private[uuid.UUID | None]
    usage_threshold_minor: strawberry.Private[int | None] = None

    @strawberry.field(description="The pricing experiment it was sold under; null: none.")
    @batched(lambda loaders: loaders.experiment, key=attrgetter("experiment_key"))
    def experiment(self, row: models.Experiment | None) -> Experiment | None:
        return None if row is None else Experiment.from_model(row)

    @strawberry.field(description="The variant the customer was shown; null: none.")
    @batched(lambda loaders: loaders.experiment_variant, key=attrgetter("variant_key"))
    def experiment_variant(self, row: models.ExperimentVariant | None) -> ExperimentVariant | None:
        return None if row is None else ExperimentVariant.from_model(row)

    @strawberry.field(description="What is billed each period.")
    @batched(lambda loaders: loaders.subscription_items)
    def items(self, rows: list[models.SubscriptionItem]) -> list[SubscriptionItem]:
        return [SubscriptionItem.from_model(row, self.currency) for row in rows]

    @strawberry.field(description="Its invoices, oldest first.")
    @batched(lambda loaders: loaders.subscription_invoices, narrow=())
    def invoices(self, rows: list[models.Invoice]) -> list[Invoice]:
        return [Invoice.from_model(row) for row in rows]

    @strawberry.field(description="The most recent invoice (its payment shows any 3DS step).")
    @batched(
        lambda loaders: loaders.subscription_last_invoices,
        key=lambda parent: (parent.key, 1),
        narrow=(),
    )
    def latest_invoice(self, rows: list[models.Invoice]) -> Invoice | None:
        return Invoice.from_model(rows[-1]) if rows else None

    @strawberry.field(
        description="The usage amount at which its usage is invoiced mid-period "
        "(`setUsageThreshold`; null: only at the period's end)."
    )
    def usage_threshold(self) -> Money | None:
        if self.usage_threshold_minor is None:
            return None
        return Money.of(self.usage_threshold_minor, self.currency)

    @strawberry.field(
        description="The invoice its period's end would make if the period ended now: "
        "the next period's licensed items, usage so far, adjustments for late usage, "
        "pending items, discount and tax (null when it is not live)."
    )
    async def upcoming_invoice(self, info: Info) -> InvoicePreview | None:
        async with info.context.db() as session:
            try:
                preview = await upcoming.upcoming(
                    session, clock=info.context.clock, subscription_id=self.key
                )
            except UserInputError:
                return None
        return InvoicePreview.from_preview(preview)

    @strawberry.field(
        description="Usage of its metered items in the current period so far, priced, and "
        "adjustments of earlier periods that late usage changed."
    )
    async def current_usage(self, info: Info) -> list[UsageCharge]:
        async with info.context.db() as session:
            row = await session.get(SubscriptionRow, self.key)
            assert row is not None
            now = (await test_clocks.clock_of(session, row.customer_id, info.context.clock)).now()
            found = [
                UsageCharge(
                    meter=Meter.from_model(charge.metered.meter),
                    period_start=charge.start,
                    period_end=charge.end,
                    quantity=quantity_text(charge.quantity),
                    amount=Money.of(charge.amount_minor, self.currency),
                    adjustment=charge.adjustment,
                )
                for charge in await usage_lines.so_far(session, row, now)
            ]
            await session.rollback()
        return found

    @classmethod
    def from_model(cls, row: SubscriptionRow) -> "Subscription":
        return cls(
            id=encode_gid("Subscription", row.id),
            key=row.id,
            currency=row.currency,
            status=row.status,
            current_period_start=row.current_period_start,
            current_period_end=row.current_period_end,
            trial_end=row.trial_end,
            cancel_at_period_end=row.cancel_at_period_end,
            canceled_at=row.canceled_at,
            ended_at=row.ended_at,
            next_retry_at=row.next_retry_at,
            created_at=row.created_at,
            collection_stop=CollectionStop.of(row),
            experiment_key=row.experiment_id,
            variant_key=row.experiment_variant_id,
            usage_threshold_minor=row.usage_threshold_minor,
        )
