"""At least once, through crashes: `paygate worker` processes SIGKILLed again and again
(``WORKER_KILLS``: 2, 5 in `make test-long`) while they deliver to a slow merchant, then one
left running: every event arrives, signed, and a receiver that deduplicates by `webhook-id`
sees each exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import WORKER_KILLS, Api
from tests.events.helpers import all_events
from tests.factories import customer_with, pay
from tests.webhooks_out.receiver import Received, receiver

ROOT = Path(__file__).resolve().parents[2]
PAYMENTS = 12

CREATE = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  webhookEndpoint { id } secret userErrors { code message } } }"""


async def _worker(database_url: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PAYGATE_DATABASE_URL": database_url,
        # A killed attempt is taken again 2 s after it was claimed; retries come fast.
        "PAYGATE_WEBHOOKS__TIMEOUT_SECONDS": "1",
        "PAYGATE_WEBHOOKS__CLAIM_SECONDS": "2",
        "PAYGATE_WEBHOOKS__RETRY_BASE_SECONDS": "0.2",
        "PAYGATE_WEBHOOKS__RETRY_CAP_SECONDS": "1",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "worker", "--concurrency", "2",
        cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def _until(condition: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out (a guard, not a measure)"
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_workers_killed_during_delivery_lose_nothing(api: Api, database_url: str) -> None:
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "migrate",
        cwd=ROOT, env={**os.environ, "PAYGATE_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await migrate.wait() == 0

    def slowly(_n: int, _r: Received) -> int:
        time.sleep(0.15)  # a merchant slow enough that a kill lands mid-delivery
        return 200

    with receiver() as hooks:
        hooks.answer = slowly
        created = (
            await api.data(
                CREATE,
                {"i": {"url": hooks.url, "eventTypes": ["PAYMENT_CREATED", "PAYMENT_SUCCEEDED"]}},
            )
        )["createWebhookEndpoint"]
        assert created["userErrors"] == [], created
        secret = created["secret"]
        customer = await customer_with(api)
        for _ in range(PAYMENTS):
            assert (await pay(api, customer, "3.00"))["payment"]["status"] == "SUCCEEDED"
        expected = {
            e["id"] for e in await all_events(api, types=["PAYMENT_CREATED", "PAYMENT_SUCCEEDED"])
        }
        assert len(expected) == 2 * PAYMENTS

        for kill in range(WORKER_KILLS):
            process = await _worker(database_url)
            seen = len(hooks.received)
            try:
                await _until(lambda seen=seen: len(hooks.received) >= seen + 2)  # type: ignore[misc]
            finally:
                process.send_signal(signal.SIGKILL)
                await process.wait()
            assert process.returncode == -signal.SIGKILL, kill

        process = await _worker(database_url)
        try:
            await _until(lambda: expected <= set(hooks.ids()))
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)

    assert all(r.verifies(secret) for r in hooks.received)
    deduplicated = {r.id: r.event for r in hooks.received}
    assert set(deduplicated) == expected  # every event, none other, each once after dedup
    assert {e["type"] for e in deduplicated.values()} == {"payment.created", "payment.succeeded"}
