"""Issue 22's "done when", end to end on the production topology (an API server and a worker
on PostgreSQL): a merchant registers an endpoint through GraphQL, a customer pays on the
sandbox, and the same `payment.succeeded` event arrives signed at the merchant's receiver,
appears in `events(after:)`, on NATS JetStream and on a WebSocket subscription."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import nats
import pytest

from app.domain.clock import FrozenClock
from app.services.outbox.bus.publishers import stream_name
from app.settings import Settings
from app.worker import apply_queue_schema, run
from tests.bus.helpers import unique_name, until
from tests.events.helpers import all_events
from tests.factories import customer_with, pay
from tests.live.conftest import live, serve
from tests.webhooks_out.receiver import receiver

NATS_URL = "nats://127.0.0.1:4222"
ENDPOINT = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  webhookEndpoint { id } secret userErrors { code } } }"""
LIVE = "subscription { events(types: [PAYMENT_SUCCEEDED]) { id name objectId } }"


@pytest.mark.slow
async def test_a_payment_reaches_the_merchant_the_log_the_bus_and_the_browser(
    settings: Settings, clock: FrozenClock
) -> None:
    name = unique_name()
    production_like = Settings(
        **{
            **settings.model_dump(exclude={"event_bus_url"}),
            "event_bus_url": NATS_URL,
            "event_bus_name": name,
            "event_bus_poll_seconds": 0.2,
        }
    )
    assert await apply_queue_schema(production_like)
    bus = await nats.connect(NATS_URL)
    on_the_bus: list[dict[str, Any]] = []

    async def heard(message: Any) -> None:
        on_the_bus.append({"headers": message.headers, "body": json.loads(message.data)})

    await bus.subscribe(f"{name}.payment.succeeded", cb=heard)
    worker = asyncio.create_task(run(production_like, concurrency=2))
    try:
        with receiver() as hooks:
            async with serve(production_like, clock) as server:
                api = server.api
                created = (
                    await api.data(
                        ENDPOINT, {"i": {"url": hooks.url, "eventTypes": ["PAYMENT_SUCCEEDED"]}}
                    )
                )["createWebhookEndpoint"]
                assert created["userErrors"] == []
                async with live(server) as browser:
                    assert (await browser.init())["type"] == "connection_ack"
                    operation = await browser.subscribe(LIVE)
                    probe = await browser.subscribe("{ __typename }")  # registered after this
                    assert (await browser.next_of(probe))["type"] == "next"

                    customer = await customer_with(api, "tok_visa")
                    paid = (await pay(api, customer, "42.00"))["payment"]
                    assert paid["status"] == "SUCCEEDED"

                    streamed = (await browser.next_of(operation))["payload"]["data"]["events"]
                [logged] = await all_events(api, types=["PAYMENT_SUCCEEDED"])
                await until(lambda: bool(hooks.received) and bool(on_the_bus))
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 20)
        with contextlib.suppress(Exception):
            await bus.jetstream().delete_stream(stream_name(name))
        await bus.close()

    assert logged["objectId"] == paid["id"] and logged["data"]["status"] == "SUCCEEDED"
    [webhook] = hooks.received
    assert webhook.verifies(created["secret"])  # standardwebhooks' own verifier
    assert webhook.id == logged["id"] == streamed["id"]
    assert webhook.event["type"] == "payment.succeeded" == streamed["name"]
    assert webhook.event["data"] == logged["data"]
    [message] = on_the_bus
    assert message["headers"]["Nats-Msg-Id"] == logged["id"]
    assert message["body"] == webhook.event
