"""Gauges read when Prometheus scrapes: the database pool, the webhook backlog, payments
stuck with an unknown outcome, the job queue, and the outbound side (the event log's end,
webhooks to merchants waiting, endpoints disabled). Read from the database, they hold
whichever process did the work (the worker on PostgreSQL, which serves no /metrics).

``/metrics`` awaits :meth:`ScrapeCollector.refresh` (a few indexed reads, under a short
timeout) and then renders the registry, whose ``collect`` yields what was just read. When
the reads fail or time out, ``paygate_metrics_database_up`` is 0 and the database gauges
are left out rather than reported as zero.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.clock import Clock

logger = logging.getLogger("paygate.metrics")

_QUEUE_PRESENT = sa.text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
# Jobs due and waiting for a worker; a job's age runs from when it became due.
_QUEUE = sa.text(
    """
    SELECT count(*),
           coalesce(extract(epoch FROM now() - min(coalesce(j.scheduled_at, d.at))), 0)
    FROM procrastinate_jobs AS j
    LEFT JOIN LATERAL (
        SELECT min(e.at) AS at FROM procrastinate_events AS e
        WHERE e.job_id = j.id AND e.type = 'deferred'
    ) AS d ON true
    WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
    """
)
_STUCK = sa.text(
    "SELECT psp, count(*) FROM payments WHERE outcome_unknown_since < :cutoff GROUP BY psp"
)
_LOG_END = sa.text("SELECT coalesce(max(seq), 0) FROM events")
_BUS_CURSOR = sa.text("SELECT seq FROM outbox_cursors WHERE name = 'bus'")
_OUTBOUND = sa.text(
    "SELECT count(*), min(created_at) FROM webhook_deliveries WHERE status = 'pending'"
)
_DISABLED = sa.text(
    "SELECT disabled_reason, count(*) FROM webhook_endpoints "
    "WHERE disabled_at IS NOT NULL GROUP BY disabled_reason"
)
_BACKLOG = sa.text(
    "SELECT psp, count(*), min(created_at) FROM webhook_events "
    "WHERE processed_at IS NULL GROUP BY psp"
)


async def queue_installed(connection: AsyncConnection) -> bool | None:
    """Whether procrastinate's tables exist; None where there is no queue (SQLite)."""
    if connection.dialect.name != "postgresql":
        return None
    return bool(await connection.scalar(_QUEUE_PRESENT))


@dataclass
class DatabaseStats:
    queue_installed: bool = False
    queue_depth: int = 0
    queue_oldest_age: float = 0.0
    stuck: dict[str, int] = field(default_factory=dict)
    backlog: dict[str, int] = field(default_factory=dict)
    backlog_oldest_age: dict[str, float] = field(default_factory=dict)
    log_end: int = 0
    bus_cursor: int | None = None  # None: no relay has run
    outbound_pending: int = 0
    outbound_oldest_age: float = 0.0
    endpoints_disabled: dict[str, int] = field(default_factory=dict)


