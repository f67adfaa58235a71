"""Webhook endpoints through GraphQL, and a delivery round driven by the test's clock."""

from __future__ import annotations

from typing import Any

from app.domain.clock import SystemClock
from app.services.webhooks_out import runner
from app.services.webhooks_out.config import DeliveryConfig
from tests.conftest import Api

CREATE = """
mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    webhookEndpoint { id url eventTypes enabled disabledReason }
    secret
    userErrors { field code message }
  }
}
"""

ENDPOINT = """
query {
  webhookEndpoints(first: 10) { edges { node {
    id url enabled disabledReason failingSince eventTypes
    deliveries(first: 50) { edges { node {
      id status attempts responseCode latencyMs lastError nextAttemptAt deliveredAt
      event { id name }
    } } }
  } } }
}
"""


async def create_endpoint(
    api: Api, url: str, types: list[str], **extra: Any
) -> tuple[dict[str, Any], str]:
    payload = (await api.data(CREATE, {"input": {"url": url, "eventTypes": types, **extra}}))[
        "createWebhookEndpoint"
    ]
    assert payload["userErrors"] == [], payload
    return payload["webhookEndpoint"], payload["secret"]


async def endpoints(api: Api) -> list[dict[str, Any]]:
    data = await api.data(ENDPOINT)
    return [edge["node"] for edge in data["webhookEndpoints"]["edges"]]


async def deliveries(api: Api) -> list[dict[str, Any]]:
    found = await endpoints(api)
    return [edge["node"] for edge in found[0]["deliveries"]["edges"]]


async def deliver(api: Api, **config: Any) -> int:
    """One round of the engine in the test, on the app's database and (frozen) clock."""
    runtime = api.runtime
    base = DeliveryConfig.of(runtime.settings)
    chosen = DeliveryConfig(**{**{f: getattr(base, f) for f in base.__slots__}, **config})
    return await runner.run_round(
        runtime.sessions,
        clock=runtime.clock,
        config=chosen,
        metrics=api.app.state.observability.metrics,
        wall=SystemClock(),
    )
