"""Usage-based billing in GraphQL: meters, usage events in, usage read back, and the usage
charges of a subscription (README: Usage-based billing)."""

import enum
import uuid
from datetime import datetime
from typing import Any

import strawberry

from app.context import RequestContext
from app.domain.metering import Aggregation, PriceModel
from app.models import Meter as MeterRow
from app.models import UsageAlert as UsageAlertRow
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.idempotency import optional_key
from app.schema.money import Money
from app.schema.node import Node, encode_gid
from app.schema.pagination import Connection
from app.schema.scalars import JSON
from app.services.metering import alerts
from app.services.metering.ingest import Outcome

described_enum(
    Aggregation,
    name="MeterAggregation",
    description="How a meter turns a period's usage events into one quantity.",
    values={
        Aggregation.COUNT: "The number of events.",
        Aggregation.SUM: "The sum of their values.",
        Aggregation.MAX: "The largest value.",
        Aggregation.UNIQUE_COUNT: (
            "The number of distinct values of the meter's `valueProperty` (exact), e.g. "
            "active users."
        ),
        Aggregation.LATEST: "The value of the period's last event (ties: the greatest key).",
        Aggregation.WEIGHTED_SUM: (
            "Values are changes (+3, -1) of a running total that carries over between periods; "
            "the quantity is the total's time-weighted average over the period, e.g. seats held "
            "for part of a month."
        ),
    },
)
described_enum(
    Outcome,
    name="UsageEventOutcome",
    description="What became of one usage event.",
    values={
        Outcome.ACCEPTED: "Stored by this call.",
        Outcome.DUPLICATE: (
            "Its key was used before (or earlier in the batch): nothing changed. A success: "
            "resending a batch after a timeout is safe."
        ),
        Outcome.REFUSED: "Refused (see `errors`): nothing stored, its key stays unused.",
    },
)
described_enum(
    PriceModel,
    name="PriceModel",
    description="How a price turns a quantity (licensed, or a meter's usage) into money. "
    "Amounts are exact and rounded once per invoice line, half to even.",
    values={
        PriceModel.PER_UNIT: "Quantity times unit amount (which may go below the minor unit).",
        PriceModel.TIERED_GRADUATED: (
            "Each tier prices the units that fall into it, plus its flat amount when the "
            "quantity reaches into it."
        ),
        PriceModel.TIERED_VOLUME: (
            "The tier the whole quantity falls into prices every unit, plus its flat amount."
        ),
        PriceModel.PACKAGE: (
            "The unit amount buys `packageSize` units; a started package is paid in full."
        ),
    },
)


@strawberry.type(description="Only events whose property has one of these values count.")
class MeterFilter:
    property: str = strawberry.field(description="The property's name.")
    values: list[str] = strawberry.field(description="The values that count.")


