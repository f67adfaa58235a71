"""POST /graphql: the one GraphQL endpoint, in front of the whole application.

The endpoint is the outermost ASGI layer but for the request id, CORS and tracing. It
negotiates the answer's media type (``app.graphql.http``), reads the body and finds the
trusted document it names, if any (``documentId``, Apollo's persisted-query hash, or the
exact text as ``query``). Then it authenticates the caller, once, and hands the operation
to one of the two paths:

- the **compiled path** (``app.graphql.compiled_path``), when the document's plan compiled
  and takes the request: one SQL statement writes the answer, ``{"data": <JSON>}``, with
  the latency metrics and the request's log line, and nothing else (no Starlette
  middleware, no router, no GraphQL execution, no Python object per field);
- the **resolver path** (``app.graphql.resolver_path``) for every other single operation
  (a document sent by id goes as its text), and for whatever the plan does not answer
  itself (a malformed or foreign ID, an out-of-range size, a refused field): errors are
  the resolver path's, exactly.

The rest (batches, other content types, streamed answers, GraphiQL, other routes) goes to
the application unchanged, where strawberry's view (:func:`mount_view`) serves /graphql
through the resolver path, with the same authentication (:func:`authenticate_once`).

With ``PAYGATE_TRUSTED_DOCUMENTS_ONLY`` an unregistered document is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from time import perf_counter
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry import Schema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from app.auth import Unauthenticated, authenticate, unauthenticated_response
from app.context import RequestContext, Runtime
from app.graphql.compiled_path.compiler import FallThrough, Plan
from app.graphql.compiled_path.handler import CompiledPath, Refused, TrustedDocuments
from app.graphql.compiled_path.registry import TrustedDocument
from app.graphql.http import (
    CONTENT_TYPES,
    GRAPHQL_RESPONSE_JSON,
    JSON,
    Answer,
    NotAcceptable,
    accept_header,
    request_error_body,
    response_media_type,
    well_formed,
)
from app.graphql.resolver_path.handler import ResolverPath, takes
from app.graphql.resolver_path.live import LiveConnection
from app.graphql.resolver_path.view import PaygateGraphQLRouter
from app.observability.http import RequestObservation, request_id_of, write_request_line
from app.observability.logs import request_logger
from app.observability.metrics import Metrics, operation_label
from app.security.principals import Principal

logger = logging.getLogger("paygate.trusted")

NOT_TRUSTED = "DOCUMENT_NOT_TRUSTED"
UNKNOWN_DOCUMENT = "DOCUMENT_NOT_FOUND"


async def authenticate_once(scope: Scope, runtime: Runtime) -> Principal:
    """The request's caller (``app.auth``), authenticated on first use and kept in the
    request's state: whichever path or view serves the request, its credentials are
    verified once. Raises ``Unauthenticated`` for wrong credentials."""
    state = scope["state"]
    principal: Principal | None = state.get("principal")
    if principal is None:
        principal = state["principal"] = await authenticate(Request(scope), runtime)
    return principal


def _holds_float(value: Any) -> bool:
    """Whether a float is anywhere in ``value`` (parsed JSON): walked without recursion,
    strings and other leaves skipped by type (a scan of the raw body for long runs of
    digits cost ~2 % of a page request)."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is float:
            return True
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
    return False