class ScrapeCollector(Collector):
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock,
        psps: Iterable[str],
        timeout: float,
        stuck_after: timedelta,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.psps = tuple(psps)
        self.timeout = timeout
        self.stuck_after = stuck_after
        self.stats: DatabaseStats | None = None

    async def refresh(self) -> None:
        try:
            self.stats = await asyncio.wait_for(self._read(), self.timeout)
        except Exception as error:
            logger.warning("metrics: database reads failed (%s)", type(error).__name__)
            self.stats = None

    async def _read(self) -> DatabaseStats:
        stats = DatabaseStats()
        now = self.clock.now()
        async with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                millis = max(1, int(self.timeout * 1000))
                await connection.execute(sa.text(f"SET LOCAL statement_timeout = {millis}"))
            for psp, count in await connection.execute(_STUCK, {"cutoff": now - self.stuck_after}):
                stats.stuck[psp] = count
            for psp, count, oldest in await connection.execute(_BACKLOG):
                stats.backlog[psp] = count
                stats.backlog_oldest_age[psp] = max(0.0, (now - _aware(oldest)).total_seconds())
            stats.log_end = int(await connection.scalar(_LOG_END) or 0)
            cursor = await connection.scalar(_BUS_CURSOR)
            stats.bus_cursor = None if cursor is None else int(cursor)
            pending, oldest = (await connection.execute(_OUTBOUND)).one()
            stats.outbound_pending = int(pending)
            if oldest is not None:
                stats.outbound_oldest_age = max(0.0, (now - _aware(oldest)).total_seconds())
            for reason, count in await connection.execute(_DISABLED):
                stats.endpoints_disabled[str(reason)] = int(count)
            if await queue_installed(connection):
                stats.queue_installed = True
                depth, age = (await connection.execute(_QUEUE)).one()
                stats.queue_depth, stats.queue_oldest_age = int(depth), float(age)
        return stats

    def describe(self) -> Iterable[Any]:
        return ()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._pool()
        stats = self.stats
        up = GaugeMetricFamily(
            "paygate_metrics_database_up",
            "Whether the database reads of the last scrape succeeded.",
        )
        up.add_metric([], 1 if stats is not None else 0)
        yield up
        if stats is None:
            return
        psps = sorted({*self.psps, *stats.stuck, *stats.backlog})
        yield _by_psp(
            "paygate_payments_stuck_unknown_outcome",
            "Payments whose PSP outcome has been unknown for longer than the threshold "
            "(PAYGATE_METRICS_STUCK_AFTER_MINUTES).",
            psps,
            stats.stuck,
        )
        yield _by_psp(
            "paygate_webhook_backlog",
            "Stored webhook events not applied yet (waiting for what they refer to).",
            psps,
            stats.backlog,
        )
        yield _by_psp(
            "paygate_webhook_backlog_oldest_age_seconds",
            "Age of the oldest webhook event not applied yet (since received).",
            psps,
            stats.backlog_oldest_age,
        )
        for name, doc, value in (
            ("paygate_job_queue_installed", "Whether the job queue's tables exist.",
             float(stats.queue_installed)),
            ("paygate_job_queue_depth", "Jobs due and waiting for a worker.",
             float(stats.queue_depth)),
            ("paygate_job_queue_oldest_age_seconds",
             "How long the oldest job due has been waiting.", stats.queue_oldest_age),
            ("paygate_event_log_sequence", "The sequence of the newest event of the log.",
             float(stats.log_end)),
            ("paygate_webhook_deliveries_pending",
             "Deliveries of events to merchants' endpoints not done yet.",
             float(stats.outbound_pending)),
            ("paygate_webhook_delivery_oldest_pending_age_seconds",
             "How long the oldest pending delivery to a merchant has waited.",
             stats.outbound_oldest_age),
        ):  # fmt: skip
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            yield gauge
        if stats.bus_cursor is not None:
            bus = GaugeMetricFamily(
                "paygate_event_bus_cursor",
                "The sequence of the last event the event bus relay published (its lag: "
                "paygate_event_log_sequence minus this).",
            )
            bus.add_metric([], float(stats.bus_cursor))
            yield bus
        disabled = GaugeMetricFamily(
            "paygate_webhook_endpoints_disabled_now",
            "Merchant webhook endpoints disabled now, by reason (gone, failing, manual).",
            labels=["reason"],
        )
        for reason in ("gone", "failing", "manual"):
            disabled.add_metric([reason], float(stats.endpoints_disabled.get(reason, 0)))
        yield disabled

    def _pool(self) -> Iterator[GaugeMetricFamily]:
        pool: Any = self.engine.sync_engine.pool
        size = getattr(pool, "size", None)
        checked_out = getattr(pool, "checkedout", None)
        if not callable(size) or not callable(checked_out):
            return
        for name, doc, value in (
            ("paygate_db_pool_size", "Connections the pool keeps open.", size()),
            ("paygate_db_pool_max", "Connections the pool may open (size and overflow).",
             size() + max(0, getattr(pool, "_max_overflow", 0))),
            ("paygate_db_pool_checked_out", "Connections in use.", checked_out()),
        ):  # fmt: skip
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], float(value))
            yield gauge


def _by_psp(
    name: str, documentation: str, psps: list[str], values: dict[str, Any]
) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation, labels=["psp"])
    for psp in psps:
        gauge.add_metric([psp], float(values.get(psp, 0)))
    return gauge


def _aware(moment: datetime | str) -> datetime:
    """SQLite hands back naive UTC timestamps (as text) from a textual query."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
