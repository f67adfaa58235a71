"""End to end against the real brokers (NATS JetStream at 127.0.0.1:4222, RabbitMQ at
127.0.0.1:5672): two ``paygate relay`` processes, one publishing and one standing by; the
publishing one is SIGKILLed half-way through a batch (published, not yet past its cursor)
and the other takes over. A consumer that deduplicates by event id has every event of the
log exactly once, in log order; none lost.

The relays are slowed down (``PAYGATE_EVENT_BUS_THROTTLE_SECONDS`` after each message,
batches of 5) so that the kill lands inside a batch; the test checks that it did (a message
was received past the cursor) rather than timing anything.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import nats
import pytest
import sqlalchemy as sa
from nats.aio.msg import Msg

from app.services.outbox.bus.publishers import stream_name
from app.services.outbox.bus.relay import RELAY_LOCK
from tests.bus.helpers import (
    Received,
    assert_the_log,
    cursor,
    deduplicated,
    make_events,
    relay_process,
    unique_name,
    until,
)
from tests.conftest import Api

NATS_URL = "nats://127.0.0.1:4222"
RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
BATCH = 5
KILL_AFTER = BATCH + 1  # the first message of the second batch
THROTTLE = 0.2  # seconds after each message: the kill lands before the batch's commit


def _env(database_url: str, bus_url: str, name: str) -> dict[str, str]:
    return {
        "PAYGATE_DATABASE_URL": database_url,
        "PAYGATE_EVENT_BUS_URL": bus_url,
        "PAYGATE_EVENT_BUS_NAME": name,
        "PAYGATE_EVENT_BUS_BATCH_SIZE": str(BATCH),
        "PAYGATE_EVENT_BUS_POLL_SECONDS": "0.2",
        "PAYGATE_EVENT_BUS_THROTTLE_SECONDS": str(THROTTLE),
        "PAYGATE_LOG_FORMAT": "console",
    }


async def _kill_mid_batch(
    api: Api,
    database_url: str,
    tmp_path: Path,
    bus_url: str,
    name: str,
    received: list[Received],
    log: list[dict[str, Any]],
) -> str:
    """Two relays, as two workers would run them: one publishes, the other stands by. The
    publishing one is SIGKILLed inside a batch; the other takes over from the cursor and
    publishes to the log's end. Their output."""
    env = _env(database_url, bus_url, name)
    async with contextlib.AsyncExitStack() as stack:
        # The test holds the relays' lock until both stand by (both started, one import
        # time for the two), so that the takeover, not a cold start, is what follows.
        held = await stack.enter_async_context(api.engine.connect())
        await held.execute(sa.select(sa.func.pg_advisory_lock(RELAY_LOCK)))
        relays = [
            await stack.enter_async_context(relay_process(tmp_path / f"relay{i}.log", **env))
            for i in (1, 2)
        ]
        await until(lambda: all("standing by" in r.output for r in relays), seconds=60)
        await held.execute(sa.select(sa.func.pg_advisory_unlock(RELAY_LOCK)))
        await until(lambda: len(received) >= KILL_AFTER)
        [leader] = [r for r in relays if "publishing to" in r.output]  # one publishes
        leader.kill()
        assert await leader.process.wait() == -9
        stopped_at = await cursor(api)
        assert stopped_at < max(int(m.body["sequence"]) for m in received), "not mid-batch"
        assert stopped_at < int(log[-1]["sequence"])

        [standby] = [r for r in relays if r is not leader]
        await until(lambda: _cursor_at(api, int(log[-1]["sequence"])))
        await until(lambda: len(deduplicated(received)) >= len(log))
        assert "publishing to" in standby.output  # it took over
        assert await standby.stop() == 0  # SIGTERM: a clean stop
        return leader.output + standby.output


async def _cursor_at(api: Api, seq: int) -> bool:
    return await cursor(api) == seq


# --- NATS JetStream ---------------------------------------------------------------------


@pytest.fixture
async def jetstream_name() -> AsyncIterator[str]:
    name = unique_name()
    yield name
    connection = await nats.connect(NATS_URL)
    try:
        await connection.jetstream().delete_stream(stream_name(name))
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await connection.close()


async def test_nats_jetstream_gets_every_event_once_though_the_relay_was_killed(
    api: Api, database_url: str, tmp_path: Path, jetstream_name: str
) -> None:
    log = await make_events(api)
    connection = await nats.connect(NATS_URL)
    published: list[Received] = []  # every publish, duplicates included (core NATS)

    async def watch(message: Msg) -> None:
        published.append(_from_nats(message))

    await connection.subscribe(f"{jetstream_name}.>", cb=watch)
    try:
        output = await _kill_mid_batch(
            api, database_url, tmp_path, NATS_URL, jetstream_name, published, log
        )
        # The killed relay's batch was published again, and JetStream kept one of each:
        # the Nats-Msg-Id header (the event id) within the stream's duplicate window.
        assert len(published) > len(log)
        stream = await _read_stream(connection, stream_name(jetstream_name), len(log))
    finally:
        await connection.close()
    assert [m.id for m in stream] == [m.id for m in deduplicated(stream)]
    assert_the_log(stream, log, jetstream_name)
    assert all(m.subject == f"{jetstream_name}.{m.body['type']}" for m in stream)
    assert "publishing to nats://127.0.0.1:4222" in output


def _from_nats(message: Msg) -> Received:
    headers = dict(message.headers or {})
    return Received(headers["Nats-Msg-Id"], headers, json.loads(message.data), message.subject)


async def _read_stream(connection: Any, stream: str, expected: int) -> list[Received]:
    """Every message the stream holds, in stream order (an ephemeral ordered consumer)."""
    info = await connection.jetstream().stream_info(stream)
    assert info.state.messages == expected
    subscription = await connection.jetstream().subscribe("", stream=stream, ordered_consumer=True)
    messages = [_from_nats(await subscription.next_msg(timeout=5)) for _ in range(expected)]
    await subscription.unsubscribe()
    return messages


# --- RabbitMQ ---------------------------------------------------------------------------


async def test_rabbitmq_consumer_deduplicating_by_id_gets_every_event_after_a_kill(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    log = await make_events(api)
    name = unique_name()
    connection = await aio_pika.connect(RABBIT_URL)
    received: list[Received] = []
    persistent: list[bool] = []

    async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            headers = {k: str(v) for k, v in (message.headers or {}).items()}
            headers["content-type"] = str(message.content_type)
            assert message.message_id is not None and message.routing_key is not None
            received.append(
                Received(message.message_id, headers, json.loads(message.body), message.routing_key)
            )
            persistent.append(message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT)

    try:
        channel = await connection.channel()
        # The exchange as the relay declares it; the queue bound before the relay publishes.
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"{name}.all", exclusive=True)
        await queue.bind(exchange, "#")
        await queue.consume(consume)
        try:
            output = await _kill_mid_batch(
                api, database_url, tmp_path, RABBIT_URL, name, received, log
            )
        finally:
            await queue.delete(if_unused=False, if_empty=False)
            await exchange.delete()
    finally:
        await connection.close()
    # At least once: the killed relay's batch came again, and the consumer dropped it by id.
    assert len(received) > len(log)
    kept = deduplicated(received)
    assert_the_log(kept, log, name)
    assert all(m.subject == m.body["type"] for m in kept)
    assert all(persistent)
    assert "publishing to amqp://***@127.0.0.1:5672/" in output
    assert "guest:guest" not in output