class _NoCaller(Exception):
    """Authentication gave no caller: ``error`` is ``Unauthenticated`` (wrong credentials)
    or what failed while verifying them."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _not_acceptable() -> Answer:
    message = (
        "paygate answers in application/graphql-response+json or application/json: "
        "accept one of them."
    )
    return Answer(406, request_error_body(message, "NOT_ACCEPTABLE"))


def _without_data(body: bytes) -> bytes:
    answer = orjson.loads(body)
    answer.pop("data", None)
    return orjson.dumps(answer)


def _error(message: str, code: str, status: int = 200) -> Answer:
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return Answer(status, json.dumps(body).encode())


class GraphQLEndpoint:
    """The outermost layer: single operations answered here by one of the two paths, the
    rest passed to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Runtime,
        documents: TrustedDocuments,
        only: bool,
        metrics: Metrics | None,
        request_log: bool,
        resolvers: ResolverPath | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.documents = documents
        self.compiled = CompiledPath(runtime, metrics)
        # The other single operations (None: all of them go to ``app``).
        self.resolvers = resolvers
        self.only = only
        self.metrics = metrics
        self.request_log = request_log
        self.logger = request_logger()
        self.http_seconds = {
            family: metrics.http_duration.labels("POST", "/graphql", family)
            for family in ("2xx", "4xx", "5xx")
        } if metrics is not None else {}  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
                break
        try:
            media = response_media_type(accept_header(scope["headers"]))
        except NotAcceptable:
            await self._answer(scope, send, started, _not_acceptable(), None, JSON)
            return
        if media is None:  # a streamed answer: strawberry's view
            await self.app(scope, receive, send)
            return
        if not content_type.startswith(b"application/json"):
            if self.only:
                message = "Send a trusted document as JSON."
                await self._answer(scope, send, started, _error(message, NOT_TRUSTED), None, media)
                return
            await self.app(scope, receive, send)
            return
        raw = await _read_body(receive)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None  # the view reads it, with ``json``
            if media == GRAPHQL_RESPONSE_JSON:
                invalid = Answer(
                    400, request_error_body("The body is not valid JSON.", "BAD_REQUEST")
                )
                await self._answer(scope, send, started, invalid, None, media)
                return
        else:
            if _holds_float(body):  # orjson makes an integer beyond 64 bits a float:
                body = json.loads(raw)  # ``json`` keeps it exact, as the view's reading
        answer: Answer | None = None
        plan: Plan | None = None
        if isinstance(body, dict):
            try:
                answer, operation, plan = await self._single(scope, body)
                if answer is None and self.resolvers is not None and takes(scope, operation):
                    principal = await self._caller(scope)
                    await self.resolvers(scope, operation, principal, receive, send, media)
                    return
            except _NoCaller as refused:
                error = refused.error
                if not isinstance(error, Unauthenticated):
                    # Verifying the credentials failed: as Starlette's ServerErrorMiddleware,
                    # a plain 500 (inside the request id's middleware, so it carries the
                    # id), the error raised on for the server to log.
                    await self._fail(scope, receive, send, started, error)
                    raise error from None
                response = unauthenticated_response(error, scope["state"]["request_id"])
                await self._answer(
                    scope, send, started, Answer(401, bytes(response.body)), None, JSON
                )
                return
            if answer is None and media == GRAPHQL_RESPONSE_JSON:
                reason = well_formed(operation) or "Send one operation as a JSON object."
                answer = Answer(400, request_error_body(reason, "BAD_REQUEST"))
            if operation is not body:
                raw = json.dumps(operation).encode()
        elif isinstance(body, list):
            answer, raw = self._batch(body, raw)
        elif media == GRAPHQL_RESPONSE_JSON:
            reason = "The body is a JSON object with the request's parameters."
            answer = Answer(400, request_error_body(reason, "BAD_REQUEST"))
        if answer is not None:
            await self._answer(scope, send, started, answer, plan, media)
            return
        await self.app(scope, _replay(raw, receive), send)

    async def _caller(self, scope: Scope) -> Principal:
        """The request's caller (:func:`authenticate_once`); :class:`_NoCaller` if none."""
        try:
            return await authenticate_once(scope, self.runtime)
        except Exception as error:
            raise _NoCaller(error) from error

    async def _single(
        self, scope: Scope, body: dict[str, Any]
    ) -> tuple[Answer | None, dict[str, Any], Plan | None]:
        """The answer (and the plan that made it), or None and the operation for the
        resolver path (``body``, or ``body`` with the document's text for its id)."""
        document, unknown = self.documents.find(body)
        if unknown:
            if "documentId" not in body:  # Apollo's automatic persisted queries: the client
                # sends the text next (refused with PAYGATE_TRUSTED_DOCUMENTS_ONLY)
                return _error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND"), body, None
            message = "No trusted document has this documentId."
            return _error(message, UNKNOWN_DOCUMENT), body, None
        if document is None:
            if self.only:
                message = (
                    "Only trusted (registered) documents are accepted here: send "
                    '{"documentId": "sha256:<hex>", "variables": {...}}.'
                )
                return _error(message, NOT_TRUSTED), body, None
            return None, body, None
        plan = self.documents.plans.get(document.sha256)
        if plan is not None and self.compiled.takes(plan, body):
            principal = await self._caller(scope)
            try:
                return await self.compiled(plan, body, principal), body, plan
            except FallThrough:
                pass
            except Refused as refused:  # logged with its error code, as the resolver path's
                return refused.answer, body, None
            except Exception:  # the resolver path answers, and reports what it meets
                logger.exception("compiled plan of %s failed", document.name)
        if body.get("query") == document.text:
            return None, body, None
        return None, _as_text(body, document), None

    def _batch(self, body: list[Any], raw: bytes) -> tuple[Answer | None, bytes]:
        """A batch goes to the view (never compiled), its documents sent by id as text."""
        if not body or not all(isinstance(item, dict) for item in body):
            # (strawberry's view failed with a 500 on a batch item that is not an object)
            reason = "A batch is a non-empty JSON array of operations, each a JSON object."
            return Answer(400, request_error_body(reason, "BAD_REQUEST")), raw
        items = []
        for item in body:
            found, unknown = self.documents.find(item) if isinstance(item, dict) else (None, False)
            if unknown:
                return _error("No trusted document has this documentId.", UNKNOWN_DOCUMENT), raw
            if found is None and self.only:
                return _error("Batches may hold trusted documents only.", NOT_TRUSTED), raw
            items.append(item if found is None else _as_text(item, found))
        if all(a is b for a, b in zip(items, body, strict=True)):
            return None, raw
        return None, json.dumps(items).encode()

    async def _answer(
        self,
        scope: Scope,
        send: Send,
        started: float,
        answer: Answer,
        plan: Plan | None,
        media: str,
    ) -> None:
        """Send the answer (``RequestIdMiddleware``, outside, adds the request id), then
        record its latency and log line. Under ``application/graphql-response+json`` a
        refusal made here (no document executed) is a request error: 400, no ``data``."""
        state = scope["state"]
        request_id = state["request_id"]  # set by RequestIdMiddleware, outside
        status, body = answer
        if media == GRAPHQL_RESPONSE_JSON and status == 200 and plan is None:
            status, body = 400, _without_data(body)
        headers = [
            (b"content-type", CONTENT_TYPES[media]),
            (b"content-length", str(len(body)).encode()),
        ]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="paygate"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        seconds = perf_counter() - started
        if self.metrics is not None:
            self.http_seconds["2xx" if status < 300 else "4xx"].observe(seconds)
        if self.request_log:
            observation = RequestObservation(self.metrics, principal=state.get("principal"))
            if plan is not None:
                observation.operation = operation_label(plan.operation_name)
                observation.operation_type = "query"
            elif status in (200, 400, 406):
                observation.error_codes.append(_code(body))
            write_request_line(
                self.logger, "POST", "/graphql", status, seconds, observation,
                request_id=request_id,
            )  # fmt: skip

    async def _fail(
        self, scope: Scope, receive: Receive, send: Send, started: float, error: Exception
    ) -> None:
        """A plain 500, with its latency and log line."""
        await PlainTextResponse("Internal Server Error", 500)(scope, receive, send)
        seconds = perf_counter() - started
        if self.metrics is not None:
            self.http_seconds["5xx"].observe(seconds)
        if self.request_log:
            state = scope["state"]
            observation = RequestObservation(self.metrics, principal=state.get("principal"))
            write_request_line(
                self.logger, "POST", "/graphql", 500, seconds, observation, error,
                request_id=state["request_id"],
            )  # fmt: skip


