"""Observability of one app: Prometheus metrics at /metrics, structured logs with the
request id, and OpenTelemetry traces (optional). ``create_app`` builds one
:class:`Observability` and installs it; see the README's "Observability" section."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

from fastapi import FastAPI, Request, Response
from prometheus_client.exposition import choose_encoder
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from app.domain.clock import Clock
from app.observability import records
from app.observability.http import ObservabilityMiddleware, Watcher
from app.observability.logs import configure_logging
from app.observability.metrics import Metrics
from app.observability.psp import instrument
from app.observability.scrape import ScrapeCollector
from app.observability.tracing import Tracing
from app.psp.base import Gateway
from app.settings import Settings

__all__ = ["Metrics", "Observability"]


class Observability:
    def __init__(self, settings: Settings, *, engine: AsyncEngine, clock: Clock) -> None:
        configure_logging(settings)
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.metrics = Metrics() if settings.metrics_enabled else None
        self.tracing = Tracing(settings) if settings.otel_enabled else None
        if self.metrics is not None:
            records.observe(engine, self.metrics)
        if self.tracing is not None:
            self.tracing.instrument_engine(engine)

    @property
    def psp_wrap(self) -> Callable[[Gateway], Gateway] | None:
        """How the PSP registry wraps each gateway (see ``build_registry``)."""
        return instrument(self.metrics) if self.metrics is not None else None

    def install(self, app: FastAPI, *, psps: Iterable[str]) -> None:
        """``/metrics`` and the per-request middleware; call before adding the middleware
        that makes the request id (which must run outside this one)."""
        metrics = self.metrics
        if metrics is not None:
            collector = ScrapeCollector(
                self.engine,
                clock=self.clock,
                psps=psps,
                timeout=self.settings.metrics_db_timeout_seconds,
                stuck_after=timedelta(minutes=self.settings.metrics_stuck_after_minutes),
            )
            metrics.registry.register(collector)

            async def scrape(request: Request) -> Response:
                await collector.refresh()
                encode, content_type = choose_encoder(request.headers.get("accept", ""))
                return Response(encode(metrics.registry), headers={"Content-Type": content_type})

            app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)
        app.add_middleware(
            ObservabilityMiddleware,
            metrics=metrics,
            request_log=self.settings.request_log,
            tracing=self.tracing is not None,
        )

    def watcher(self) -> Watcher:
        """How the front observes the requests it answers itself (as the middleware does)."""
        return Watcher(self.metrics, self.settings.request_log, self.tracing is not None)

    def wrap_outermost(self, app: ASGIApp) -> ASGIApp:
        """The tracing middleware around ``app`` (everything, the front included)."""
        return self.tracing.wrap(app) if self.tracing is not None else app

    def shutdown(self) -> None:
        if self.tracing is not None:
            self.tracing.shutdown()
