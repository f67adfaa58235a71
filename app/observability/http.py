"""Per request: the latency histogram, the request log line and the request id in context.

:class:`ObservabilityMiddleware` sits inside ``RequestIdMiddleware``. It binds the request
id with ``structlog.contextvars`` so that every log line written while the request is
handled carries it, and makes a :class:`RequestObservation` current, which the GraphQL
extension fills in (operation, principal, error codes). When the response is sent it
records the latency by route template and writes one line: request id, method, route,
status, operation, principal kind, duration and outcome. Never the path's query string,
headers or body.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logs import request_logger
from app.observability.metrics import Metrics, safe_code

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes come every few seconds: their lines are DEBUG.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass(slots=True)
class RequestObservation:
    """What the layers inside learn about the request, for its metrics and log line."""

    metrics: Metrics | None
    operation: str | None = None  # a valid GraphQL name, "anonymous" or "invalid"
    operation_type: str | None = None
    principal: object = None
    error_codes: list[str] = field(default_factory=list)
    user_error_codes: list[str] = field(default_factory=list)


_current: contextvars.ContextVar[RequestObservation | None] = contextvars.ContextVar(
    "paygate_request", default=None
)


def current_request() -> RequestObservation | None:
    return _current.get()


def principal_kind(principal: object) -> str:
    """A principal's ``kind`` (an enum or a short string), never who it is."""
    kind = getattr(principal, "kind", None)
    if kind is None:
        return "anonymous"
    return safe_code(getattr(kind, "value", kind), "unknown")


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else "unmatched"


def _method(scope: Scope) -> str:
    method = scope.get("method", "")
    return method if method in METHODS else "OTHER"


def outcome_of(status: int, observation: RequestObservation) -> str:
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    if "INTERNAL_ERROR" in observation.error_codes:
        return "internal_error"
    if observation.error_codes:
        return "graphql_error"
    if observation.user_error_codes:
        return "user_error"
    return "ok"


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def request_id_of(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when well-formed, or a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            incoming: str = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(incoming):
                return incoming
            break
    return uuid.uuid4().hex


def write_request_line(
    logger: Any,
    method: str,
    route: str,
    status: int,
    seconds: float,
    observation: RequestObservation,
    failure: BaseException | None = None,
    **extra: Any,
) -> None:
    """The request's log line (INFO; ERROR for a 5xx or an exception; DEBUG for probes)."""
    level = logging.ERROR if status >= 500 or failure else logging.INFO
    if level == logging.INFO and route in QUIET_ROUTES:
        level = logging.DEBUG
    if not logging.getLogger("paygate.request").isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "outcome": outcome_of(status, observation),
        "principal": principal_kind(observation.principal),
    }
    if observation.operation is not None:
        fields["operation"] = observation.operation
        fields["operation_type"] = observation.operation_type
    if observation.error_codes:
        fields["errors"] = observation.error_codes
    if observation.user_error_codes:
        fields["user_errors"] = observation.user_error_codes
    if isinstance(failure, Exception):  # not for a cancellation
        fields["exc_info"] = failure
    logger.log(level, "request", **fields, **extra)


@dataclass(frozen=True, slots=True)
class Watcher:
    """How requests are observed: metrics (or none), the request log on or off, tracing."""

    metrics: Metrics | None
    request_log: bool
    tracing: bool
    logger: Any = field(default_factory=request_logger)


class Watch:
    """One request observed from its start to its end: the :class:`RequestObservation` made
    current and the request id bound for the log lines written meanwhile, then the latency
    and the request line. What :class:`ObservabilityMiddleware` does around the
    application, and the endpoint's resolver path (``app.graphql.resolver_path.handler``)."""

    __slots__ = ("_bound", "_token", "observation", "scope", "started", "watcher")

    def __init__(self, watcher: Watcher, scope: Scope) -> None:
        self.started = perf_counter()
        self.watcher = watcher
        self.scope = scope
        state = scope.setdefault("state", {})
        self.observation = RequestObservation(watcher.metrics)
        self._token = _current.set(self.observation)
        self._bound = structlog.contextvars.bind_contextvars(request_id=state.get("request_id", ""))

    def responding(self, route: str) -> None:
        """The response starts: name the server span, if traced."""
        if self.watcher.tracing:  # the server span may end with the body
            _name_span(_method(self.scope), route, self.observation)

    def end(self, route: str, status: int, failure: BaseException | None) -> None:
        watcher = self.watcher
        observation = self.observation
        seconds = perf_counter() - self.started
        method = _method(self.scope)
        if watcher.metrics is not None:
            watcher.metrics.http_duration.labels(method, route, f"{status // 100}xx").observe(
                seconds
            )
        if observation.principal is None:
            observation.principal = self.scope["state"].get("principal")
        if watcher.request_log:
            write_request_line(watcher.logger, method, route, status, seconds, observation, failure)
        structlog.contextvars.reset_contextvars(**self._bound)
        _current.reset(self._token)


class ObservabilityMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics | None, request_log: bool, tracing: bool
    ) -> None:
        self.app = app
        self.watcher = Watcher(metrics, request_log, tracing)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = Watch(self.watcher, scope)
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                watch.responding(route_of(scope))
            await send(message)

        failure: BaseException | None = None
        try:
            await self.app(scope, receive, send_and_watch)
        except BaseException as error:
            failure = error
            raise
        finally:
            watch.end(route_of(scope), status, failure)


def _name_span(method: str, route: str, observation: RequestObservation) -> None:
    from opentelemetry import trace

    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    if observation.operation is not None:
        span.set_attribute("graphql.operation.name", observation.operation)
        span.set_attribute("graphql.operation.type", observation.operation_type or "unknown")
