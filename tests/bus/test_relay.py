"""The relay in process: the cursor stays put when the broker fails, the batch is published
again (at least once, never a gap), one relay publishes while another stands by, the worker
runs it beside the jobs, and ``paygate relay`` needs a bus."""

from __future__ import annotations

import asyncio
import contextlib

import nats
import pytest

from app.cli import main as paygate
from app.domain.clock import SystemClock
from app.observability.metrics import Metrics
from app.services.outbox.bus.publishers import BusError, Message, stream_name
from app.services.outbox.bus.relay import Relay, RelayConfig
from app.settings import Settings
from app.worker import apply_queue_schema, run
from tests.bus.helpers import cursor, make_events, unique_name, until
from tests.conftest import Api, make_settings


class FlakyBus:
    """Confirms every message, except the third one the first time it is sent."""

    kind = "fake"

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.failed = False
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1

    async def publish(self, message: Message) -> None:
        if len(self.sent) == 2 and not self.failed:
            self.failed = True
            raise BusError("not confirmed")
        self.sent.append(message)

    async def close(self) -> None:
        pass


async def test_a_failed_publish_leaves_the_cursor_and_the_batch_is_sent_again(
    api: Api, settings: Settings
) -> None:
    log = await make_events(api, customers=1, payments=2)
    bus, metrics = FlakyBus(), Metrics()
    config = RelayConfig(settings.database_url, "nats://bus", "x", batch_size=4, poll_seconds=0.05)
    relay = Relay(config, clock=SystemClock(), metrics=metrics, make_publisher=lambda *_: bus)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await until(lambda: len({m.id for m in bus.sent}) == len(log))
        await until(lambda: _cursor_is(api, int(log[-1]["sequence"])))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    ids = [m.id for m in bus.sent]
    # The first two went out, the third failed: the cursor stayed before the batch, the
    # relay reconnected (a second start) and sent the whole batch again, in order.
    assert ids[:2] == ids[2:4] == [e["id"] for e in log[:2]]
    assert list(dict.fromkeys(ids)) == [e["id"] for e in log]
    assert bus.starts == 2
    assert metrics.bus_publish_errors.labels("nats")._value.get() == 1


async def _cursor_is(api: Api, seq: int) -> bool:
    return await cursor(api) == seq


async def test_one_relay_publishes_while_another_stands_by(api: Api, settings: Settings) -> None:
    log = await make_events(api, customers=1, payments=1)
    buses = [FlakyBus(), FlakyBus()]
    for bus in buses:
        bus.failed = True  # no failure here
    stop = asyncio.Event()
    config = RelayConfig(settings.database_url, "nats://bus", "x", poll_seconds=0.05)
    tasks = [
        asyncio.create_task(
            Relay(config, clock=SystemClock(), make_publisher=lambda *_, b=bus: b).run(stop)
        )
        for bus in buses
    ]
    try:
        await until(lambda: _cursor_is(api, int(log[-1]["sequence"])))
        await asyncio.sleep(0.2)  # a few polls of the standby: it must not publish
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert sorted(len(bus.sent) for bus in buses) == [0, len(log)]


async def test_the_worker_runs_the_relay_beside_the_jobs_and_stops_it(
    api: Api, database_url: str
) -> None:
    log = await make_events(api, customers=1, payments=1)
    name = unique_name()
    settings = make_settings(
        database_url, event_bus_url="nats://127.0.0.1:4222", event_bus_name=name
    )
    assert await apply_queue_schema(settings)
    worker = asyncio.create_task(run(settings, concurrency=1))
    try:
        await until(lambda: _cursor_is(api, int(log[-1]["sequence"])))
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 20)
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "paygate-relay"]
        connection = await nats.connect("nats://127.0.0.1:4222")
        try:
            info = await connection.jetstream().stream_info(stream_name(name))
            await connection.jetstream().delete_stream(stream_name(name))
        finally:
            await connection.close()
    assert info.state.messages == len(log)


def test_paygate_relay_needs_a_bus_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PAYGATE_EVENT_BUS_URL", raising=False)
    assert paygate(["relay"]) == 2
    assert "set PAYGATE_EVENT_BUS_URL" in capsys.readouterr().err
