"""OpenTelemetry traces, off by default (``PAYGATE_OTEL_ENABLED``; the ``otel`` extra).

Spans at the HTTP layer (the ASGI middleware; ``ObservabilityMiddleware`` names them by
route template and adds the GraphQL operation) and the database layer (one span per
statement, for this app's engine only: SQLAlchemy's, and the reads that run on the driver
directly, ``app.graphql.read.records``), exported over OTLP/HTTP in batches. No per-field
GraphQL spans: strawberry's async tracing extension makes large lists many times slower.
Each app has its own tracer provider; nothing global is patched or set.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from app.graphql.read import records
from app.settings import Settings

EXCLUDED_URLS = "/healthz,/readyz,/metrics"


class Tracing:
    """The tracer provider of one app and what it instruments."""

    def __init__(self, settings: Settings) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        except ImportError as error:
            raise RuntimeError(
                "PAYGATE_OTEL_ENABLED needs the otel extra: pip install 'paygate[otel]'"
            ) from error
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": settings.otel_service_name}),
            sampler=ParentBased(TraceIdRatioBased(settings.otel_sample_ratio)),
        )
        exporter = (
            OTLPSpanExporter(endpoint=settings.otel_endpoint)
            if settings.otel_endpoint
            else OTLPSpanExporter()
        )
        self.provider.add_span_processor(BatchSpanProcessor(exporter))

    def instrument_engine(self, engine: AsyncEngine) -> None:
        from opentelemetry import metrics
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        tracer = self.provider.get_tracer("paygate.db")
        usage = metrics.NoOpMeter("paygate.db").create_up_down_counter("db.client.connections")
        EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]
        records.trace(engine, tracer)  # the reads run on the driver directly

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """The server span around ``app`` (everything else: the outermost layer)."""
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return OpenTelemetryMiddleware(
            app,
            excluded_urls=EXCLUDED_URLS,
            tracer_provider=self.provider,
            server_request_hook=_without_query,
            exclude_spans=["receive", "send"],
        )

    def shutdown(self) -> None:
        self.provider.shutdown()


def _without_query(span: Any, scope: dict[str, Any]) -> None:
    """Query strings could carry data: spans keep the path only."""
    if span is None or not span.is_recording() or not scope.get("query_string"):
        return
    path = scope.get("path", "")
    for key in ("http.target", "url.query", "http.url", "url.full"):
        span.set_attribute(key, path if key in ("http.target", "http.url", "url.full") else "")
