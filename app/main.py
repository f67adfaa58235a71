"""The ASGI application: GraphQL at /graphql (with GraphiQL), webhooks, health checks,
metrics."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import files_route, graphiql, lifecycle, sandbox_pages, usage_route, webhooks
from app.context import Runtime
from app.db import make_engine, make_session_factory
from app.domain.clock import Clock, SystemClock
from app.graphql.compiled_path.handler import TrustedDocuments
from app.graphql.compiled_path.registry import load_documents
from app.graphql.endpoint import GraphQLEndpoint, mount_view
from app.graphql.resolver_path.handler import ResolverPath
from app.graphql.schema import core_schema, schema
from app.migrations import (
    current_revisions,
    head_revisions,
    known_revisions,
    schema_state,
    upgrade_to_head,
)
from app.observability import Observability
from app.observability.http import request_id_of
from app.observability.scrape import queue_installed
from app.psp.registry import build_registry
from app.security.cost import CostAnalysis
from app.security.policy import PolicyCheck
from app.security.query_gate import QueryGate
from app.security.ratelimit import RateLimits
from app.security.tokens import TokenConfig, TokenVerifier
from app.seed import seed_demo_catalog
from app.services.api_keys import KeyAuthenticator
from app.services.outbox.hub import Hub
from app.services.webhooks_out.config import DeliveryConfig
from app.services.webhooks_out.runner import DeliveryLoop
from app.settings import Settings
from app.wiring import wire

logger = logging.getLogger("paygate")

# The collector's thresholds once serving (generation 0's in container objects; see lifespan).
GC_THRESHOLDS = (20_000, 10, 10)


class RequestIdMiddleware:
    """Every response carries ``X-Request-ID``: the caller's, when well-formed, or a new one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if not any(name.lower() == b"x-content-type-options" for name, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class PaygateApp(FastAPI):
    """FastAPI with a front: the layers that ``front`` puts around Starlette's middleware
    stack (the GraphQL endpoint, CORS, tracing; see ``create_app``)."""

    front: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return self.front(stack) if self.front is not None else stack


def token_config(settings: Settings) -> TokenConfig:
    auth = settings.auth
    return TokenConfig(
        issuer=auth.jwt_issuer,
        audience=auth.jwt_audience,
        secret=auth.jwt_secret.get_secret_value() if auth.jwt_secret else None,
        jwks_url=auth.jwks_url,
        leeway=timedelta(seconds=auth.jwt_leeway_seconds),
        customer_claim=auth.jwt_customer_claim,
    )


