"""Per-request context: the principal, the database session, DataLoaders, clock and request
id.

Sibling resolvers run concurrently but an ``AsyncSession`` allows one operation at a time,
so every use of the request's session goes through :meth:`RequestContext.db`, which
serialises access. Never call a DataLoader while holding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import PoolProxiedConnection
from strawberry.fastapi import BaseContext

from app.domain.clock import Clock
from app.graphql.read.loaders import Loaders
from app.graphql.read.records import ReadSource, session_source
from app.psp.registry import PspRegistry
from app.security.policy import PolicyCheck
from app.security.principals import Principal
from app.security.query_gate import QueryGate
from app.security.ratelimit import RateLimits
from app.security.tokens import TokenVerifier
from app.services.api_keys import KeyAuthenticator
from app.services.outbox.hub import Hub
from app.settings import Settings

logger = logging.getLogger("paygate.transactions")


@dataclass(frozen=True)
class Runtime:
    """What lives for the whole process: settings, engine, session factory, clock."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    psps: PspRegistry
    keys: KeyAuthenticator
    tokens: TokenVerifier
    limits: RateLimits
    policy: PolicyCheck
    # The audit log writes through its own small pool: a mutation holding its request's
    # connection must never wait for another connection of the same pool to audit itself.
    audit_engine: AsyncEngine
    audit_sessions: async_sessionmaker[AsyncSession]
    # One per connection the pool can lend (its size and overflow): a request takes one
    # before its first statement and gives it back when it is done with the connection, so
    # requests get connections in arrival order. The pool's own queue lets a newcomer take a
    # connection that a waiter was woken for: under load some requests then waited seconds
    # while others passed (customers_list at 50 connections: p50 37 ms, p99 5.5 s).
    connection_slots: asyncio.Semaphore
    # What a request may cost and how long a query may take, on either path.
    gate: QueryGate
    # Follows the event log for the live subscriptions (started by the first one).
    hub: Hub

    async def dispose(self) -> None:
        await self.hub.stop()
        await self.engine.dispose()
        await self.audit_engine.dispose()


# Tasks cancelling abandoned statements on the server, kept until done.
_BACKGROUND: set[asyncio.Task[None]] = set()


async def _cancelled_on_server(driver: Any) -> None:
    """Wait (a little) for the cancel request of a statement whose task was cancelled.
    asyncpg sends PostgreSQL's CancelRequest from a task of its own, which needs the
    connection's backend key: a connection invalidated before that task ran would leave its
    statement running on the server until it ends, holding a server process. (The tasks are
    asyncpg's ``_cancellations``; without them, nothing to wait for.)"""
    pending = [t for t in getattr(driver, "_cancellations", ()) if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=2)


