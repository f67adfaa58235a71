"""Webhooks to merchants: endpoints, their deliveries, and the mutations' inputs and
payloads (README: Webhooks to merchants)."""

import uuid
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry

from app.context import RequestContext
from app.domain.event_types import EventType
from app.domain.webhooks_out import DeliveryStatus, DisabledReason
from app.models import WebhookDelivery as DeliveryRow
from app.models import WebhookEndpoint as EndpointRow
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.events import Event
from app.schema.idempotency import optional_key, secret_field
from app.schema.node import Node, encode_gid
from app.schema.pagination import After, Connection, First
from app.services import pagination
from app.services.outbox import log
from app.services.webhooks_out import endpoints

described_enum(
    DeliveryStatus,
    name="WebhookDeliveryStatus",
    description="Where a delivery of an event to an endpoint stands.",
    values={
        DeliveryStatus.PENDING: "Not acknowledged yet: sent again after `nextAttemptAt`.",
        DeliveryStatus.SUCCEEDED: "The endpoint answered 2xx.",
        DeliveryStatus.FAILED: (
            "Given up: the endpoint was disabled (`retryWebhookDelivery` sends it again)."
        ),
    },
)
described_enum(
    DisabledReason,
    name="WebhookEndpointDisabledReason",
    description="Why an endpoint receives nothing.",
    values={
        DisabledReason.MANUAL: "Disabled with `updateWebhookEndpoint(enabled: false)`.",
        DisabledReason.GONE: "It answered 410 Gone (Standard Webhooks: stop sending).",
        DisabledReason.FAILING: "Every attempt failed for `PAYGATE_WEBHOOKS__DISABLE_AFTER_HOURS`.",
    },
)


@strawberry.type(description="One event for one endpoint: sent, signed, until a 2xx answer.")
class WebhookDelivery(Node):
    status: DeliveryStatus = strawberry.field(description="Where it stands.")
    attempts: int = strawberry.field(description="Attempts made so far.")
    response_code: int | None = strawberry.field(
        description="HTTP status of the last answer (null: none, e.g. a timeout)."
    )
    latency_ms: int | None = strawberry.field(description="Duration of the last attempt.")
    last_error: str | None = strawberry.field(
        description="Why the last attempt failed (a timeout, a refused address, HTTP 500)."
    )
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is sent next (null: not pending)."
    )
    delivered_at: datetime | None = strawberry.field(description="When a 2xx came back.")
    created_at: datetime = strawberry.field(description="When it was fanned out.")
    event: Event | None = strawberry.field(
        description="The event sent (null once past the log's retention)."
    )

    @classmethod
    def from_model(cls, row: DeliveryRow, event: Event | None = None) -> "WebhookDelivery":
        return cls(
            id=encode_gid("WebhookDelivery", row.id),
            status=row.status,
            attempts=row.attempts,
            response_code=row.response_code,
            latency_ms=row.latency_ms,
            last_error=row.last_error,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
            event=event,
        )


WebhookDeliveryConnection = Connection[WebhookDelivery]


@strawberry.type(
    description="A merchant's URL that receives the events of the chosen types, signed "
    "after Standard Webhooks. Its secret is shown only when created or rotated."
)
class WebhookEndpoint(Node):
    url: str = strawberry.field(description="Where events are POSTed.")
    description: str | None = strawberry.field(description="What it is for.")
    event_types: list[EventType] = strawberry.field(description="The events it receives.")
    enabled: bool = strawberry.field(description="Whether events are sent to it.")
    disabled_at: datetime | None = strawberry.field(description="When it was disabled.")
    disabled_reason: DisabledReason | None = strawberry.field(description="Why.")
    failing_since: datetime | None = strawberry.field(
        description="First failed attempt since the last success (null: not failing)."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Its deliveries, newest first.")
    async def deliveries(
        self,
        info: strawberry.Info[RequestContext, None],
        first: First = None,
        after: After = None,
        status: Annotated[
            DeliveryStatus | None, strawberry.argument(description="Only these.")
        ] = None,
    ) -> WebhookDeliveryConnection:
        statement = endpoints.deliveries_query(self.key, status)
        async with info.context.db() as session:
            page = await pagination.fetch_page(
                session, statement, cast(Any, DeliveryRow.id), first=first, after=after
            )
            found = await log.by_seq(session, [row.event_seq for row in page.items])
            events = {seq: Event.from_model(row) for seq, row in found.items()}

        async def count() -> int:
            async with info.context.db() as session:
                return await pagination.count(session, statement)

        return WebhookDeliveryConnection.of(
            page.items,
            lambda row: WebhookDelivery.from_model(row, events.get(row.event_seq)),
            more=page.has_next_page,
            after=after,
            count=count,
        )

    @classmethod
    def from_model(cls, row: EndpointRow) -> "WebhookEndpoint":
        return cls(
            id=encode_gid("WebhookEndpoint", row.id),
            url=row.url,
            description=row.description,
            event_types=sorted((EventType(t) for t in row.event_types), key=lambda t: t.name),
            enabled=row.disabled_at is None,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
            failing_since=row.failing_since,
            created_at=row.created_at,
            updated_at=row.updated_at,
            key=row.id,
        )


WebhookEndpointConnection = Connection[WebhookEndpoint]


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    idempotency_key: str | None = optional_key()
    url: str = strawberry.field(
        description="An https URL (http in development), at most 2048 characters."
    )
    event_types: list[EventType] = strawberry.field(description="At least one event type.")
    description: str | None = strawberry.field(default=None, description="What it is for.")


@strawberry.type(description="The new endpoint. Store `secret` now: it is never shown again.")
class CreateWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    secret: str | None = secret_field(
        "The signing secret (`whsec_…`) to verify deliveries with a Standard Webhooks library."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing was created.")


@strawberry.input(description="Changes to an endpoint; omitted fields stay as they are.")
class UpdateWebhookEndpointInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the endpoint.")
    url: str | None = strawberry.field(default=strawberry.UNSET, description="A new URL.")
    event_types: list[EventType] | None = strawberry.field(
        default=strawberry.UNSET, description="The event types (replaces the list)."
    )
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="New description; `null` clears it."
    )
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="`true` enables a disabled endpoint (fan-out resumes where it stopped); "
        "`false` disables it.",
    )


@strawberry.type(description="The endpoint.")
class WebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.input(description="The endpoint to delete, with its deliveries.")
class DeleteWebhookEndpointInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the endpoint.")


@strawberry.type(description="The deleted endpoint's ID.")
class DeleteWebhookEndpointPayload:
    deleted_webhook_endpoint_id: str | None = strawberry.field(
        description="Global ID of the endpoint deleted (a string: replays return it as stored)."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing was deleted.")


@strawberry.input(description="The endpoint whose signing secret to replace.")
class RotateWebhookEndpointSecretInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the endpoint.")


@strawberry.type(
    description="The new secret. The previous one keeps signing beside it for 24 hours."
)
class RotateWebhookEndpointSecretPayload:
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    secret: str | None = secret_field("The new signing secret (`whsec_…`).")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.input(description="The delivery to send again.")
class RetryWebhookDeliveryInput:
    idempotency_key: str | None = optional_key()
    delivery_id: strawberry.ID = strawberry.field(description="Global ID of the delivery.")


@strawberry.type(description="The delivery, pending again.")
class WebhookDeliveryPayload:
    webhook_delivery: WebhookDelivery | None = strawberry.field(description="The delivery.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")
