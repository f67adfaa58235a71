"""The relay: the log after the ``bus`` cursor, published in log order, then the cursor
advanced.

One batch at a time: read up to ``batch_size`` events after the cursor, publish them one
after the other, each confirmed by the broker before the next is sent, then move the cursor
to the last one in a transaction of its own. A crash or a broker failure before that commit
leaves the cursor where it was, and the next relay publishes the batch again: every event is
delivered at least once, none is skipped (``seq`` is the commit order, so nothing appears
behind the cursor later; ``app.services.outbox.recorder``). Consumers deduplicate by the
event's id (the transactional outbox's usual contract; README, Event bus).

Only one relay publishes at a time: on PostgreSQL it holds the session-level advisory lock
``RELAY_LOCK`` on a connection of its own for as long as it runs, and every other relay
(another worker, a second ``paygate relay``) waits as a standby, trying the lock every poll
interval; when the leader dies, its connection closes and the lock goes to a standby. The
same connection LISTENs on ``paygate_events``: a commit that wrote events wakes the relay at
once, and without a notification it looks every ``poll_seconds`` anyway. That connection
keeps session state, so behind a transaction pooler it goes to ``database_direct_url``
(PostgreSQL itself), and the relay refuses to start without one; the batches' reads and
the cursor's updates go through the pooler. On SQLite (the
embedded mode, one process) it polls. After any failure it closes the broker connection,
backs off (0.5 s doubling to 30 s) and starts again from the cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.db import make_engine, make_session_factory
from app.domain.clock import Clock
from app.models.events import OutboxCursor
from app.observability.metrics import Metrics
from app.services.outbox import log
from app.services.outbox.bus.publishers import Message, Publisher, publisher, redact
from app.services.outbox.recorder import CHANNEL
from app.settings import Settings

logger = logging.getLogger("paygate.bus")

CURSOR = "bus"  # OutboxCursor.name of the relay
RELAY_LOCK = 0x62_75_73_72_65_6C_61_79  # pg_advisory_lock key of the leader ("busrelay")
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 30.0


@dataclass(frozen=True)
class RelayConfig:
    database_url: str
    bus_url: str
    name: str
    batch_size: int = 100
    poll_seconds: float = 1.0
    throttle_seconds: float = 0.0
    # database_url goes through a transaction pooler; the leader's connection (its session
    # lock and LISTEN) then goes to leader_url, PostgreSQL itself
    transaction_pooling: bool = False
    leader_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayConfig:
        """Raises ``DirectUrlRequired`` behind a transaction pooler without a direct URL."""
        if settings.event_bus_url is None:
            raise ValueError("PAYGATE_EVENT_BUS_URL is not set")
        leader_url = settings.session_url_for("the event bus relay (its leader lock and LISTEN)")
        return cls(
            database_url=settings.database_url,
            transaction_pooling=settings.database_transaction_pooling,
            leader_url=None if leader_url == settings.database_url else leader_url,
            bus_url=settings.event_bus_url.get_secret_value(),
            name=settings.event_bus_name,
            batch_size=settings.event_bus_batch_size,
            poll_seconds=settings.event_bus_poll_seconds,
            throttle_seconds=settings.event_bus_throttle_seconds,
        )


class Relay:
    def __init__(
        self,
        config: RelayConfig,
        *,
        clock: Clock,
        metrics: Metrics | None = None,
        make_publisher: Callable[[str, str], Publisher] = publisher,
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics
        self.make_publisher = make_publisher
        self.where = redact(config.bus_url)
        self.failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set (the batch under way is finished first)."""
        config = self.config
        engine = make_engine(
            config.database_url,
            pool_size=2,
            max_overflow=0,
            transaction_pooling=config.transaction_pooling,
        )
        leaders = (
            engine
            if config.leader_url is None
            else make_engine(config.leader_url, pool_size=1, max_overflow=0)
        )
        try:
            while not stop.is_set():
                try:
                    await self._lead(engine, leaders, stop)
                except Exception as error:
                    delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2**self.failures)
                    self.failures += 1
                    self._count_error()
                    logger.warning(
                        "event bus relay to %s failed (%s); retrying in %.1f s",
                        self.where,
                        self._describe(error),
                        delay,
                    )
                    await _wait(stop, delay)
        finally:
            await engine.dispose()
            if leaders is not engine:
                await leaders.dispose()

    async def _lead(self, engine: AsyncEngine, leaders: AsyncEngine, stop: asyncio.Event) -> None:
        """Become the leader (PostgreSQL) on a connection of ``leaders``, then publish
        through ``engine`` until stopped or failed."""
        sessions = make_session_factory(engine)
        wake = asyncio.Event()
        if engine.dialect.name != "postgresql":
            await self._publish(sessions, stop, wake, None)
            return
        async with leaders.connect() as connection:
            leader = await connection.execution_options(isolation_level="AUTOCOMMIT")
            try:
                standby = False
                while not await leader.scalar(sa.select(sa.func.pg_try_advisory_lock(RELAY_LOCK))):
                    if not standby:
                        logger.info("event bus relay: another relay publishes; standing by")
                        standby = True
                    if await _wait(stop, self.config.poll_seconds):
                        return
                raw: Any = (await leader.get_raw_connection()).driver_connection
                await raw.add_listener(CHANNEL, lambda *_: wake.set())
                await self._publish(sessions, stop, wake, leader)
            finally:
                # The lock and the LISTEN belong to this connection's session: close it
                # rather than return it to the pool.
                await leader.invalidate()

    async def _publish(
        self,
        sessions: async_sessionmaker[AsyncSession],
        stop: asyncio.Event,
        wake: asyncio.Event,
        leader: AsyncConnection | None,
    ) -> None:
        bus = self.make_publisher(self.config.bus_url, self.config.name)
        try:
            await bus.start()
            logger.info("event bus relay: publishing to %s (%s)", self.where, bus.kind)
            while not stop.is_set():
                if leader is not None:  # still connected, so still the only relay
                    await leader.execute(sa.text("SELECT 1"))
                wake.clear()
                published = await self._batch(sessions, bus)
                self.failures = 0
                if published < self.config.batch_size:
                    await _wait(stop, self.config.poll_seconds, wake)
        finally:
            with contextlib.suppress(Exception):
                await bus.close()

    async def _batch(self, sessions: async_sessionmaker[AsyncSession], bus: Publisher) -> int:
        """Publish the next batch; advance the cursor past it. The number published."""
        async with sessions() as session:
            after = await self._position(session)
            events = await log.page(session, after=after, limit=self.config.batch_size)
            end = await log.last_seq(session)
        for event in events:
            await bus.publish(Message.of(event))
            if self.metrics is not None:
                self.metrics.bus_published.labels(bus.kind).inc()
            if self.config.throttle_seconds:
                await asyncio.sleep(self.config.throttle_seconds)
        position = events[-1].seq if events else after
        if events:
            async with sessions() as session:
                await session.execute(
                    sa.update(OutboxCursor)
                    .where(OutboxCursor.name == CURSOR, OutboxCursor.seq < position)
                    .values(seq=position, updated_at=self.clock.now())
                )
                await session.commit()
        if self.metrics is not None:
            self.metrics.bus_lag.set(max(0, end - position))
        return len(events)

    async def _position(self, session: AsyncSession) -> int:
        """The cursor's ``seq`` (the row made at 0, the log's start, the first time)."""
        row = await session.get(OutboxCursor, CURSOR)
        if row is None:
            session.add(OutboxCursor(name=CURSOR, seq=0, updated_at=self.clock.now()))
            await session.commit()
            return 0
        return row.seq

    def _count_error(self) -> None:
        if self.metrics is not None:
            kind = urlsplit(self.config.bus_url).scheme
            self.metrics.bus_publish_errors.labels(kind).inc()

    def _describe(self, error: BaseException) -> str:
        """The error and its causes, with the bus URL's credentials masked."""
        parts: list[str] = []
        seen: BaseException | None = error
        while seen is not None and len(parts) < 4:
            parts.append(f"{type(seen).__name__}: {seen}".rstrip(": "))
            seen = seen.__cause__ or seen.__context__
        return _mask(" <- ".join(parts), self.config.bus_url)


def _mask(text: str, url: str) -> str:
    text = text.replace(url, redact(url))
    password = urlsplit(url).password
    for secret in {password, unquote(password)} if password else ():
        text = text.replace(secret, "***")
    return text


async def _wait(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> bool:
    """Sleep ``seconds``, or less if ``stop`` (or ``wake``) is set; whether to stop."""
    waits = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    return stop.is_set()
