"""POST /graphql for trusted documents, in front of the whole application.

The front is the outermost ASGI layer but for the request id, CORS and tracing.
For a body naming a registered document (``documentId``, Apollo's persisted-query hash, or
the exact text as ``query``) whose plan compiled, it authenticates, checks the field
policy, coerces the variables and runs the plan's one SQL statement, answering
``{"data": <the JSON text PostgreSQL wrote>}`` with the latency metrics and the request's
log line, and nothing else: no Starlette middleware, no router, no GraphQL
execution, no Python object per field. Every other single operation goes to the resolvers
(``app.resolver_route``, also answered here, a document sent by id as its text), and the
rest (batches, other content types, other routes) to the application unchanged. Whatever
would make the resolvers report an error (a malformed or foreign ID, an out-of-range size,
a refused field) goes on to them too, so errors are theirs, exactly.

With ``PAYGATE_TRUSTED_DOCUMENTS_ONLY`` an unregistered document is refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from time import perf_counter
from typing import Any

import orjson
from graphql import GraphQLSchema
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import Unauthenticated, authenticate, unauthenticated_response
from app.context import Runtime
from app.db import is_statement_timeout
from app.domain.pan import contains_card_number
from app.graphql import _strings
from app.graphql_http import (
    CONTENT_TYPES,
    GRAPHQL_RESPONSE_JSON,
    JSON,
    NotAcceptable,
    accept_header,
    request_error_body,
    response_media_type,
    well_formed,
)
from app.observability.http import (
    RequestObservation,
    write_request_line,
)
from app.observability.logs import request_logger
from app.observability.metrics import Metrics, operation_label
from app.resolver_route import ResolverRoute, takes
from app.security.query_gate import Verdict, cost_requested, timeout_error
from app.trusted.compiler import FallThrough, Plan, Unsupported, compile_document
from app.trusted.registry import TrustedDocument

logger = logging.getLogger("paygate.trusted")

NOT_TRUSTED = "DOCUMENT_NOT_TRUSTED"
UNKNOWN_DOCUMENT = "DOCUMENT_NOT_FOUND"


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


class TrustedDocuments:
    """The registry, with a plan for each document inside the compiled subset."""

    def __init__(
        self, documents: Iterable[TrustedDocument], schema: GraphQLSchema, *, compile: bool
    ) -> None:
        self.by_hash: dict[str, TrustedDocument] = {}
        self.by_text: dict[str, TrustedDocument] = {}
        self.plans: dict[str, Plan] = {}
        self.unsupported: dict[str, str] = {}
        self.schema = schema
        self.compile = compile
        for document in documents:
            self.add(document)

    def add(self, document: TrustedDocument) -> None:
        """Register a document (at start-up), compiling it when it is in the subset."""
        self.by_hash[document.sha256] = document
        self.by_text[document.text] = document
        if not self.compile:
            return
        try:
            self.plans[document.sha256] = compile_document(self.schema, document)
        except Unsupported as reason:
            self.unsupported[document.name] = str(reason)
            logger.info("trusted document %s served by the resolvers: %s", document.name, reason)

    def find(self, body: dict[str, Any]) -> tuple[TrustedDocument | None, bool]:
        """The document a request names, and whether it named an id that is unknown (never
        echoed: it could be anything, even card data)."""
        named = body.get("documentId")
        if named is None:
            extensions = body.get("extensions")
            persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
            if isinstance(persisted, dict):
                named = persisted.get("sha256Hash")
                named = None if named is None else f"sha256:{named}"
        if named is not None:
            digest = named.removeprefix("sha256:") if isinstance(named, str) else ""
            found = self.by_hash.get(digest)
            return found, found is None
        query = body.get("query")
        return (self.by_text.get(query) if isinstance(query, str) else None), False


def _not_acceptable() -> tuple[int, bytes]:
    message = (
        "paygate answers in application/graphql-response+json or application/json: "
        "accept one of them."
    )
    return 406, request_error_body(message, "NOT_ACCEPTABLE")


def _without_data(body: bytes) -> bytes:
    answer = orjson.loads(body)
    answer.pop("data", None)
    return orjson.dumps(answer)


def _error(message: str, code: str, status: int = 200) -> tuple[int, bytes]:
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return status, json.dumps(body).encode()


class _Refused(Exception):
    """A compiled plan's request refused with a GraphQL error (the resolvers' words)."""

    def __init__(self, error: tuple[str, dict[str, Any]], report: dict[str, Any] | None) -> None:
        super().__init__(error[0])
        body: dict[str, Any] = {
            "data": None,
            "errors": [{"message": error[0], "extensions": error[1]}],
        }
        if report is not None:
            body["extensions"] = {"cost": report}
        self.answer = (200, orjson.dumps(body))


class TrustedDocumentsFront:
    """The outermost layer: compiled plans answered here, the rest passed to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Runtime,
        documents: TrustedDocuments,
        only: bool,
        metrics: Metrics | None,
        request_log: bool,
        resolvers: ResolverRoute | None = None,
    ) -> None:
        self.app = app
        # The other single operations, through the resolvers, also answered here.
        self.resolvers = resolvers
        # At most as many plans at once as the pool has connections, the others waiting in
        # arrival order, with the resolvers' requests (``Runtime.connection_slots``).
        self.slots = runtime.connection_slots
        self.runtime = runtime
        self.documents = documents
        self.only = only
        self.metrics = metrics
        self.request_log = request_log
        self.logger = request_logger()
        self.http_seconds = {
            family: metrics.http_duration.labels("POST", "/graphql", family)
            for family in ("2xx", "4xx")
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
            body = None  # the router reads it, with ``json``
            if media == GRAPHQL_RESPONSE_JSON:
                invalid = (400, request_error_body("The body is not valid JSON.", "BAD_REQUEST"))
                await self._answer(scope, send, started, invalid, None, media)
                return
        else:
            if _holds_float(body):  # orjson makes an integer beyond 64 bits a float:
                body = json.loads(raw)  # ``json`` keeps it exact, as the router's reading
        answer: tuple[int, bytes] | None = None
        plan: Plan | None = None
        if isinstance(body, dict):
            answer, operation, plan = await self._single(scope, body)
            if answer is None and self.resolvers is not None and takes(scope, operation):
                await self.resolvers(scope, operation, receive, send, media)
                return
            if answer is None and media == GRAPHQL_RESPONSE_JSON:
                reason = well_formed(operation) or "Send one operation as a JSON object."
                answer = (400, request_error_body(reason, "BAD_REQUEST"))
            if operation is not body:
                raw = json.dumps(operation).encode()
        elif isinstance(body, list):
            answer, raw = self._batch(body, raw)
        elif media == GRAPHQL_RESPONSE_JSON:
            reason = "The body is a JSON object with the request's parameters."
            answer = (400, request_error_body(reason, "BAD_REQUEST"))
        if answer is not None:
            await self._answer(scope, send, started, answer, plan, media)
            return
        await self.app(scope, _replay(raw, receive), send)

    async def _answer(
        self,
        scope: Scope,
        send: Send,
        started: float,
        answer: tuple[int, bytes],
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
        family = "2xx" if status < 300 else "4xx"
        if self.metrics is not None:
            self.http_seconds[family].observe(seconds)
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

    def _batch(self, body: list[Any], raw: bytes) -> tuple[tuple[int, bytes] | None, bytes]:
        """A batch goes to the router (never compiled), its documents sent by id as text."""
        if not body or not all(isinstance(item, dict) for item in body):
            # (strawberry's view failed with a 500 on a batch item that is not an object)
            reason = "A batch is a non-empty JSON array of operations, each a JSON object."
            return (400, request_error_body(reason, "BAD_REQUEST")), raw
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

    async def _single(
        self, scope: Scope, body: dict[str, Any]
    ) -> tuple[tuple[int, bytes] | None, dict[str, Any], Plan | None]:
        """The answer (and the plan that made it), or None and the operation for the
        resolvers (``body``, or ``body`` with the document's text for its id)."""
        document, unknown = self.documents.find(body)
        if unknown:
            if "documentId" not in body:  # Apollo's automatic persisted queries: the client
                # sends the text next (refused with PAYGATE_TRUSTED_DOCUMENTS_ONLY)
                return _error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND"), body, None
            message = "No trusted document has this documentId."
            return _error(message, UNKNOWN_DOCUMENT), body, None
        if document is None:
            if self.only:
                return (
                    _error(
                        "Only trusted (registered) documents are accepted here: send "
                        '{"documentId": "sha256:<hex>", "variables": {...}}.',
                        NOT_TRUSTED,
                    ),
                    body,
                    None,
                )
            return None, body, None
        plan = self.documents.plans.get(document.sha256)
        if plan is not None:
            try:
                answer = await self._execute(scope, plan, body)
            except FallThrough:
                answer = None
            except _Refused as refused:  # logged with its error code, as the resolvers'
                return refused.answer, body, None
            except Exception:  # the resolvers answer, and report what they meet
                logger.exception("compiled plan of %s failed", document.name)
                answer = None
            if answer is not None:
                return answer, body, plan
        if body.get("query") == document.text:
            return None, body, None
        return None, _as_text(body, document), None

    async def _execute(
        self, scope: Scope, plan: Plan, body: dict[str, Any]
    ) -> tuple[int, bytes] | None:
        began = perf_counter()
        variables = body.get("variables") or {}
        operation_name = body.get("operationName")
        if not isinstance(variables, dict) or operation_name not in (None, plan.operation_name):
            raise FallThrough
        if any(contains_card_number(text) for text in _strings(variables)):
            raise FallThrough  # the router refuses it, as always
        runtime = self.runtime
        state = scope["state"]
        request_id = state["request_id"]
        try:
            principal = await authenticate(Request(scope), runtime)
        except Unauthenticated as error:
            response = unauthenticated_response(error, request_id)
            return 401, bytes(response.body)  # headers: see _answer
        if runtime.policy.denied(plan.document.text, plan.operation_name, principal.actor):
            raise FallThrough  # refused, with the router's error and audit
        arguments = plan.arguments(variables, principal)
        state["principal"] = principal
        # The resolvers' rules (``QueryLimits``): the budget and rate limit by cost, then
        # the request's time limit; a statement's own limit is the connection's.
        gate = runtime.gate
        verdict = await gate.admit(principal, plan.document.text, plan.operation_name, variables)
        report = _report(verdict, body)
        if verdict is not None and verdict.error is not None:
            raise _Refused(verdict.error, report)
        timeout = asyncio.timeout(gate.request_timeout)
        try:
            async with timeout, self.slots, runtime.engine.connect() as connection:
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection
                data: str = await driver.fetchval(plan.sql, *arguments)
        except TimeoutError:
            if not timeout.expired():
                raise
            raise _Refused(timeout_error(gate.request_timeout, statement=False), report) from None
        except Exception as error:
            if not is_statement_timeout(error):
                raise
            seconds = runtime.settings.db_statement_timeout_seconds or None
            logger.warning("statement timeout of compiled plan %s", plan.document.name)
            raise _Refused(timeout_error(seconds, statement=True), report) from None
        if self.metrics is not None:
            label = self.metrics.operation_name(plan.operation_name)
            self.metrics.graphql_duration.labels(label, "query").observe(perf_counter() - began)
        if report is not None:
            extensions = orjson.dumps({"cost": report})
            return 200, b'{"data":' + data.encode() + b',"extensions":' + extensions + b"}"
        return 200, b'{"data":' + data.encode() + b"}"


def _report(verdict: Verdict | None, body: dict[str, Any]) -> dict[str, Any] | None:
    """``extensions.cost`` when the request asks for it."""
    if verdict is None or not cost_requested(body.get("extensions")):
        return None
    return verdict.report()


def _as_text(body: dict[str, Any], document: TrustedDocument) -> dict[str, Any]:
    """The request with the document's text instead of its id, for the router (its
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
    """The error code of an answer the front refused with."""
    try:
        return str(orjson.loads(body)["errors"][0]["extensions"]["code"])
    except (orjson.JSONDecodeError, LookupError, TypeError):
        return "UNKNOWN"