@strawberry.type(description="What usage is counted, and how. Senders name it by `key`.")
class Meter(Node):
    key: str = strawberry.field(description="Stable name senders use, e.g. `api_calls`.")
    name: str = strawberry.field(description="Shown on invoices' usage lines.")
    aggregation: Aggregation = strawberry.field(description="How events become a quantity.")
    value_property: str | None = strawberry.field(
        description="The property aggregated; null: the event's own `value`."
    )
    filters: list[MeterFilter] = strawberry.field(description="Which events count (all: []).")
    archived_at: datetime | None = strawberry.field(
        description="When it stopped accepting events (null: active)."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    key_: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Its active usage alerts, oldest first.")
    async def alerts(self, info: strawberry.Info[RequestContext, None]) -> list["UsageAlert"]:
        async with info.context.db() as session:
            rows = (await session.scalars(alerts.alerts_query(self.key_))).all()
            return [UsageAlert.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: MeterRow) -> "Meter":
        return cls(
            id=encode_gid("Meter", row.id),
            key_=row.id,
            key=row.key,
            name=row.name,
            aggregation=row.aggregation,
            value_property=row.value_property,
            filters=[MeterFilter(property=k, values=list(v)) for k, v in row.filters.items()],
            archived_at=row.archived_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


MeterConnection = Connection[Meter]


@strawberry.type(
    description="A usage quantity that, reached by a customer in a billing period, states "
    "the event `usage.alert_triggered` (once per customer and period)."
)
class UsageAlert(Node):
    quantity: str = strawberry.field(description="The quantity that triggers it.")
    customer_id: strawberry.ID | None = strawberry.field(
        description="Whose usage (null: every customer's)."
    )
    archived_at: datetime | None = strawberry.field(description="When it was archived.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_model(cls, row: UsageAlertRow) -> "UsageAlert":
        return cls(
            id=encode_gid("UsageAlert", row.id),
            quantity=row.quantity,
            customer_id=None
            if row.customer_id is None
            else encode_gid("Customer", row.customer_id),
            archived_at=row.archived_at,
            created_at=row.created_at,
        )


@strawberry.input(description="A new usage alert.")
class CreateUsageAlertInput:
    idempotency_key: str | None = optional_key()
    meter_id: strawberry.ID = strawberry.field(description="Global ID of the meter.")
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="One customer's usage (omit: every customer's)."
    )
    quantity: str = strawberry.field(description="The quantity that triggers it, e.g. `10000`.")


@strawberry.input(description="The usage alert to archive.")
class ArchiveUsageAlertInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the alert.")


@strawberry.type(description="Result of `createUsageAlert` and `archiveUsageAlert`.")
class UsageAlertPayload:
    usage_alert: UsageAlert | None = strawberry.field(description="The alert, unless refused.")
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")


@strawberry.input(description="A subscription's usage threshold (progressive billing).")
class SetUsageThresholdInput:
    idempotency_key: str | None = optional_key()
    subscription_id: strawberry.ID = strawberry.field(description="Global ID.")
    amount: str | None = strawberry.field(
        description="The usage amount, in the subscription's currency, at which its usage is "
        "invoiced mid-period (e.g. `100.00`); null: only at the period's end."
    )


@strawberry.type(description="A tier of a tiered price.")
class PriceTier:
    up_to: int | None = strawberry.field(
        description="The tier's last unit, inclusive (null: every unit above the last tier)."
    )
    unit_amount: str = strawberry.field(
        description="Exact amount per unit in major units, e.g. `0.0025`."
    )
    flat_amount: Money = strawberry.field(description="Charged once when usage enters it.")


@strawberry.input(description="Only events whose property has one of these values count.")
class MeterFilterInput:
    property: str = strawberry.field(description="A property name.")
    values: list[str] = strawberry.field(description="1 to 50 values that count.")


def filters_of(given: list[MeterFilterInput] | None) -> dict[str, list[str]] | None:
    if given is None:
        return None
    merged: dict[str, list[str]] = {}
    for item in given:
        merged.setdefault(item.property, []).extend(item.values)
    return merged


@strawberry.input(description="A new meter.")
class CreateMeterInput:
    idempotency_key: str | None = optional_key()
    key: str = strawberry.field(description="Lower-case letters, digits, `_.-`: `api_calls`.")
    name: str = strawberry.field(description="Shown on invoices, e.g. `API calls`.")
    aggregation: Aggregation = strawberry.field(description="How events become a quantity.")
    value_property: str | None = strawberry.field(
        default=None,
        description="The property to aggregate (required for UNIQUE_COUNT; null: the "
        "event's `value`).",
    )
    filters: list[MeterFilterInput] | None = strawberry.field(
        default=None, description="Only events matching every filter count."
    )


@strawberry.input(
    description="Changes to a meter. New filters are a correction: the meter's events are "
    "counted again, and finalized invoices are adjusted on the next ones."
)
class UpdateMeterInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the meter.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    filters: list[MeterFilterInput] | None = strawberry.field(
        default=strawberry.UNSET, description="New filters (replace the old; [] : none)."
    )


@strawberry.input(description="The meter to archive: it accepts no more events.")
class ArchiveMeterInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the meter.")


@strawberry.type(description="Result of `createMeter`, `updateMeter` and `archiveMeter`.")
class MeterPayload:
    meter: Meter | None = strawberry.field(description="The meter, unless refused.")
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")


@strawberry.input(description="One usage event.")
class UsageEventInput:
    idempotency_key: str = strawberry.field(
        description="Unique per sender for 35 days: sending it again is a no-op success."
    )
    meter_key: str = strawberry.field(description="The meter's key.")
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Whose usage (or give `subscriptionId`)."
    )
    subscription_id: strawberry.ID | None = strawberry.field(
        default=None, description="The subscription whose customer used it."
    )
    timestamp: datetime = strawberry.field(
        description="When it happened: at most 35 days ago and 5 minutes ahead of the "
        "customer's clock (a test clock's time, for its customers)."
    )
    value: str | None = strawberry.field(
        default=None,
        description="Decimal value (SUM, MAX, LATEST, WEIGHTED_SUM meters without a "
        "`valueProperty`), e.g. `1.5`.",
    )
    properties: JSON | None = strawberry.field(
        default=None, description='Up to 20 scalar properties, e.g. `{"region": "eu"}`.'
    )

    def as_event(self) -> dict[str, Any]:
        return {
            "idempotencyKey": self.idempotency_key,
            "meterKey": self.meter_key,
            "customerId": self.customer_id,
            "subscriptionId": self.subscription_id,
            "timestamp": self.timestamp,
            "value": self.value,
            "properties": self.properties,
        }


@strawberry.input(description="Up to 100 usage events, each accepted or refused on its own.")
class RecordUsageInput:
    events: list[UsageEventInput] = strawberry.field(description="1 to 100 events.")


@strawberry.type(description="What became of one usage event of the batch.")
class UsageEventResult:
    index: int = strawberry.field(description="Its position in the batch, from 0.")
    idempotency_key: str | None = strawberry.field(description="Its key.")
    outcome: Outcome = strawberry.field(description="Accepted, duplicate or refused.")
    errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of `recordUsage`.")
class RecordUsagePayload:
    results: list[UsageEventResult] = strawberry.field(description="One per event, in order.")
    accepted: int = strawberry.field(description="Events stored by this call.")
    duplicates: int = strawberry.field(description="Events whose key was used before.")
    refused: int = strawberry.field(description="Events refused (nothing stored).")
    user_errors: list[UserError] = strawberry.field(
        description="Why the whole batch was refused (e.g. more than 100 events)."
    )


@strawberry.enum(description="The buckets of a usage series.")
class UsageGrouping(enum.Enum):
    HOUR = strawberry.enum_value("hour", description="Whole hours (UTC).")
    DAY = strawberry.enum_value("day", description="UTC days.")


@strawberry.type(description="A meter's quantity over one bucket of time.")
class UsageBucket:
    start: datetime = strawberry.field(description="Start, inclusive.")
    end: datetime = strawberry.field(description="End, exclusive.")
    quantity: str = strawberry.field(description="Exact decimal quantity.")


@strawberry.type(description="A meter's usage by a customer over a window.")
class CustomerUsage:
    meter: Meter = strawberry.field(description="The meter.")
    start: datetime = strawberry.field(description="Start, inclusive.")
    end: datetime = strawberry.field(description="End, exclusive.")
    quantity: str = strawberry.field(description="The quantity over the whole window.")
    buckets: list[UsageBucket] = strawberry.field(description="By hour or by UTC day.")


@strawberry.type(description="Usage billed, or to be billed, for one metered item.")
class UsageCharge:
    meter: Meter = strawberry.field(description="The meter.")
    period_start: datetime = strawberry.field(description="The usage window's start.")
    period_end: datetime = strawberry.field(description="The window's end (exclusive).")
    quantity: str = strawberry.field(description="The meter's quantity so far.")
    amount: Money = strawberry.field(
        description="What it costs so far under the price's model, minus what was billed."
    )
    adjustment: bool = strawberry.field(
        description="True for the correction of an earlier, finalized window."
    )
