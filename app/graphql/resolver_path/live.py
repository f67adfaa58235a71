"""Live subscriptions over WebSocket: strawberry's graphql-transport-ws protocol
(https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md) on /graphql, with
paygate's authentication, one context per operation and the connection's limits.

- **Authentication** on ``connection_init``: its payload's ``authorization``
  (``"Bearer <API key or customer token>"``, as the HTTP header carries it), else the
  upgrade request's ``Authorization`` header, else anonymous; the same principals as HTTP
  (``app.auth``). Wrong credentials close the connection with 4403 (the protocol's
  "Forbidden"), the reason saying ``UNAUTHENTICATED`` and why.
- **Each operation** runs with its own ``RequestContext`` (strawberry shares one per
  connection), so the field policy, the query cost rules and the loaders work as for a
  query, and a waiting subscription holds no database connection.
- **Limits** (``PAYGATE_LIVE__…``): ``connection_init`` within ``init_timeout_seconds``
  (else 4408, the protocol's); at most ``max_subscriptions`` active operations (one more
  gets an ``error`` message, ``extensions.code`` ``TOO_MANY_SUBSCRIPTIONS``, and the
  connection stays open); a message over ``max_message_bytes`` closes the connection with
  1009 (RFC 6455, 7.4.1: "message too big to process"); a connection without any active
  subscription and without a message for ``idle_timeout_seconds`` is closed with 1000.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping
from json import JSONDecodeError
from typing import Any

from graphql import GraphQLError
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.fastapi import BaseContext
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.utils.aio import aclosing

from app.auth import Unauthenticated, authenticate_header
from app.context import RequestContext, Runtime
from app.domain.errors import ErrorCode
from app.security.principals import Principal
from app.settings import LiveSettings

# RFC 6455, 7.4.1
CLOSE_NORMAL = 1000
CLOSE_TOO_BIG = 1009
# graphql-transport-ws
CLOSE_FORBIDDEN = 4403
# A close reason is at most 123 bytes (RFC 6455, 5.5: a control frame's 125, less the code).
MAX_REASON = 123


class LiveConnection(BaseContext):
    """What strawberry keeps for a WebSocket connection: its caller once ``connection_init``
    authenticated it. Operations get a ``RequestContext`` of their own."""

    def __init__(self, runtime: Runtime, connection: HTTPConnection, request_id: str) -> None:
        super().__init__()
        self.runtime = runtime
        self.upgrade = connection
        self.request_id = request_id
        self.principal: Principal | None = None
        self.connection_params: dict[str, Any] = {}


def _reason(text: str) -> str:
    encoded = text.encode()[:MAX_REASON]
    return encoded.decode(errors="ignore")


async def _authenticate(connection: LiveConnection, payload: Mapping[str, Any]) -> Principal:
    """``connection_init``'s ``authorization``, else the upgrade request's header."""
    header = payload.get("authorization", payload.get("Authorization"))
    if header is not None and not isinstance(header, str):
        raise Unauthenticated("`authorization` is a string: `Bearer <credential>`.")
    upgrade = connection.upgrade
    if header is None:
        header = upgrade.headers.get("authorization")
    client = upgrade.client.host if upgrade.client else "unknown"
    return await authenticate_header(header, client, connection.runtime)


class LiveWebSocketAdapter(ASGIWebSocketAdapter):
    """strawberry's adapter, refusing a message over the connection's size limit."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        limit = self.view.live.max_message_bytes  # type: ignore[attr-defined]
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                try:
                    text = await self.ws.receive_text()
                    if len(text) > limit // 4 and len(text.encode()) > limit:
                        await self.close(CLOSE_TOO_BIG, f"Message too big: at most {limit} bytes.")
                        return
                    yield self.view.decode_json(text)
                except JSONDecodeError as e:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from e
        except KeyError as e:
            raise NonTextMessageReceived from e
        except WebSocketDisconnect:
            pass


class LiveTransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    """strawberry's graphql-transport-ws handler with paygate's authentication, a context
    per operation and the limits of ``LiveSettings``."""

    context: LiveConnection

    @property
    def live(self) -> LiveSettings:
        return self.context.runtime.settings.live

    def on_request_accepted(self) -> None:
        super().on_request_accepted()
        loop = asyncio.get_running_loop()
        self._last_message = loop.time()
        self._idle_task = loop.create_task(self._close_when_idle())
        self._idle_task.add_done_callback(self._task_done)

    async def shutdown(self) -> None:
        self._idle_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._idle_task
        await super().shutdown()

    async def _close_when_idle(self) -> None:
        loop = asyncio.get_running_loop()
        idle = self.live.idle_timeout_seconds
        while True:
            await asyncio.sleep(max(0.05, self._last_message + idle - loop.time()))
            if not self.operations and loop.time() - self._last_message >= idle:
                seconds = f"{idle:g}"
                await self.websocket.close(
                    CLOSE_NORMAL, f"Idle timeout: no subscription for {seconds} s."
                )
                return
            if self.operations:
                self._last_message = loop.time()

    async def handle_message(self, message: Message) -> None:
        self._last_message = asyncio.get_running_loop().time()
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if not self.connection_init_received and isinstance(payload, dict):
            try:
                self.context.principal = await _authenticate(self.context, payload)
            except Unauthenticated as error:
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                self.connection_init_received = True
                reason = _reason(f"UNAUTHENTICATED: {error}")
                await self.websocket.close(code=CLOSE_FORBIDDEN, reason=reason)
                return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = self.live.max_subscriptions
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            error = GraphQLError(
                f"At most {limit} active subscriptions per connection: complete one "
                "first, or open another connection.",
                extensions={"code": ErrorCode.TOO_MANY_SUBSCRIPTIONS.value, "limit": limit},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Any, None]) -> None:
        """strawberry's ``run_operation``, with a ``RequestContext`` for the operation
        (closed when it ends) instead of the connection's shared context."""
        connection = self.context
        assert connection.principal is not None  # acknowledged: authenticated
        context = RequestContext(
            connection.runtime, f"{connection.request_id}:{operation.id}"[:80],
            connection.principal,
        )  # fmt: skip
        context.over_websocket = True
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message(
                CompleteMessage(id=operation.id, type="complete")
            )
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise
        finally:
            await context.close()
