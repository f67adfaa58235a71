"""The Query field of webhooks to merchants: `webhookEndpoints` (admins and support)."""

from typing import Any, cast

import strawberry

from app.models import WebhookEndpoint as EndpointRow
from app.resolvers.common import Info
from app.schema.pagination import After, First
from app.schema.webhooks_out import WebhookEndpoint, WebhookEndpointConnection
from app.services import pagination
from app.services.webhooks_out import endpoints


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="Webhook endpoints, newest first.")
    async def webhook_endpoints(
        self,
        info: Info,
        first: First = None,
        after: After = None,
    ) -> WebhookEndpointConnection:
        statement = endpoints.endpoints_query()
        async with info.context.db() as session:
            page = await pagination.fetch_page(
                session, statement, cast(Any, EndpointRow.id), first=first, after=after
            )

        async def count() -> int:
            async with info.context.db() as session:
                return await pagination.count(session, statement)

        return WebhookEndpointConnection.of(
            page.items,
            WebhookEndpoint.from_model,
            more=page.has_next_page,
            after=after,
            count=count,
        )
