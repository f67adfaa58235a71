"""What the event bus tests share: events made through the API, the relay's cursor, the
relay as a process of its own, and a consumer's deduplication."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.models.events import OutboxCursor
from app.services.outbox.bus.relay import CURSOR
from tests.conftest import Api
from tests.events.helpers import all_events
from tests.factories import customer_with, paid_payment

ROOT = Path(__file__).resolve().parents[2]


def unique_name() -> str:
    """A subject prefix, exchange or topic of this test alone."""
    return f"paygate.test{uuid.uuid4().hex[:10]}"


async def make_events(api: Api, customers: int = 3, payments: int = 2) -> list[dict[str, Any]]:
    """Customers paying through GraphQL; the whole log, as the API shows it."""
    for _ in range(customers):
        customer = await customer_with(api)
        for _ in range(payments):
            await paid_payment(api, customer)
    return await all_events(api)


async def cursor(api: Api) -> int:
    async with api.engine.connect() as connection:
        found = await connection.scalar(
            sa.select(OutboxCursor.seq).where(OutboxCursor.name == CURSOR)
        )
    return int(found or 0)


async def until(condition: Callable[[], Awaitable[bool] | bool], seconds: float = 30) -> None:
    """Wait for ``condition`` (checked every 50 ms); fail after ``seconds``."""
    async with asyncio.timeout(seconds):
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)


@dataclass
class RelayProcess:
    process: asyncio.subprocess.Process
    log: Path

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int:
        """SIGTERM; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout=30)

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.asynccontextmanager
async def relay_process(log: Path, **env: str) -> AsyncIterator[RelayProcess]:
    """``paygate relay`` with ``env`` (``PAYGATE_…`` variables); killed if still running."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "relay", "--log-level", "debug",
            cwd=ROOT, env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
        )  # fmt: skip
    try:
        yield RelayProcess(process, log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@dataclass(frozen=True)
class Received:
    """A message as a consumer got it."""

    id: str  # the broker's message id (NATS: Nats-Msg-Id, RabbitMQ: message_id)
    headers: dict[str, str]
    body: dict[str, Any]
    subject: str  # NATS subject, RabbitMQ routing key


def deduplicated(received: list[Received]) -> list[Received]:
    """What a consumer keeps: the first message of each event id, in arrival order."""
    seen: set[str] = set()
    kept = []
    for message in received:
        if message.id not in seen:
            seen.add(message.id)
            kept.append(message)
    return kept


def assert_the_log(kept: list[Received], log: list[dict[str, Any]], name: str) -> None:
    """Every event of the log exactly once, in log order (so each object's in its order),
    each message its envelope with the id, type and sequence in its headers."""
    assert [m.body["id"] for m in kept] == [e["id"] for e in log]
    for message, event in zip(kept, log, strict=True):
        assert message.id == event["id"] == message.headers["paygate-event-id"]
        assert message.body["sequence"] == event["sequence"] == message.headers["paygate-sequence"]
        assert message.body["type"] == event["name"] == message.headers["paygate-event-type"]
        assert message.body["objectId"] == event["objectId"]
        assert message.body["data"] == event["data"]
        assert message.headers["content-type"] == "application/json"
    by_object: dict[str, list[int]] = {}
    for message in kept:
        by_object.setdefault(message.body["objectId"], []).append(int(message.body["sequence"]))
    assert all(seqs == sorted(seqs) for seqs in by_object.values())
    assert len(by_object) > 1
