"""The Kafka wiring, in memory (faststream's TestKafkaBroker: no Kafka broker runs here):
the relay publishes every event of the log to the topic, keyed by the object's id, the
envelope as the body, its id, type and sequence in the headers, then advances its cursor."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from faststream.kafka import KafkaMessage, TestKafkaBroker

from app.domain.clock import SystemClock
from app.observability.metrics import Metrics
from app.services.outbox.bus.publishers import KafkaPublisher, broker_kind, publisher, redact
from app.services.outbox.bus.relay import Relay, RelayConfig
from app.settings import Settings
from tests.bus.helpers import Received, assert_the_log, cursor, make_events, unique_name, until
from tests.conftest import Api

URL = "kafka://kafka-1:9092,kafka-2:9092"


async def test_the_relay_publishes_the_log_to_a_kafka_topic_keyed_by_object(
    api: Api, settings: Settings
) -> None:
    log = await make_events(api)
    topic = unique_name()
    kafka = KafkaPublisher(URL, topic)
    got: list[tuple[bytes, Received]] = []

    @kafka.broker.subscriber(topic)
    async def consume(_: Any, message: KafkaMessage) -> None:
        record: Any = message.raw_message
        headers = {name: value.decode() for name, value in record.headers}
        body = json.loads(message.body)  # the bytes sent, not faststream's decoding
        got.append((record.key, Received(headers["paygate-event-id"], headers, body, topic)))

    metrics = Metrics()
    config = RelayConfig(settings.database_url, URL, topic, batch_size=4, poll_seconds=0.05)
    relay = Relay(config, clock=SystemClock(), metrics=metrics, make_publisher=lambda *_: kafka)
    async with TestKafkaBroker(kafka.broker):
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await until(lambda: len(got) >= len(log))
            await until(lambda: _at(api, int(log[-1]["sequence"])))
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)

    assert_the_log([message for _, message in got], log, topic)
    assert [key for key, _ in got] == [m.body["objectId"].encode() for _, m in got]
    assert metrics.bus_published.labels("kafka")._value.get() == len(log)
    assert metrics.bus_lag._value.get() == 0
    # the API's /metrics reads the relay's position from the database: no lag
    scraped = (await api.http.get("/metrics")).text
    end = float(log[-1]["sequence"])
    assert f"paygate_event_bus_cursor {end}" in scraped
    assert f"paygate_event_log_sequence {end}" in scraped


async def _at(api: Api, seq: int) -> bool:
    return await cursor(api) == seq


def test_the_kafka_producer_waits_for_every_replica_and_is_idempotent() -> None:
    kafka = KafkaPublisher(URL, "paygate.events")
    options = kafka.broker._connection_kwargs
    assert options["bootstrap_servers"] == ["kafka-1:9092", "kafka-2:9092"]
    assert options["acks"] == "all"
    assert options["enable_idempotence"] is True


def test_urls_name_their_broker_and_are_logged_without_credentials() -> None:
    assert [broker_kind(u) for u in ("nats://h:4222", "amqps://u:p@h/v", URL)] == [
        "nats",
        "rabbitmq",
        "kafka",
    ]
    assert (
        redact("amqps://paygate:s3cret@mq.internal:5671/prod")
        == "amqps://***@mq.internal:5671/prod"
    )
    assert publisher("tls://nats.internal:4222", "paygate.events").kind == "nats"
    shown = Settings(event_bus_url="amqp://paygate:s3cret@mq/")
    assert "s3cret" not in repr(shown) and "s3cret" not in str(shown.model_dump())