def mount_view(app: FastAPI, schema: Schema, runtime: Runtime, *, graphiql: bool) -> None:
    """strawberry's view at /graphql (``app.graphql.resolver_path.view``) for what the
    endpoint passes on, and GraphiQL's page: its context authenticates the caller
    (:func:`authenticate_once`), wrong credentials answered 401."""

    async def get_context(
        connection: HTTPConnection,
    ) -> AsyncIterator[RequestContext | LiveConnection]:
        if connection.scope["type"] == "websocket":
            # Authenticated by ``connection_init`` (app.graphql.resolver_path.live).
            yield LiveConnection(runtime, connection, request_id_of(connection.scope))
            return
        principal = await authenticate_once(connection.scope, runtime)
        context = RequestContext(runtime, connection.state.request_id, principal)
        try:
            yield context
        finally:
            await context.close()

    async def refuse(request: Request, error: Exception) -> Any:
        assert isinstance(error, Unauthenticated)
        return unauthenticated_response(error, request.state.request_id)

    app.add_exception_handler(Unauthenticated, refuse)
    live = runtime.settings.live
    router = PaygateGraphQLRouter(
        schema,
        # A dependency with yield: FastAPI closes the context after the response.
        context_getter=get_context,  # type: ignore[arg-type]
        graphql_ide="graphiql" if graphiql else None,
        allow_queries_via_get=False,
        path="/graphql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=timedelta(seconds=live.init_timeout_seconds),
        max_subscriptions_per_connection=None,  # LiveTransportWSHandler's own, typed
    )
    router.live = live
    app.include_router(router)


def _as_text(body: dict[str, Any], document: TrustedDocument) -> dict[str, Any]:
    """The request with the document's text instead of its id, for the resolver path (its
    ``extensions`` without the persisted query's hash: ``cost`` is kept)."""
    rewritten = {k: v for k, v in body.items() if k not in ("documentId", "extensions")}
    rewritten["query"] = document.text
    extensions = body.get("extensions")
    if isinstance(extensions, dict):
        kept = {k: v for k, v in extensions.items() if k != "persistedQuery"}
        if kept:
            rewritten["extensions"] = kept
    return rewritten


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _code(body: bytes) -> str:
    """The error code of an answer the endpoint refused with."""
    try:
        return str(orjson.loads(body)["errors"][0]["extensions"]["code"])
    except (orjson.JSONDecodeError, LookupError, TypeError):
        return "UNKNOWN"
