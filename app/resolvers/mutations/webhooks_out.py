"""Mutations of webhooks to merchants: endpoints, their secrets, a delivery sent again."""

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.resolvers.common import Info, given, key_of
from app.resolvers.keyed import mutate_keyed
from app.schema.node import encode_gid
from app.schema.webhooks_out import (
    CreateWebhookEndpointInput,
    CreateWebhookEndpointPayload,
    DeleteWebhookEndpointInput,
    DeleteWebhookEndpointPayload,
    RetryWebhookDeliveryInput,
    RotateWebhookEndpointSecretInput,
    RotateWebhookEndpointSecretPayload,
    UpdateWebhookEndpointInput,
    WebhookDelivery,
    WebhookDeliveryPayload,
    WebhookEndpoint,
    WebhookEndpointPayload,
)
from app.services.webhooks_out import endpoints
from app.services.webhooks_out.config import DeliveryConfig


def _config(info: Info) -> DeliveryConfig:
    return DeliveryConfig.of(info.context.runtime.settings)


@strawberry.type
class WebhookOutMutations:
    @strawberry.mutation(
        description="Register an endpoint for webhooks (Standard Webhooks). Only events "
        "committed from now on are sent to it. Its secret is in this payload only."
    )
    async def create_webhook_endpoint(
        self,
        info: Info,
        input: Annotated[CreateWebhookEndpointInput, strawberry.argument(description="It.")],
    ) -> CreateWebhookEndpointPayload:
        async def act(session: AsyncSession) -> CreateWebhookEndpointPayload:
            made = await endpoints.create(
                session,
                clock=info.context.clock,
                config=_config(info),
                url=input.url,
                event_types=input.event_types,
                description=input.description,
            )
            return CreateWebhookEndpointPayload(
                webhook_endpoint=WebhookEndpoint.from_model(made.endpoint),
                secret=made.secret,
                user_errors=[],
            )

        return await mutate_keyed(info, CreateWebhookEndpointPayload, act, input)

    @strawberry.mutation(description="Change an endpoint, or enable or disable it.")
    async def update_webhook_endpoint(
        self,
        info: Info,
        input: Annotated[UpdateWebhookEndpointInput, strawberry.argument(description="It.")],
    ) -> WebhookEndpointPayload:
        async def act(session: AsyncSession) -> WebhookEndpointPayload:
            row = await endpoints.update(
                session,
                clock=info.context.clock,
                config=_config(info),
                endpoint_id=key_of(input.id, "WebhookEndpoint", "id"),
                url=given(input.url),
                event_types=given(input.event_types),
                description=given(input.description),
                enabled=given(input.enabled),
            )
            return WebhookEndpointPayload(
                webhook_endpoint=WebhookEndpoint.from_model(row), user_errors=[]
            )

        return await mutate_keyed(info, WebhookEndpointPayload, act, input)

    @strawberry.mutation(description="Delete an endpoint and its deliveries.")
    async def delete_webhook_endpoint(
        self,
        info: Info,
        input: Annotated[DeleteWebhookEndpointInput, strawberry.argument(description="It.")],
    ) -> DeleteWebhookEndpointPayload:
        async def act(session: AsyncSession) -> DeleteWebhookEndpointPayload:
            key = await endpoints.delete(
                session, endpoint_id=key_of(input.id, "WebhookEndpoint", "id")
            )
            return DeleteWebhookEndpointPayload(
                deleted_webhook_endpoint_id=encode_gid("WebhookEndpoint", key),
                user_errors=[],
            )

        return await mutate_keyed(info, DeleteWebhookEndpointPayload, act, input)

    @strawberry.mutation(
        description="Replace an endpoint's signing secret. The previous one keeps signing "
        "beside the new one for `PAYGATE_WEBHOOKS__SECRET_OVERLAP_HOURS` (24)."
    )
    async def rotate_webhook_endpoint_secret(
        self,
        info: Info,
        input: Annotated[RotateWebhookEndpointSecretInput, strawberry.argument(description="It.")],
    ) -> RotateWebhookEndpointSecretPayload:
        async def act(session: AsyncSession) -> RotateWebhookEndpointSecretPayload:
            made = await endpoints.rotate_secret(
                session,
                clock=info.context.clock,
                config=_config(info),
                endpoint_id=key_of(input.id, "WebhookEndpoint", "id"),
            )
            return RotateWebhookEndpointSecretPayload(
                webhook_endpoint=WebhookEndpoint.from_model(made.endpoint),
                secret=made.secret,
                user_errors=[],
            )

        return await mutate_keyed(info, RotateWebhookEndpointSecretPayload, act, input)

    @strawberry.mutation(description="Send a delivery again, now (its endpoint enabled).")
    async def retry_webhook_delivery(
        self,
        info: Info,
        input: Annotated[RetryWebhookDeliveryInput, strawberry.argument(description="It.")],
    ) -> WebhookDeliveryPayload:
        async def act(session: AsyncSession) -> WebhookDeliveryPayload:
            row = await endpoints.retry_delivery(
                session,
                clock=info.context.clock,
                delivery_id=key_of(input.delivery_id, "WebhookDelivery", "deliveryId"),
            )
            return WebhookDeliveryPayload(
                webhook_delivery=WebhookDelivery.from_model(row), user_errors=[]
            )

        return await mutate_keyed(info, WebhookDeliveryPayload, act, input)
