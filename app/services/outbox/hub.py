"""The live hub: one per process, it follows the event log and hands each new event to the
live subscriptions that want it (``app/resolvers/live.py``).

Every API replica has its own hub, fed from the log itself, never from an in-process queue,
so a change committed through any replica (or the worker, or a webhook) reaches the
subscribers of all of them:

- on PostgreSQL a dedicated connection (not the pool's: it is held for as long as the
  process lives) runs ``LISTEN paygate_events``; each commit that writes events sends
  ``NOTIFY paygate_events`` (``recorder.CHANNEL``). A notification wakes the hub, which reads
  the log once after its cursor and dispatches what it read. Notifications carry nothing:
  the log is the truth, so a notification lost while the connection was down costs nothing
  but latency (the hub reconnects, then reads the log anyway, and also reads it every
  ``poll_seconds`` without a notification as a safety net);
- on SQLite (the embedded default: one process) it reads the log every ``poll_seconds``, and
  so it does on PostgreSQL without a LISTEN URL (``listen_url`` None: the database URL goes
  through a transaction pooler, where a LISTEN hears nothing, and no direct URL is set).

``seq`` is the log's commit order (assigned under an advisory lock at COMMIT), so reading
"after the cursor" never skips an event committed late. A subscriber's queue is bounded: one
that falls ``queue_size`` events behind is ended (``overflowed``) rather than making the hub,
or the process's memory, wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models.events import Event
from app.services.outbox import log
from app.services.outbox.recorder import CHANNEL

logger = logging.getLogger("paygate.live")

# Events read per round trip while catching up.
READ_BATCH = 500
# Longest wait between two attempts to reconnect the LISTEN connection.
MAX_BACKOFF_SECONDS = 5.0


@dataclass(eq=False)
class Subscriber:
    """One live subscription's inbox: events about ``object_id`` (any object when None)
    of ``types`` (any type when empty). A ``coalesce`` subscriber only needs to know that
    something happened (it reloads its object): a full queue already says so, and more
    events are dropped instead of ending it."""

    object_id: uuid.UUID | None
    types: frozenset[str]
    queue: asyncio.Queue[Event] = field(init=False)
    overflowed: bool = False
    size: int = 256
    coalesce: bool = False

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.size)

    def wants(self, event: Event) -> bool:
        if self.object_id is not None and event.object_id != self.object_id:
            return False
        return not self.types or event.type in self.types

    def offer(self, event: Event) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # (a full queue has a reader to wake: it will see the flag)
            self.overflowed = not self.coalesce

    async def next(self) -> Event:
        return await self.queue.get()

    def drain(self) -> list[Event]:
        """The events already waiting, without waiting."""
        taken = []
        while not self.queue.empty():
            taken.append(self.queue.get_nowait())
        return taken


def listen_dsn(url: str) -> str | None:
    """asyncpg's DSN for a SQLAlchemy PostgreSQL URL (None for SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


Connect = Callable[[str], Any]  # asyncpg.connect, or a test's stand-in


async def _asyncpg_connect(dsn: str) -> Any:
    return await asyncpg.connect(dsn)


class Hub:
    """Follows the log and dispatches to subscribers. Started by the first subscription
    (:meth:`subscribe`), stopped by :meth:`stop` (the app's shutdown)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        listen_url: str | None,
        poll_seconds: float = 0.2,
        queue_size: int = 256,
        connect: Connect = _asyncpg_connect,
    ) -> None:
        self.sessions = sessions
        self.dsn = None if listen_url is None else listen_dsn(listen_url)
        self.poll_seconds = poll_seconds
        self.queue_size = queue_size
        self.connect = connect
        self.cursor = 0
        self.subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self._listener: Any = None
        self.reads = 0  # rounds that read the log (observability, tests)

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def subscribe(
        self,
        *,
        object_id: uuid.UUID | None = None,
        types: Collection[str] = (),
        coalesce: bool = False,
    ) -> Subscriber:
        """A new subscriber, registered before it returns: it receives every event the hub
        reads from now on. Call :meth:`unsubscribe` when done."""
        await self._ensure_started()
        subscriber = Subscriber(
            object_id, frozenset(types), size=self.queue_size, coalesce=coalesce
        )
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def _ensure_started(self) -> None:
        if self._task is not None:
            return
        async with self._start_lock:
            if self._task is not None:
                return
            async with self.sessions() as session:
                self.cursor = await log.last_seq(session)
            if self.dsn is not None:
                await self._listen()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-hub")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._unlisten()

    async def _listen(self) -> None:
        """Open the LISTEN connection; on failure the hub polls until it succeeds."""
        assert self.dsn is not None
        try:
            connection = await self.connect(self.dsn)
            await connection.add_listener(CHANNEL, self._notified)
            connection.add_termination_listener(self._lost)
        except Exception as error:
            logger.warning("live hub: LISTEN %s failed (%s); polling", CHANNEL, error)
            return
        self._listener = connection
        self._wake.set()  # read what was committed while not listening

    async def _unlisten(self) -> None:
        connection, self._listener = self._listener, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.remove_termination_listener(self._lost)
                await connection.close()

    def _notified(self, *_: object) -> None:
        self._wake.set()

    def _lost(self, *_: object) -> None:
        logger.warning("live hub: the LISTEN connection dropped; reconnecting")
        self._wake.set()

    async def _run(self) -> None:
        backoff = self.poll_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._wait_seconds()):
                    await self._wake.wait()
            self._wake.clear()
            if self.dsn is not None and not self.listening:
                await self._unlisten()
                await self._listen()
                if not self.listening:
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    await asyncio.sleep(backoff)
                else:
                    backoff = self.poll_seconds
            try:
                await self.read()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("live hub: reading the event log failed; retrying")
                await asyncio.sleep(self.poll_seconds)

    def _wait_seconds(self) -> float:
        # Listening: notifications wake the hub, the timer is the safety net.
        return self.poll_seconds * (10 if self.listening else 1)

    async def read(self) -> None:
        """Read the log after the cursor, dispatch, move the cursor. With no subscriber the
        cursor just jumps to the log's end."""
        self.reads += 1
        async with self.sessions() as session:
            if not self.subscribers:
                self.cursor = max(self.cursor, await log.last_seq(session))
                return
            while True:
                events = await log.page(session, after=self.cursor, limit=READ_BATCH)
                for event in events:
                    self.cursor = event.seq
                    for subscriber in list(self.subscribers):
                        if subscriber.wants(event):
                            subscriber.offer(event)
                if len(events) < READ_BATCH:
                    return
