"""Background jobs on a PostgreSQL-backed queue (procrastinate), run by ``paygate worker``.

Every job calls the same services as GraphQL and the CLI, with a session of its own:

| job                         | queue       | runs           | does                               |
|-----------------------------|-------------|----------------|------------------------------------|
| bill_due_subscriptions      | billing     | every minute   | renewals, dunning on wall clock    |
| reconcile_payments          | payments    | every minute   | unknown PSP outcomes, webhooks     |
| purge_idempotency_keys      | maintenance | hourly, at :17 | keys past their retention          |
| purge_events                | maintenance | hourly, at :17 | events past their retention        |
| delete_erased_psp_customers | maintenance | every minute   | erased customers still at a PSP    |
| release_stalled_jobs        | maintenance | every minute   | frees the locks of dead workers    |
| check_experiment_guardrails | maintenance | every 5 min    | pauses experiments over guardrails |
| remind_dispute_evidence     | maintenance | every 5 min    | dispute.evidence_due_soon, once    |
| deliver_webhooks            | webhooks    | every 2 s      | merchants' webhooks: fan-out, sends|
| close_reviews               | payments    | every minute   | reviews past their time: default   |

With ``PAYGATE_EVENT_BUS_URL`` set, the worker also runs the event bus relay
(``app.services.outbox.bus.relay``) as a task beside the jobs; ``paygate relay`` runs it alone.
Behind a transaction pooler (``PAYGATE_DATABASE_TRANSACTION_POOLING``) the queue itself runs
on ``PAYGATE_DATABASE_DIRECT_URL`` (:func:`queue_conninfo`), the jobs' sessions through the
pooler.

Several workers (processes or machines) may run at once. Each worker defers the periodic
jobs, and procrastinate keeps one job per task and tick; a job's ``queueing_lock`` keeps
at most one of it waiting, and its ``lock`` lets only one run at a time, so slow runs do not
pile up. The services are safe under concurrency anyway (unique constraints, row locks,
PSP calls keyed per attempt), so two runs that do overlap bill nothing twice.

Jobs take their dependencies (settings, PSP registry, clock) from :func:`dependencies`:
built once per process from the environment, or set by :func:`use_dependencies` (tests
share the API's in-memory sandbox PSP with the worker this way).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import procrastinate
import psycopg
from procrastinate.exceptions import ConnectorException
from procrastinate.job_context import JobContext
from procrastinate.jobs import Status
from prometheus_client import start_http_server
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import make_engine, make_session_factory
from app.domain.clock import Clock, SystemClock
from app.observability.metrics import Metrics
from app.observability.psp import instrument
from app.psp.registry import PspRegistry, build_registry
from app.services import erasure, idempotency
from app.services.billing import renewals
from app.services.disputes import reminders
from app.services.experiments import guardrails
from app.services.metering import maintenance as usage_maintenance
from app.services.outbox import log as outbox_log
from app.services.outbox.bus.relay import Relay, RelayConfig
from app.services.payments import reviews
from app.services.webhooks import reconciliation
from app.services.webhooks_out import runner
from app.services.webhooks_out.config import DeliveryConfig
from app.settings import DirectUrlRequired, Settings
from app.wiring import wire

logger = logging.getLogger("paygate.worker")

BILLING, PAYMENTS, MAINTENANCE = "billing", "payments", "maintenance"
WEBHOOKS = "webhooks"
QUEUES = (BILLING, PAYMENTS, MAINTENANCE, WEBHOOKS)
NEEDS_POSTGRES = "the worker needs PostgreSQL; in the embedded mode use advanceTestClock"
_SCHEMA_LOCK = 0x70_61_79_67_61_74_65  # pg_advisory_lock key of the queue schema ("paygate")


class QueueUnavailable(RuntimeError):
    """The job queue cannot run here (SQLite, its tables are missing, or only a transaction
    pooler's URL is given)."""


# --- dependencies -----------------------------------------------------------------------


@dataclass(frozen=True)
class Dependencies:
    settings: Settings
    psps: PspRegistry
    clock: Clock

    def __post_init__(self) -> None:
        wire()  # every job runs with its dependencies: the services' event handlers too

    @classmethod
    def from_settings(cls, settings: Settings, *, metrics: Metrics | None = None) -> Dependencies:
        """``metrics``: count the jobs' PSP calls there (as the API counts its own)."""
        clock = SystemClock()
        wrap = instrument(metrics) if metrics is not None else None
        psps = build_registry(settings, clock=clock, wrap=wrap)
        return cls(settings=settings, psps=psps, clock=clock)


_dependencies: Dependencies | None = None


def dependencies() -> Dependencies:
    """This process's dependencies, built from the environment on first use."""
    global _dependencies
    if _dependencies is None:
        _dependencies = Dependencies.from_settings(Settings())
    return _dependencies


@contextmanager
def use_dependencies(chosen: Dependencies) -> Iterator[Dependencies]:
    """Run jobs with ``chosen`` until the block ends."""
    global _dependencies
    previous, _dependencies = _dependencies, chosen
    try:
        yield chosen
    finally:
        _dependencies = previous


@asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on an engine of its own, disposed of when the job ends (billing holds up
    to two more connections, each in a transaction holding an advisory lock: the
    subscription's and the invoice's collection)."""
    engine = make_engine(
        settings.database_url,
        pool_size=2,
        transaction_pooling=settings.database_transaction_pooling,
    )
    try:
        async with make_session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


# --- the jobs ---------------------------------------------------------------------------
# ``timestamp`` is the tick a periodic job was deferred for; jobs deferred by hand omit it.


async def bill_due_subscriptions(timestamp: int | None = None) -> dict[str, int]:
    """Renewals and dunning retries of the customers on the wall clock (not test clocks)."""
    deps = dependencies()
    async with _session(deps.settings) as session:
        steps = await renewals.run_due(
            session,
            psps=deps.psps,
            clock=deps.clock,
            test_clock_id=None,
            policy=deps.settings.dunning_policy,
            grace=deps.settings.usage_grace,
        )
    return {"steps": steps}


async def reconcile_payments(timestamp: int | None = None) -> dict[str, int]:
    """Ask the PSPs about unknown outcomes; apply webhook events that were waiting."""
    deps = dependencies()
    async with _session(deps.settings) as session:
        report = await reconciliation.reconcile(session, psps=deps.psps, clock=deps.clock)
    return {
        "resolved": len(report.resolved),
        "unresolved": len(report.unresolved),
        "stuck": len(report.stuck),
        "events_applied": report.events_applied,
    }


async def close_reviews(timestamp: int | None = None) -> dict[str, int]:
    """Reviews nobody decided in time get the default action (PAYGATE_RISK_REVIEW_DEFAULT);
    decisions interrupted before they were carried out are carried out."""
    deps = dependencies()
    async with _session(deps.settings) as session:
        closed = await reviews.close_due(
            session, psps=deps.psps, clock=deps.clock, default=deps.settings.risk_review_default
        )
    return {"closed": closed}


async def purge_idempotency_keys(timestamp: int | None = None) -> dict[str, int]:
    deps = dependencies()
    async with _session(deps.settings) as session:
        return {"deleted": await idempotency.purge_expired(session, clock=deps.clock)}


async def purge_events(timestamp: int | None = None) -> dict[str, int]:
    """Delete the events older than ``event_retention_days`` (the log's replay window).
    Events carry their commit's wall-clock time (test clocks move objects, not commits)."""
    deps = dependencies()
    before = datetime.now(UTC) - timedelta(days=deps.settings.event_retention_days)
    async with _session(deps.settings) as session:
        return {"deleted": await outbox_log.purge(session, before=before)}


async def maintain_usage(timestamp: int | None = None) -> dict[str, int]:
    """Usage storage: monthly partitions created ahead, old raw partitions detached
    (``usage_raw_retention_months``), usage keys purged after 36 days."""
    deps = dependencies()
    now = deps.clock.now()
    async with _session(deps.settings) as session:
        created = await usage_maintenance.ensure_partitions(session, now=now)
        detached: list[str] = []
        months = deps.settings.usage_raw_retention_months
        if months is not None:
            detached = await usage_maintenance.detach_old(session, now=now, keep_months=months)
        purged = await usage_maintenance.purge_keys(session, now=now)
    return {"created": len(created), "detached": len(detached), "keys_purged": purged}


async def delete_erased_psp_customers(timestamp: int | None = None) -> dict[str, int]:
    """Delete at their PSPs the erased customers whose deletion failed so far (GDPR)."""
    deps = dependencies()
    async with _session(deps.settings) as session:
        report = await erasure.retry_psp_deletions(session, psps=deps.psps, clock=deps.clock)
    return {"deleted": report.deleted, "pending": report.pending}


async def check_experiment_guardrails(timestamp: int | None = None) -> dict[str, int]:
    """Pause running pricing experiments whose refund, dispute or payment failure rate is
    over its guardrail (results pause them too, when they are read)."""
    deps = dependencies()
    async with _session(deps.settings) as session:
        paused = await guardrails.check_running(session, clock=deps.clock)
    return {"paused": len(paused)}


async def remind_dispute_evidence(timestamp: int | None = None) -> dict[str, int]:
    """State ``dispute.evidence_due_soon`` for the disputes whose evidence is due within
    ``dispute_evidence_notice_days``: once per dispute and due date, whatever the number of
    workers (``app.services.disputes.reminders``)."""
    deps = dependencies()
    notice = timedelta(days=deps.settings.dispute_evidence_notice_days)
    async with _session(deps.settings) as session:
        stated = await reminders.remind_due(session, now=deps.clock.now(), notice=notice)
    return {"stated": stated}


async def deliver_webhooks(timestamp: int | None = None) -> dict[str, int]:
    """Webhooks to merchants: fan the new events out, send what is due (one round). It has
    no ``lock``: a worker killed mid-round would hold it until ``release_stalled_jobs`` (a
    minute or more); rounds are safe side by side (SKIP LOCKED claims, and an attempt a
    dead worker left is sent again when its hold ends)."""
    deps = dependencies()
    engine = make_engine(
        deps.settings.database_url,
        pool_size=2,
        transaction_pooling=deps.settings.database_transaction_pooling,
    )
    try:
        attempts = await runner.run_round(
            make_session_factory(engine),
            clock=deps.clock,
            config=DeliveryConfig.of(deps.settings),
        )
    finally:
        await engine.dispose()
    return {"attempts": attempts}


async def release_stalled_jobs(context: JobContext, timestamp: int | None = None) -> dict[str, int]:
    """Fail the jobs of workers that died (no heartbeat for 30 s), which would otherwise
    hold their ``lock`` for ever. The next tick does their work: every job is idempotent."""
    assert context.app is not None
    manager = context.app.job_manager
    released = 0
    for job in await manager.get_stalled_jobs():
        try:
            await manager.finish_job(job, status=Status.FAILED, delete_job=False)
        except ConnectorException:
            continue  # finished meanwhile, or released by another worker
        logger.warning("released job %s (%s) of a worker that stopped", job.id, job.task_name)
        released += 1
    return {"released": released}


@dataclass(frozen=True)
class _Schedule:
    queue: str
    cron: str


SCHEDULE: dict[str, _Schedule] = {
    "bill_due_subscriptions": _Schedule(BILLING, "* * * * *"),
    "reconcile_payments": _Schedule(PAYMENTS, "* * * * *"),
    "close_reviews": _Schedule(PAYMENTS, "* * * * *"),
    "purge_idempotency_keys": _Schedule(MAINTENANCE, "17 * * * *"),
    "purge_events": _Schedule(MAINTENANCE, "17 * * * *"),
    "maintain_usage": _Schedule(MAINTENANCE, "17 * * * *"),
    "delete_erased_psp_customers": _Schedule(MAINTENANCE, "* * * * *"),
    "release_stalled_jobs": _Schedule(MAINTENANCE, "* * * * *"),
    "check_experiment_guardrails": _Schedule(MAINTENANCE, "*/5 * * * *"),
    "remind_dispute_evidence": _Schedule(MAINTENANCE, "*/5 * * * *"),
    "deliver_webhooks": _Schedule(WEBHOOKS, "* * * * * */2"),  # croniter: seconds last
}


# --- the procrastinate app --------------------------------------------------------------


def libpq_conninfo(database_url: str) -> str:
    """The libpq URI of a SQLAlchemy PostgreSQL URL (``postgresql+asyncpg://…``)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise QueueUnavailable(NEEDS_POSTGRES)
    query = dict(url.query)
    if "ssl" in query and "sslmode" not in query:  # asyncpg's name for it
        ssl = query.pop("ssl")
        query["sslmode"] = {"true": "require", "false": "disable"}.get(str(ssl).lower(), ssl)
    rendered: str = url.set(drivername="postgresql", query=query).render_as_string(
        hide_password=False
    )
    return rendered


def queue_conninfo(settings: Settings) -> str:
    """The libpq URI of the queue's database: ``database_direct_url``, else
    ``database_url``. procrastinate's worker LISTENs for new jobs, which a transaction
    pooler cannot carry (and psycopg would prepare statements after 5 runs): with
    ``database_transaction_pooling`` and no direct URL, :class:`QueueUnavailable`."""
    try:
        url = settings.session_url_for("the job queue (procrastinate's LISTEN/NOTIFY)")
    except DirectUrlRequired as error:
        raise QueueUnavailable(str(error)) from None
    return libpq_conninfo(url)


def build_app(settings: Settings, *, pool_size: int = 4) -> procrastinate.App:
    """The queue on :func:`queue_conninfo`, with the jobs and their schedule.
    Raises :class:`QueueUnavailable` on SQLite."""
    connector = procrastinate.PsycopgConnector(
        conninfo=queue_conninfo(settings), min_size=1, max_size=pool_size
    )
    queue = procrastinate.App(connector=connector, worker_defaults={"delete_jobs": "successful"})

    for function in (
        bill_due_subscriptions,
        reconcile_payments,
        close_reviews,
        purge_idempotency_keys,
        purge_events,
        maintain_usage,
        delete_erased_psp_customers,
        check_experiment_guardrails,
        remind_dispute_evidence,
    ):
        name = function.__name__
        schedule = SCHEDULE[name]
        task = queue.task(name=name, queue=schedule.queue, lock=name, queueing_lock=name)(function)
        queue.periodic(cron=schedule.cron, periodic_id=name)(task)
    name, schedule = "deliver_webhooks", SCHEDULE["deliver_webhooks"]
    hooks = queue.task(name=name, queue=schedule.queue, queueing_lock=name)(deliver_webhooks)
    queue.periodic(cron=schedule.cron, periodic_id=name)(hooks)
    # No lock: if this job stalled too, nothing would be left to free it.
    name, schedule = "release_stalled_jobs", SCHEDULE["release_stalled_jobs"]
    stalled = queue.task(name=name, queue=schedule.queue, queueing_lock=name, pass_context=True)(
        release_stalled_jobs
    )
    queue.periodic(cron=schedule.cron, periodic_id=name)(stalled)
    return queue


async def queue_schema_applied(conninfo: str) -> bool:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
        found = await (
            await connection.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        ).fetchone()
    return bool(found and found[0])


async def apply_queue_schema(settings: Settings) -> bool:
    """Create procrastinate's tables unless they exist (``paygate migrate``). Concurrent
    callers wait for each other (a session advisory lock: on the direct URL, see
    :func:`queue_conninfo`). Returns whether the schema was applied now."""
    conninfo = queue_conninfo(settings)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as lock:
        await lock.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            if await queue_schema_applied(conninfo):
                return False
            queue = build_app(settings, pool_size=1)
            async with queue.open_async():
                await queue.schema_manager.apply_schema_async()
            return True
        finally:
            await lock.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


async def run(
    settings: Settings, *, concurrency: int = 4, queues: Iterable[str] | None = None
) -> None:
    """Work until SIGINT or SIGTERM (``paygate worker``): finish the running jobs, then stop.
    With ``PAYGATE_EVENT_BUS_URL`` set, the event bus relay runs beside the jobs (a task of
    this process, stopped after them); with ``PAYGATE_WORKER_METRICS_PORT``, its metrics
    (the jobs' PSP calls, the process) are served on that port."""
    queue = build_app(settings, pool_size=concurrency + 2)
    if not await queue_schema_applied(queue_conninfo(settings)):
        raise QueueUnavailable("the job queue's tables are missing: run `paygate migrate` first")
    stop = asyncio.Event()
    metrics = None
    if settings.worker_metrics_port is not None:
        metrics = Metrics()
        start_http_server(settings.worker_metrics_port, registry=metrics.registry)
    relay = None
    if settings.event_bus_url is not None:
        relay = asyncio.create_task(run_relay(settings, stop), name="paygate-relay")
    try:
        with use_dependencies(Dependencies.from_settings(settings, metrics=metrics)):
            async with queue.open_async():
                if queues:
                    await queue.run_worker_async(concurrency=concurrency, queues=list(queues))
                else:
                    await queue.run_worker_async(concurrency=concurrency)
    finally:
        if relay is not None:
            await stop_relay(relay, stop)


# --- the event bus relay ----------------------------------------------------------------

RELAY_STOP_SECONDS = 15.0  # a batch under way is finished (its publishes are confirmed)


async def run_relay(settings: Settings, stop: asyncio.Event) -> None:
    """The event bus relay until ``stop`` is set (``paygate relay``, or inside the worker);
    its metrics on ``PAYGATE_EVENT_BUS_METRICS_PORT`` when set."""
    metrics = Metrics()
    if settings.event_bus_metrics_port is not None:
        start_http_server(settings.event_bus_metrics_port, registry=metrics.registry)
    relay = Relay(RelayConfig.from_settings(settings), clock=SystemClock(), metrics=metrics)
    await relay.run(stop)


async def stop_relay(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Let the relay finish its batch, then end it (cancelled after ``RELAY_STOP_SECONDS``:
    the batch is published again by the next relay, which consumers deduplicate)."""
    stop.set()
    try:
        await asyncio.wait_for(task, RELAY_STOP_SECONDS)
    except TimeoutError:
        logger.warning("the event bus relay did not stop in time; cancelled")
