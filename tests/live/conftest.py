"""A real server (uvicorn in the test's event loop, on a free port) and a WebSocket client
speaking graphql-transport-ws (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md)
with the ``websockets`` package. Timeouts here only guard against a hang: no assertion is
about time."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.domain.clock import FrozenClock
from app.main import create_app
from app.settings import Settings
from tests.conftest import Api, StatementLog

# A failure guard: a message that should come and does not fails the test after this long.
GUARD_SECONDS = 10.0


@dataclass
class Server:
    """One app instance (a replica) serving HTTP and WebSocket."""

    app: Any
    port: int
    api: Api

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


@asynccontextmanager
async def serve(
    settings: Settings, clock: FrozenClock, authorization: str | None = None
) -> AsyncIterator[Server]:
    """``create_app(settings)`` served by uvicorn on a free port, with an HTTP client
    (``authorization``: its default credentials)."""
    app = create_app(settings, clock=clock)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    async with asyncio.timeout(GUARD_SECONDS):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    headers = {} if authorization is None else {"authorization": authorization}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=GUARD_SECONDS
        ) as http:
            yield Server(app, port, Api(http=http, sql=StatementLog(), app=app))
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, GUARD_SECONDS)


@pytest.fixture
async def server(settings: Settings, clock: FrozenClock) -> AsyncIterator[Server]:
    async with serve(settings, clock) as running:
        yield running


@dataclass
class LiveClient:
    """One graphql-transport-ws connection."""

    socket: ClientConnection
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    held: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        async with asyncio.timeout(GUARD_SECONDS):
            message: dict[str, Any] = json.loads(await self.socket.recv())
        return message

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload or {}})
        return await self.receive()

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        operation = str(next(self.ids))
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation, "type": "subscribe", "payload": payload})
        return operation

    async def next_of(self, operation: str) -> dict[str, Any]:
        """The next message about ``operation`` (``next``, ``error`` or ``complete``). The
        operations of a connection run concurrently: another's messages that arrive first
        are kept for it, not dropped."""
        kept = self.held.setdefault(operation, [])
        if kept:
            return kept.pop(0)
        while True:
            message = await self.receive()
            if message.get("id") == operation:
                return message
            self.held.setdefault(str(message.get("id")), []).append(message)

    async def closed(self) -> tuple[int, str]:
        """Wait for the server to close: its code and reason."""
        async with asyncio.timeout(GUARD_SECONDS):
            try:
                while True:
                    await self.socket.recv()
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code, closed.rcvd.reason


@asynccontextmanager
async def live(
    server: Server, *, headers: dict[str, str] | None = None, **options: Any
) -> AsyncIterator[LiveClient]:
    async with connect(
        server.ws_url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers=headers or {},
        open_timeout=GUARD_SECONDS,
        **options,
    ) as socket:
        yield LiveClient(socket)
