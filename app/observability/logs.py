"""Structured logs: one pipeline for structlog and the standard library.

Every line, whether written with structlog or with ``logging.getLogger("paygate.…")``
(and uvicorn's own loggers), goes through structlog's ``ProcessorFormatter``: JSON lines
in production, readable lines in development (``PAYGATE_LOG_FORMAT``). Context bound with
``structlog.contextvars`` — the request id, for every line written while a request is
handled — is merged into each line. Values under sensitive keys are redacted and a
message that contains something shaped like a card number is withheld, as a safety net:
paygate logs no request bodies, headers, tokens or personal data in the first place.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from app.domain.pan import contains_card_number
from app.settings import Settings

try:  # the OpenTelemetry API comes with FastAPI; tracing itself is optional
    from opentelemetry import trace as otel_trace
except ImportError:  # pragma: no cover
    otel_trace = None  # type: ignore[assignment]

SENSITIVE_KEYS = frozenset(
    {
        "authorization", "cookie", "password", "secret", "token", "api_key", "client_secret",
        "card", "card_number", "pan", "cvc", "cvv", "email", "body", "headers", "variables",
    }
)  # fmt: skip
REDACTED = "[redacted]"
WITHHELD = "[withheld: it contained what looks like a card number]"


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key in SENSITIVE_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    for key in ("event", "exception"):
        value = event_dict.get(key)
        if isinstance(value, str) and contains_card_number(value):
            event_dict[key] = WITHHELD
    return event_dict


def add_trace_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """The trace and span ids of the current span, when tracing is on."""
    if otel_trace is not None:
        context = otel_trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict["trace_id"] = format(context.trace_id, "032x")
            event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the ``sys.stderr`` of the moment (test runners replace it)."""

    paygate = True

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        add_trace_context,
    ]


def configure_logging(settings: Settings) -> None:
    """Route structlog and the standard library through one formatter, on stderr.
    Idempotent: replaces the handler it installed before and leaves others alone."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: list[Processor]
    if settings.log_as_json:
        renderer = [
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(),
        ]
    else:
        renderer = [redact, structlog.dev.ConsoleRenderer(colors=False)]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "paygate", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # uvicorn's lines go through the same handler; its access log is replaced by the
    # request line (which never carries query strings).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    # strawberry logs every GraphQL error with an excerpt of the document, which may quote
    # inputs: the request line has the error codes, and ErrorPolicy logs unexpected errors.
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)
    # httpx logs every URL it calls at INFO (PSP URLs may carry query parameters), and
    # alembic a few whenever /readyz compares revisions or migrations load.
    for name in ("httpx", "httpcore", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def request_logger() -> Any:
    return structlog.stdlib.get_logger("paygate.request")
