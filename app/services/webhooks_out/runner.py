"""Running the engine: one round (fan out, then send what is due), and the loop that runs
rounds in the API process on the embedded SQLite default, where no worker runs.

The worker (``app.worker.deliver_webhooks``) runs rounds on PostgreSQL. Rounds are safe to
run at once in several processes: fan-out skips an endpoint another process holds, claims
skip deliveries another holds (``SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock, SystemClock
from app.services.webhooks_out import delivery, fanout
from app.services.webhooks_out.config import DeliveryConfig, DeliveryMetrics, NoMetrics

logger = logging.getLogger("paygate.webhooks_out")

Sessions = Callable[[], AsyncSession]


async def run_round(
    sessions: Sessions,
    *,
    clock: Clock,
    config: DeliveryConfig,
    metrics: DeliveryMetrics | None = None,
    wall: Clock | None = None,
    client: httpx.AsyncClient | None = None,
) -> int:
    """Fan out, then claim and send due deliveries until none is due; returns how many
    attempts were made."""
    metrics = metrics or NoMetrics()
    wall = wall or SystemClock()
    async with sessions() as session:
        await fanout.fan_out(session, clock=clock)
    own = client is None
    http = client or httpx.AsyncClient(follow_redirects=False)
    limit = asyncio.Semaphore(config.concurrency)
    made = 0

    async def one(attempt: delivery.Attempt) -> None:
        async with limit:
            outcome = await delivery.send(http, attempt, config=config, wall=wall)
        async with sessions() as session:
            await delivery.settle(
                session, attempt, outcome, clock=clock, wall=wall, config=config, metrics=metrics
            )

    try:
        while True:
            async with sessions() as session:
                attempts = await delivery.claim(session, clock=clock, config=config)
            if not attempts:
                return made
            made += len(attempts)
            await asyncio.gather(*(one(a) for a in attempts))
    finally:
        if own:
            await http.aclose()


class DeliveryLoop:
    """Rounds every ``interval`` seconds in this process, until stopped."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        clock: Clock,
        config: DeliveryConfig,
        metrics: DeliveryMetrics | None = None,
        interval: float = 1.0,
    ) -> None:
        self._sessions, self._clock, self._config = sessions, clock, config
        self._metrics = metrics
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._forever(), name="webhook-deliveries")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            try:
                await run_round(
                    self._sessions, clock=self._clock, config=self._config, metrics=self._metrics
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("a webhook delivery round failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
