"""The `paygate` command."""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.settings import DirectUrlRequired, Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.lifecycle import DrainingServer
    from app.observability.logs import configure_logging

    settings = Settings()
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"paygate: GraphiQL at http://{host}:{port}/graphql", file=sys.stderr)  # noqa: T201
    configure_logging(settings)  # uvicorn's lines too; its access log gives way to ours
    config = uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=args.log_level,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        # Named rather than "auto": fail loudly if uvicorn[standard]'s C event loop and HTTP
        # parser are missing, instead of silently serving on the slower pure-Python ones.
        loop="uvloop",
        http="httptools",
    )
    server = DrainingServer(config, delay=settings.shutdown_delay_seconds)
    server.run()
    return 0 if server.started else 3  # as uvicorn.run exits when the app does not start


def _migrate(_: argparse.Namespace) -> int:
    """Migrations and the queue's tables, on the direct URL behind a transaction pooler
    (session settings and a session advisory lock); exit 2 without one."""
    from app.db import is_sqlite
    from app.migrations import upgrade_to_head

    settings = Settings()
    try:
        url = settings.session_url_for("migrating (alembic, the job queue's schema)")
    except DirectUrlRequired as error:
        print(f"paygate migrate: {error}", file=sys.stderr)  # noqa: T201
        return 2
    upgrade_to_head(url)
    if not is_sqlite(url):  # the job queue's tables (procrastinate)
        from app.worker import apply_queue_schema

        if asyncio.run(apply_queue_schema(settings)):
            print("paygate: created the job queue's tables", file=sys.stderr)  # noqa: T201
    return 0


