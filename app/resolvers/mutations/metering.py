"""Mutations of usage-based billing: meters, and usage events in (``recordUsage``; the
same as ``POST /usage``)."""

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import ErrorCode, Problem
from app.resolvers.access import owned_key
from app.resolvers.common import Info, given, key_of
from app.resolvers.keyed import mutate_keyed
from app.schema.errors import UserError
from app.schema.metering import (
    ArchiveMeterInput,
    ArchiveUsageAlertInput,
    CreateMeterInput,
    CreateUsageAlertInput,
    Meter,
    MeterPayload,
    RecordUsageInput,
    RecordUsagePayload,
    SetUsageThresholdInput,
    UpdateMeterInput,
    UsageAlert,
    UsageAlertPayload,
    UsageEventResult,
    filters_of,
)
from app.schema.subscription_inputs import SubscriptionPayload
from app.schema.subscriptions import Subscription
from app.services.billing import usage_watch
from app.services.metering import alerts, ingest, meters


def payload_of(results: list[ingest.Result]) -> RecordUsagePayload:
    counts = ingest.tally(results)
    return RecordUsagePayload(
        results=[
            UsageEventResult(
                index=r.index,
                idempotency_key=r.idempotency_key,
                outcome=r.outcome,
                errors=[
                    UserError.from_problem(p.under("events", str(r.index))) for p in r.problems
                ],
            )
            for r in results
        ],
        accepted=counts[ingest.Outcome.ACCEPTED],
        duplicates=counts[ingest.Outcome.DUPLICATE],
        refused=counts[ingest.Outcome.REFUSED],
        user_errors=[],
    )


@strawberry.type
class MeteringMutations:
    @strawberry.mutation(description="Create a meter: what usage is counted, and how.")
    async def create_meter(
        self, info: Info, input: Annotated[CreateMeterInput, strawberry.argument(description="It.")]
    ) -> MeterPayload:
        async def act(session: AsyncSession) -> MeterPayload:
            row = await meters.create_meter(
                session,
                clock=info.context.clock,
                key=input.key,
                name=input.name,
                aggregation=input.aggregation,
                value_property=input.value_property,
                filters=filters_of(input.filters),
            )
            return MeterPayload(meter=Meter.from_model(row), user_errors=[])

        return await mutate_keyed(info, MeterPayload, act, input)

    @strawberry.mutation(
        description="Rename a meter or correct its filters (its usage is counted again; "
        "finalized invoices are adjusted on the next ones)."
    )
    async def update_meter(
        self, info: Info, input: Annotated[UpdateMeterInput, strawberry.argument(description="It.")]
    ) -> MeterPayload:
        async def act(session: AsyncSession) -> MeterPayload:
            filters = given(input.filters)
            row = await meters.update_meter(
                session,
                clock=info.context.clock,
                meter_id=key_of(input.id, "Meter", "id"),
                name=given(input.name),
                filters=filters if not isinstance(filters, list) else filters_of(filters),
            )
            return MeterPayload(meter=Meter.from_model(row), user_errors=[])

        return await mutate_keyed(info, MeterPayload, act, input)

    @strawberry.mutation(description="Archive a meter: it accepts no more usage events.")
    async def archive_meter(
        self,
        info: Info,
        input: Annotated[ArchiveMeterInput, strawberry.argument(description="It.")],
    ) -> MeterPayload:
        async def act(session: AsyncSession) -> MeterPayload:
            row = await meters.archive_meter(
                session, clock=info.context.clock, meter_id=key_of(input.id, "Meter", "id")
            )
            return MeterPayload(meter=Meter.from_model(row), user_errors=[])

        return await mutate_keyed(info, MeterPayload, act, input)

    @strawberry.mutation(
        description="Record up to 100 usage events, each accepted, a duplicate (a no-op "
        "success) or refused on its own; accepted events are durable when this returns. "
        "High-rate senders: `POST /usage` takes the same events as JSON."
    )
    async def record_usage(
        self,
        info: Info,
        input: Annotated[RecordUsageInput, strawberry.argument(description="The events.")],
    ) -> RecordUsagePayload:
        if not 1 <= len(input.events) <= ingest.MAX_BATCH:
            problem = Problem(
                ErrorCode.INVALID, f"Give 1 to {ingest.MAX_BATCH} events.", ("events",)
            )
            return RecordUsagePayload(
                results=[],
                accepted=0,
                duplicates=0,
                refused=0,
                user_errors=[UserError.from_problem(problem)],
            )
        async with info.context.db() as session:
            results = await ingest.record(
                session,
                clock=info.context.clock,
                sender=info.context.principal.scope,
                events=[event.as_event() for event in input.events],
            )
        return payload_of(results)

    @strawberry.mutation(
        description="Alert when a customer's usage of a meter in a billing period reaches a "
        "quantity: the event `usage.alert_triggered` (webhooks, the event bus, live updates)."
    )
    async def create_usage_alert(
        self,
        info: Info,
        input: Annotated[CreateUsageAlertInput, strawberry.argument(description="It.")],
    ) -> UsageAlertPayload:
        async def act(session: AsyncSession) -> UsageAlertPayload:
            row = await alerts.create_alert(
                session,
                clock=info.context.clock,
                meter_id=key_of(input.meter_id, "Meter", "meterId"),
                customer_id=None
                if input.customer_id is None
                else key_of(input.customer_id, "Customer", "customerId"),
                quantity=input.quantity,
            )
            return UsageAlertPayload(usage_alert=UsageAlert.from_model(row), user_errors=[])

        return await mutate_keyed(info, UsageAlertPayload, act, input)

    @strawberry.mutation(description="Archive a usage alert: it triggers no more.")
    async def archive_usage_alert(
        self,
        info: Info,
        input: Annotated[ArchiveUsageAlertInput, strawberry.argument(description="It.")],
    ) -> UsageAlertPayload:
        async def act(session: AsyncSession) -> UsageAlertPayload:
            row = await alerts.archive_alert(
                session, clock=info.context.clock, alert_id=key_of(input.id, "UsageAlert", "id")
            )
            return UsageAlertPayload(usage_alert=UsageAlert.from_model(row), user_errors=[])

        return await mutate_keyed(info, UsageAlertPayload, act, input)

    @strawberry.mutation(
        description="Set or clear a subscription's usage threshold: when the usage billed "
        "so far in its period reaches it, that usage is invoiced at once (progressive "
        "billing), and the period's invoice bills the rest."
    )
    async def set_usage_threshold(
        self,
        info: Info,
        input: Annotated[SetUsageThresholdInput, strawberry.argument(description="It.")],
    ) -> SubscriptionPayload:
        async def act(session: AsyncSession) -> SubscriptionPayload:
            row = await usage_watch.set_threshold(
                session,
                clock=info.context.clock,
                subscription_id=await owned_key(
                    info, session, input.subscription_id, "Subscription", "subscriptionId"
                ),
                amount=input.amount,
            )
            return SubscriptionPayload(subscription=Subscription.from_model(row), user_errors=[])

        return await mutate_keyed(info, SubscriptionPayload, act, input)
