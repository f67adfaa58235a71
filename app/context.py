"""Per-request context: the database session, DataLoaders, clock and request id.

Sibling resolvers run concurrently but an ``AsyncSession`` allows one operation at a time,
so every use of the request's session goes through :meth:`RequestContext.db`, which
serialises access. Never call a DataLoader while holding it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from strawberry.fastapi import BaseContext

from app.domain.clock import Clock
from app.loaders import Loaders
from app.psp.registry import PspRegistry
from app.settings import Settings


@dataclass(frozen=True)
class Runtime:
    """What lives for the whole process: settings, engine, session factory, clock."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    psps: PspRegistry


class RequestContext(BaseContext):
    def __init__(self, runtime: Runtime, request_id: str) -> None:
        super().__init__()
        self.runtime = runtime
        self.request_id = request_id
        # Who is calling: scopes idempotency keys. One shared scope until authentication.
        self.principal = "public"
        self.clock = runtime.clock
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self.loaders = Loaders(self.db)

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """The request's session, for one resolver or one loader batch at a time."""
        async with self._lock:
            if self._closed:
                raise RuntimeError("the request is over; its session is closed")
            if self._session is None:
                self._session = self.runtime.sessions()
            try:
                yield self._session
            except BaseException:
                await self._session.rollback()
                raise

    async def close(self) -> None:
        """Close the session once no resolver uses it. One may still be running when the
        response is complete: GraphQL does not cancel the siblings of a field that failed
        (a bad cursor, an invalid ID among ``nodes``), and closing the session under a
        running statement fails the request after its answer was made."""
        async with self._lock:
            self._closed = True
            if self._session is not None:
                await self._session.close()
                self._session = None