def _worker(args: argparse.Namespace) -> int:
    """Run the background jobs until SIGINT or SIGTERM; exit 2 where they cannot run."""
    import logging

    from app import worker

    queues = [q.strip() for q in (args.queues or "").split(",") if q.strip()]
    problem = None
    if unknown := sorted(set(queues) - set(worker.QUEUES)):
        problem = f"unknown queue {', '.join(unknown)} (known: {', '.join(worker.QUEUES)})"
    elif args.concurrency < 1:
        problem = "--concurrency is at least 1"
    if problem:
        print(f"paygate worker: {problem}", file=sys.stderr)  # noqa: T201
        return 2
    from app.observability.logs import configure_logging

    settings = Settings()
    configure_logging(settings)
    logging.getLogger().setLevel(args.log_level.upper())
    try:
        asyncio.run(worker.run(settings, concurrency=args.concurrency, queues=queues))
    except worker.QueueUnavailable as error:
        print(f"paygate worker: {error}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


def _relay(args: argparse.Namespace) -> int:
    """Publish the event log to the event bus until SIGINT or SIGTERM; exit 2 without a bus."""
    import logging
    import signal

    from app import worker
    from app.observability.logs import configure_logging

    settings = Settings()
    if settings.event_bus_url is None:
        print("paygate relay: set PAYGATE_EVENT_BUS_URL (README, Event bus)", file=sys.stderr)  # noqa: T201
        return 2
    try:
        settings.session_url_for("the event bus relay (its leader lock and LISTEN)")
    except DirectUrlRequired as error:
        print(f"paygate relay: {error}", file=sys.stderr)  # noqa: T201
        return 2
    configure_logging(settings)
    logging.getLogger().setLevel(args.log_level.upper())

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        task = asyncio.create_task(worker.run_relay(settings, stop))
        await stop.wait()
        await worker.stop_relay(task, stop)

    asyncio.run(run())
    return 0


def _engine(settings: Settings, url: str | None = None) -> "AsyncEngine":
    """A one-connection engine on ``url`` (default: the database URL), set for a
    transaction pooler when ``PAYGATE_DATABASE_TRANSACTION_POOLING`` says so (those
    settings work on a direct connection too)."""
    from app.db import make_engine

    return make_engine(
        url or settings.database_url,
        pool_size=1,
        transaction_pooling=settings.database_transaction_pooling,
    )


def _export_schema(args: argparse.Namespace) -> int:
    from app.graphql.schema import sdl

    text = sdl()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


def _seed_demo(_: argparse.Namespace) -> int:
    from app.db import make_session_factory
    from app.domain.clock import SystemClock
    from app.seed import seed_demo_catalog

    async def run() -> int:
        engine = _engine(Settings())
        try:
            async with make_session_factory(engine)() as session:
                return await seed_demo_catalog(session, clock=SystemClock())
        finally:
            await engine.dispose()

    print(f"added {asyncio.run(run())} rows")  # noqa: T201
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    """Resolve unknown outcomes once; print a JSON report; exit 1 if any payment is stuck."""
    import json
    from datetime import timedelta

    from app.db import make_session_factory
    from app.domain.clock import SystemClock
    from app.psp.registry import build_registry
    from app.services.webhooks.reconciliation import reconcile

    async def run() -> dict[str, object]:
        settings = Settings()
        clock = SystemClock()
        engine = _engine(settings)
        try:
            async with make_session_factory(engine)() as session:
                report = await reconcile(
                    session,
                    psps=build_registry(settings, clock=clock),
                    clock=clock,
                    grace=timedelta(seconds=args.grace_seconds),
                    stuck_after=timedelta(minutes=args.stuck_after_minutes),
                )
        finally:
            await engine.dispose()
        return {
            "resolved": len(report.resolved),
            "unresolved": [str(i) for i in report.unresolved],
            "stuck": [str(i) for i in report.stuck],
            "events_applied": report.events_applied,
        }

    result = asyncio.run(run())
    print(json.dumps(result))  # noqa: T201
    return 1 if result["stuck"] else 0


def _create_api_key(args: argparse.Namespace) -> int:
    """Create an API key; print it (once) on stdout."""
    from app.db import make_session_factory
    from app.domain.clock import SystemClock
    from app.domain.errors import UserInputError
    from app.schema.node import encode_gid
    from app.security.principals import Role
    from app.services import api_keys

    async def run() -> api_keys.CreatedKey:
        engine = _engine(Settings())
        try:
            async with make_session_factory(engine)() as session:
                return await api_keys.create_key(
                    session, clock=SystemClock(), name=args.name, role=Role(args.role)
                )
        finally:
            await engine.dispose()

    try:
        created = asyncio.run(run())
    except UserInputError as error:
        print(f"paygate: {error.problems[0].message}", file=sys.stderr)  # noqa: T201
        return 2
    key_id = encode_gid("ApiKey", created.row.id)
    print(f"paygate: {args.role} key {key_id}; shown only now:", file=sys.stderr)  # noqa: T201
    print(created.secret)  # noqa: T201
    return 0


def _customer_token(args: argparse.Namespace) -> int:
    """Sign a customer token (HS256, PAYGATE_AUTH__JWT_SECRET); print it on stdout."""
    from datetime import timedelta

    from app.domain.clock import SystemClock
    from app.main import token_config
    from app.schema.node import GlobalIdError, decode_gid, encode_gid
    from app.security.tokens import InvalidToken, TokenVerifier

    try:
        type_name, key = decode_gid(args.customer_id)
    except GlobalIdError:
        type_name = ""
    if type_name != "Customer":
        print("paygate: give a customer's global ID", file=sys.stderr)  # noqa: T201
        return 2
    verifier = TokenVerifier(token_config(Settings()))
    try:
        token = verifier.mint(
            encode_gid("Customer", key),
            now=SystemClock().now(),
            ttl=timedelta(seconds=args.ttl_seconds),
        )
    except InvalidToken as error:
        print(f"paygate: {error}", file=sys.stderr)  # noqa: T201
        return 2
    print(token)  # noqa: T201
    return 0


def _verify(args: argparse.Namespace) -> int:
    """Check every money invariant; print the broken ones; exit 1 if any."""
    import json

    from app.services.invariants import RULES, violations

    async def run() -> list[object]:
        engine = _engine(Settings(), args.database_url)
        try:
            async with engine.connect() as connection:
                return list(await violations(connection))
        finally:
            await engine.dispose()

    found = asyncio.run(run())
    if args.json:
        print(json.dumps({"rules": list(RULES), "violations": [vars_of(v) for v in found]}))  # noqa: T201
    else:
        for violation in found:
            print(violation)  # noqa: T201
        print(f"{len(RULES)} rules checked, {len(found)} violations", file=sys.stderr)  # noqa: T201
    return 1 if found else 0


def vars_of(violation: object) -> dict[str, str]:
    return {name: str(getattr(violation, name)) for name in ("rule", "subject", "detail")}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paygate", description="GraphQL payments gateway.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server (GraphQL at /graphql)")
    serve.add_argument("--host", help="listen address (default PAYGATE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PAYGATE_PORT or 8000)")
    serve.add_argument("--log-level", default="info", help="uvicorn log level")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser(
        "migrate", help="apply database migrations (alembic head) and the job queue's tables"
    )
    migrate.set_defaults(run=_migrate)

    work = commands.add_parser(
        "worker", help="run the background jobs: renewals, dunning, reconciliation (PostgreSQL)"
    )
    work.add_argument("--concurrency", type=int, default=4, help="jobs run at once (default 4)")
    work.add_argument(
        "--queues",
        help="comma-separated queues to work on (default all: billing,payments,maintenance)",
    )
    work.add_argument("--log-level", default="info", help="lowest level logged (default info)")
    work.set_defaults(run=_worker)

    relay = commands.add_parser(
        "relay",
        help="publish the event log to the event bus (PAYGATE_EVENT_BUS_URL); the worker "
        "runs it too when that is set",
    )
    relay.add_argument("--log-level", default="info", help="lowest level logged (default info)")
    relay.set_defaults(run=_relay)

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("output", nargs="?", default="-", help="file to write, - for stdout")
    export.set_defaults(run=_export_schema)

    reconcile = commands.add_parser(
        "reconcile", help="resolve payments and refunds whose PSP outcome is unknown"
    )
    reconcile.add_argument("--grace-seconds", type=int, default=60, help="skip younger ones")
    reconcile.add_argument(
        "--stuck-after-minutes", type=int, default=60, help="report older unknowns as stuck"
    )
    reconcile.set_defaults(run=_reconcile)

    key = commands.add_parser("create-api-key", help="create a server API key; print it once")
    key.add_argument("--name", required=True, help="what the key is for")
    key.add_argument(
        "--role",
        required=True,
        choices=["admin", "support", "finance", "growth", "readonly"],
        help="what it may do",
    )
    key.set_defaults(run=_create_api_key)

    token = commands.add_parser(
        "customer-token", help="sign a customer session token (needs PAYGATE_AUTH__JWT_SECRET)"
    )
    token.add_argument("customer_id", help="the customer's global ID")
    token.add_argument("--ttl-seconds", type=int, default=3600, help="lifetime (default 3600)")
    token.set_defaults(run=_customer_token)

    verify = commands.add_parser(
        "verify", help="check the money invariants of the whole database; exit 1 if any broke"
    )
    verify.add_argument("--json", action="store_true", help="print a JSON report")
    verify.add_argument("--database-url", help="default PAYGATE_DATABASE_URL")
    verify.set_defaults(run=_verify)

    seed = commands.add_parser("seed-demo", help="add the demo catalog (idempotent)")
    seed.set_defaults(run=_seed_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from app.wiring import wire

    wire()
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