async def _prepare_database(runtime: Runtime) -> None:
    settings = runtime.settings
    if settings.should_migrate_on_start:
        url = settings.session_url_for("migrating on start (PAYGATE_MIGRATE_ON_START)")
        await asyncio.to_thread(upgrade_to_head, url)
    if settings.should_seed_demo:
        async with runtime.sessions() as session:
            added = await seed_demo_catalog(session, clock=runtime.clock)
        if added:
            logger.info("seeded %d demo catalog rows", added)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    wire()
    settings = settings or Settings()
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pre_ping=settings.db_pool_pre_ping,
        statement_timeout=settings.db_statement_timeout_seconds,
        transaction_pooling=settings.database_transaction_pooling,
    )
    clock = clock or SystemClock()
    observability = Observability(settings, engine=engine, clock=clock)
    sessions = make_session_factory(engine)
    audit_engine = make_engine(
        settings.database_url,
        pool_size=2,
        pre_ping=settings.db_pool_pre_ping,
        statement_timeout=settings.db_statement_timeout_seconds,
        transaction_pooling=settings.database_transaction_pooling,
    )
    auth = settings.auth
    overflow = (
        settings.db_pool_size if settings.db_max_overflow is None else settings.db_max_overflow
    )
    limits = RateLimits(
        mutations=settings.rate_limit_mutations,
        guessable=settings.rate_limit_guessable,
        storage=settings.rate_limit_storage,
        queries=settings.query_cost.rates,
    )
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        clock=clock,
        psps=build_registry(settings, clock=clock, wrap=observability.psp_wrap),
        keys=KeyAuthenticator(sessions, ttl_seconds=auth.key_cache_seconds),
        tokens=TokenVerifier(token_config(settings)),
        limits=limits,
        policy=PolicyCheck(core_schema, introspection=settings.introspection_enabled),
        audit_engine=audit_engine,
        audit_sessions=make_session_factory(audit_engine),
        connection_slots=asyncio.Semaphore(settings.db_pool_size + overflow),
        gate=QueryGate(
            CostAnalysis(core_schema),
            budgets=settings.query_cost.budgets,
            limits=limits,
            request_timeout=settings.request_timeout_seconds or None,
        ),
        hub=Hub(
            sessions,
            listen_url=settings.live_listen_url,
            poll_seconds=settings.live.poll_seconds,
            queue_size=settings.live.queue_size,
        ),
    )
    if settings.database_transaction_pooling and settings.live_listen_url is None:
        logger.info(
            "live updates poll the event log every %s s: LISTEN hears nothing through a "
            "transaction pooler (set PAYGATE_DATABASE_DIRECT_URL to listen)",
            settings.live.poll_seconds,
        )
    if settings.anonymous_role is not None:
        logger.warning(
            "callers without credentials act as %s (PAYGATE_AUTH__ANONYMOUS_ROLE)",
            settings.anonymous_role.value,
        )
    heads = head_revisions(settings.database_url)
    known = known_revisions(settings.database_url)
    sandbox = runtime.psps.sandbox
    if sandbox is not None:

        async def sandbox_sink(headers: dict[str, str], body: bytes) -> None:
            # Like a real PSP's delivery, a failure here never fails the API call itself.
            try:
                await webhooks.deliver(
                    runtime, "sandbox", headers, body, metrics=observability.metrics
                )
            except Exception:
                logger.exception("sandbox webhook delivery failed")

        sandbox.sink = sandbox_sink

    # Webhooks to merchants from this process: the embedded default has no worker.
    deliveries = (
        DeliveryLoop(
            sessions,
            clock=clock,
            config=DeliveryConfig.of(settings),
            metrics=observability.metrics,
            interval=settings.webhooks.poll_seconds,
        )
        if settings.deliver_webhooks_in_process
        else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await _prepare_database(runtime)
        if deliveries is not None:
            deliveries.start()
        # Everything made at start-up (modules, the schema, the app) lives as long as the
        # process: move it out of the collector's generations, so that the collections that
        # requests' garbage triggers no longer walk it (Instagram's gc.freeze recipe).
        gc.collect()
        gc.freeze()
        # Requests free nearly everything they make by reference counting (a page of 50
        # customers leaves ~80 objects in cycles), but the default threshold (700 container
        # objects) made two or three collections per such request, each walking the live
        # request's rows and results: ~10% of its CPU. After 20,000 a collection is rare and
        # finds mostly garbage (bench/README.md, step 18).
        gc.set_threshold(*GC_THRESHOLDS)
        yield
        if deliveries is not None:
            await deliveries.stop()
        await runtime.dispose()
        observability.shutdown()

    app = PaygateApp(
        title="paygate",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.runtime = runtime
    app.state.observability = observability
    app.state.webhook_deliveries = deliveries

    # POST /graphql is answered by the GraphQL endpoint, outside Starlette's middleware
    # stack (``app.graphql.endpoint``): trusted documents by their compiled plans
    # (PostgreSQL only; embedded SQLite serves them through the resolvers), other single
    # operations through the resolvers; CORS, the request id and tracing wrap it (so every
    # answer, a CORS preflight or a 500 included, carries X-Request-ID).
    trusted = TrustedDocuments(
        load_documents(settings.trusted_documents_dir),
        core_schema,
        compile=settings.compiled_documents and engine.dialect.name == "postgresql",
    )
    app.state.trusted_documents = trusted

    def front(stack: ASGIApp) -> ASGIApp:
        outer: ASGIApp = GraphQLEndpoint(
            stack,
            runtime=runtime,
            documents=trusted,
            only=settings.trusted_documents_only,
            metrics=observability.metrics,
            request_log=settings.request_log,
            resolvers=ResolverPath(schema, runtime, observability.watcher()),
        )
        if settings.cors_origins:
            outer = CORSMiddleware(
                outer,
                allow_origins=settings.cors_origins,
                allow_methods=["POST"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID"],
                max_age=600,
            )
        return observability.wrap_outermost(RequestIdMiddleware(outer))

    app.front = front
    # What the endpoint passes on (batches, streamed answers, GraphiQL): strawberry's view.
    mount_view(app, schema, runtime, graphiql=settings.graphiql_enabled)
    app.include_router(webhooks.router(runtime, metrics=observability.metrics))
    app.include_router(usage_route.router(runtime))
    app.include_router(files_route.router(runtime))
    if sandbox is not None:
        app.include_router(sandbox_pages.router(runtime))
    if settings.graphiql_enabled:
        graphiql.mount(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process is up. Cheap: touches nothing else."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """The database answers, its migrations are at this release's head (or a newer
        release's: ``ahead``, see ``schema_state``), and the job queue's tables exist
        ("absent" is ready unless PAYGATE_QUEUE_REQUIRED: SQLite has no queue); not
        once the process drains after SIGTERM (``app.lifecycle``)."""
        if lifecycle.draining():
            return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
        checks: dict[str, Any] = {}
        try:
            async with engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
                current = await connection.run_sync(current_revisions)
                queue = await queue_installed(connection)
            checks["database"] = "ok"
            checks["migrations"] = schema_state(current, heads, known)
            checks["queue"] = "ok" if queue else "absent"
        except Exception as error:
            logger.warning("readiness check failed: %s", type(error).__name__)
            checks["database"] = "unreachable"
        ready = checks.get("database") == "ok" and checks.get("migrations") in ("ok", "ahead")
        if settings.queue_must_exist and checks.get("queue") != "ok":
            ready = False
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    observability.install(app, psps=runtime.psps.names)  # inside RequestIdMiddleware (front)
    return app