class RequestContext(BaseContext):
    def __init__(self, runtime: Runtime, request_id: str, principal: Principal) -> None:
        super().__init__()
        self.runtime = runtime
        self.request_id = request_id
        # Who is calling: decides access, and scopes idempotency keys and rate limits.
        self.principal = principal
        self.clock = runtime.clock
        self._session: AsyncSession | None = None
        # A pooled connection checked out for the loaders' reads while the request has no
        # session: a request that only reads (most queries) never makes one.
        self._reader: PoolProxiedConnection | None = None
        self._slot = False  # holds one of runtime.connection_slots
        self._lock = asyncio.Lock()
        # The task using the session or reader (holding the lock): a loader batch runs in a
        # task of its own, which the request's time limit would not cancel (``abandon``).
        self._user: asyncio.Task[Any] | None = None
        self._closed = False
        # The operation never started executing (its variables could not be coerced): a
        # GraphQL request error, as parsing and validation failures are.
        self.request_error = False
        # A live subscription's operation (graphql-transport-ws), not an HTTP request.
        self.over_websocket = False
        self.loaders = Loaders(self.db, self.reads, clock=runtime.clock)

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """The request's session, for one resolver or one loader batch at a time."""
        async with self._lock:
            session = await self._open_session()
            self._user = asyncio.current_task()
            try:
                yield session
            except BaseException:
                await self._discard_on_error()
                raise
            finally:
                self._user = None

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[ReadSource]:
        """Where a loader batch reads its records (``app.graphql.read.records``), one batch
        at a time: the session's connection once the request has a session (its
        transaction: the reads see its writes); before that, on PostgreSQL, a pooled
        connection of its own, without a session's set-up and tear-down (~0.1 ms per
        request), given back to the pool when the request ends or makes its session (which
        the request's slot then holds). Its reads run outside any transaction, as the
        session's own reads on the driver do until it writes."""
        async with self._lock:
            self._user = asyncio.current_task()
            try:
                engine = self.runtime.engine
                if self._session is None and engine.dialect.driver == "asyncpg":
                    self._check_open()
                    if self._reader is None:
                        await self._take_slot()
                        self._reader = await engine.raw_connection()
                    try:
                        yield ReadSource(engine.dialect, None, self._reader.driver_connection)
                    except BaseException:
                        # It may be mid-statement (a cancelled batch): never back to the pool.
                        reader, self._reader = self._reader, None
                        if reader is not None:
                            await _cancelled_on_server(reader.driver_connection)
                            with contextlib.suppress(Exception):
                                reader.invalidate()
                        raise
                    return
                session = await self._open_session()
                try:
                    yield await session_source(session)
                except BaseException:
                    await self._discard_on_error()
                    raise
            finally:
                self._user = None

    def abandon(self) -> None:
        """The request ran out of time: cancel the task running a statement for it, if it
        is not the request's own (a loader batch), so that the statement is cancelled on
        the server and its connection goes back to the pool now, not when it ends."""
        user = self._user
        if user is None or user is asyncio.current_task() or user.done():
            return
        busy = self._session_driver()
        pid = busy.get_server_pid() if busy is not None else None  # before it can close
        if self.runtime.settings.database_transaction_pooling:
            # The pid is the pooler's stand-in (PgBouncer's cancel key), not a server
            # process's: pg_cancel_backend could hit another one. asyncpg's own cancel
            # request, which the pooler forwards, is the only one sent.
            pid = None
        user.cancel()
        if pid is not None:
            task = asyncio.get_running_loop().create_task(self._cancel_on_server(user, busy, pid))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)

    def _session_driver(self) -> Any:
        """The driver connection of the session's transaction (PostgreSQL), if it has one."""
        session = self._session
        if session is None or self.runtime.engine.dialect.driver != "asyncpg":
            return None
        transaction = session.sync_session.get_transaction()
        for entry in getattr(transaction, "_connections", {}).values():
            with contextlib.suppress(Exception):
                return entry[0].connection.driver_connection
        return None

    async def _cancel_on_server(self, user: asyncio.Task[Any], driver: Any, pid: int) -> None:
        """When the cancelled task's session gave its connection up (SQLAlchemy invalidates
        a connection whose statement was interrupted, before asyncpg could send PostgreSQL
        its cancel request), the statement would run on until it ends: cancel it by the
        server process's id. Only then: a connection still open may already run another
        request's statement."""
        await asyncio.wait({user}, timeout=2)
        if not driver.is_closed():
            return
        with contextlib.suppress(Exception):
            async with self.runtime.audit_engine.connect() as connection:
                await connection.execute(sa.text("SELECT pg_cancel_backend(:pid)"), {"pid": pid})

    async def end_write_transaction(self, operation: str) -> None:
        """Roll back a write transaction a mutation left open on SQLite, where it holds the
        database's one write lock: the mutation's audit entry (written through another
        connection next) would wait for it until the busy timeout. A service must commit or
        roll back before it returns; this is the net, and it says so. (PostgreSQL: nothing
        to do; row locks block no audit entry, and the session's close rolls back; except
        behind a transaction pooler, :meth:`_end_pooled_transaction`.)"""
        session = self._session
        if session is None or not session.in_transaction():
            return
        if self.runtime.engine.dialect.name != "sqlite":
            if self.runtime.settings.database_transaction_pooling:
                await self._end_pooled_transaction(operation)
            return
        async with self._lock:
            connection = await session.connection()
            raw = await connection.get_raw_connection()
            if raw.driver_connection is not None and raw.driver_connection.in_transaction:
                logger.warning(
                    "%s returned with a write transaction open: rolled back (a bug: the "
                    "service must commit or roll back)",
                    operation,
                )
                await session.rollback()

    async def _end_pooled_transaction(self, operation: str, *, failed: bool = False) -> None:
        """Behind a transaction pooler, an open transaction holds one of its few server
        connections: one left open by the reads after a mutation's last commit (a replayed
        result, the payload's objects) while the audit entry waits for another connection
        deadlocks once every server connection is held so (a hundred concurrent duplicates
        of a refund through a pool of three did). End it first: committed when it only read
        (the loaded objects stay, ``expire_on_commit`` is off), else rolled back with a
        warning, as on SQLite; after a failure, rolled back."""
        async with self._lock:
            session = self._session
            if session is None or not session.in_transaction():
                return
            if failed:
                await self._discard_on_error()
                return
            written = await session.scalar(
                sa.text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
            )
            if not written:
                await session.commit()
                return
            logger.warning(
                "%s returned with a write transaction open: rolled back (a bug: the "
                "service must commit or roll back)",
                operation,
            )
            await session.rollback()

    async def end_failed_transaction(self, operation: str) -> None:
        """After a mutation failed, behind a transaction pooler: its transaction ends before
        its audit entry is written (:meth:`_end_pooled_transaction`)."""
        if self._session is not None and self.runtime.settings.database_transaction_pooling:
            await self._end_pooled_transaction(operation, failed=True)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the request is over; its session is closed")

    async def _open_session(self) -> AsyncSession:
        """The request's session, made on first use (the lock held)."""
        self._check_open()
        if self._session is None:
            await self._take_slot()
            self._return_reader()  # one connection at a time per request
            self._session = self.runtime.sessions()
        return self._session

    async def _take_slot(self) -> None:
        if not self._slot:
            await self.runtime.connection_slots.acquire()
            self._slot = True

    def _return_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.close()
            except Exception:
                with contextlib.suppress(Exception):
                    reader.invalidate()

    async def _discard_on_error(self) -> None:
        """Roll back after a failure. A statement cancelled mid-flight (graphql-core cancels
        sibling resolvers when one fails) leaves its connection unusable: then the session
        is invalidated instead, and the original error is the one that surfaces."""
        session = self._session
        if session is None:
            return
        try:
            await session.rollback()
        except Exception:
            self._session = None
            with contextlib.suppress(Exception):
                await session.invalidate()

    async def rest(self) -> None:
        """Between two results of a live subscription: give the connection (and its slot)
        back and forget what the loaders loaded, so that the next result reads the rows
        afresh and a waiting subscription holds no connection. The next use opens another."""
        async with self._lock:
            await self._give_back()

    async def close(self) -> None:
        """Close the session once no resolver uses it. One may still be running when the
        response is complete: GraphQL does not cancel the siblings of a field that failed
        (a bad cursor, an invalid ID among ``nodes``), and closing the session under a
        running statement fails the request after its answer was made."""
        async with self._lock:
            self._closed = True
            await self._give_back()

    async def _give_back(self) -> None:
        """Release the loaders, close the session or reader, free the slot (lock held)."""
        self.loaders.release()
        session, self._session = self._session, None
        try:
            self._return_reader()
            if session is not None:
                try:
                    await session.close()
                except Exception:
                    with contextlib.suppress(Exception):
                        await session.invalidate()
        finally:
            if self._slot:
                self._slot = False
                self.runtime.connection_slots.release()
