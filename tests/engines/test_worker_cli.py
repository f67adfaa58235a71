"""`paygate migrate` creates the queue's tables once; `paygate worker` runs the schedule on
PostgreSQL, stops cleanly on SIGTERM, and refuses SQLite."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from app.observability.metrics import Metrics
from app.psp.errors import WebhookVerificationError
from app.settings import Settings
from app.worker import SCHEDULE, Dependencies, apply_queue_schema, libpq_conninfo
from tests.psp.fake_server import free_port

ROOT = Path(__file__).resolve().parents[2]


async def paygate(*args: str, database_url: str) -> tuple[int, str]:
    """Run the `paygate` command; its exit code and what it wrote to stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args,
        cwd=ROOT, env={**os.environ, "PAYGATE_DATABASE_URL": database_url},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def query(database_url: str, sql: str) -> list[tuple[object, ...]]:
    conninfo = libpq_conninfo(database_url)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
        return list(await (await connection.execute(sql.encode())).fetchall())


QUEUE_TABLE = "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"


def test_the_queue_connects_with_libpq_to_the_database_of_the_url() -> None:
    url = Settings(database_url="postgres://pay:p%40ss@db:5433/paygate?ssl=require").database_url
    assert url.startswith("postgresql+asyncpg://")
    assert libpq_conninfo(url) == "postgresql://pay:p%40ss@db:5433/paygate?sslmode=require"
    assert libpq_conninfo("postgresql+asyncpg://db/p?ssl=true").endswith("?sslmode=require")


async def test_worker_refuses_sqlite(tmp_path: Path) -> None:
    code, stderr = await paygate("worker", database_url=f"sqlite+aiosqlite:///{tmp_path}/p.db")
    assert code == 2
    assert stderr.strip().endswith(
        "paygate worker: the worker needs PostgreSQL; in the embedded mode use advanceTestClock"
    )


async def test_worker_refuses_a_database_without_the_queue(database_url: str) -> None:
    code, stderr = await paygate("worker", database_url=database_url)
    assert code == 2
    assert "run `paygate migrate` first" in stderr


async def test_migrate_creates_the_queue_tables_once(database_url: str) -> None:
    assert await query(database_url, QUEUE_TABLE) == [(False,)]
    code, stderr = await paygate("migrate", database_url=database_url)
    assert (code, "created the job queue's tables" in stderr) == (0, True)
    assert await query(database_url, QUEUE_TABLE) == [(True,)]

    code, stderr = await paygate("migrate", database_url=database_url)  # idempotent
    assert (code, "created the job queue's tables" in stderr) == (0, False)


async def test_concurrent_migrations_apply_the_queue_schema_once(settings: Settings) -> None:
    applied = await asyncio.gather(*(apply_queue_schema(settings) for _ in range(3)))
    assert sorted(applied) == [False, False, True]


async def test_migrate_leaves_sqlite_alone(tmp_path: Path) -> None:
    code, stderr = await paygate("migrate", database_url=f"sqlite+aiosqlite:///{tmp_path}/p.db")
    assert (code, "queue" in stderr) == (0, False)


async def _schedule_ran(database_url: str) -> bool:
    """Whether this minute's jobs were deferred and none is left waiting or running."""
    every_minute = {name for name, s in SCHEDULE.items() if s.cron == "* * * * *"}
    # A generous wait: on a loaded machine the worker's start (interpreter, imports, first
    # connection) alone took more than 15 s.
    for _ in range(900):
        deferred = await query(database_url, "SELECT task_name FROM procrastinate_periodic_defers")
        pending = await query(
            database_url, "SELECT id FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        )
        if every_minute <= {name for (name,) in deferred} and not pending:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_worker_runs_the_schedule_and_stops_on_sigterm(database_url: str) -> None:
    assert (await paygate("migrate", database_url=database_url))[0] == 0
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "worker", "--concurrency", "2",
        cwd=ROOT, env={**os.environ, "PAYGATE_DATABASE_URL": database_url,
                       "PAYGATE_WORKER_METRICS_PORT": str(port)},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        # On start it defers this minute's jobs (procrastinate keeps one per tick) and runs
        # them; it deletes the jobs that succeeded and keeps the others
        ran = await _schedule_ran(database_url)
        jobs = await query(database_url, "SELECT task_name, status FROM procrastinate_jobs")
        workers = await query(database_url, "SELECT count(*) FROM procrastinate_workers")
        async with httpx.AsyncClient() as http:  # the worker's own metrics (a Pod's port)
            scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    log = stderr.decode()
    assert (ran, jobs, workers) == (True, [], [(1,)]), log
    assert process.returncode == 0, log
    assert "Stopped worker" in log
    assert "# TYPE paygate_psp_requests_total counter" in scraped
    assert "paygate_build_info{" in scraped and "process_cpu_seconds_total" in scraped
    assert await query(database_url, "SELECT count(*) FROM procrastinate_workers") == [(0,)]


async def test_the_workers_psp_calls_are_counted(settings: Settings) -> None:
    metrics = Metrics()
    deps = Dependencies.from_settings(settings, metrics=metrics)
    with pytest.raises(WebhookVerificationError):  # a forged webhook: refused, and counted
        await deps.psps.get("sandbox").parse_webhook({}, b"{}", now=datetime.now(UTC))
    counted = metrics.registry.get_sample_value(
        "paygate_psp_requests_total",
        {"psp": "sandbox", "operation": "parse_webhook", "outcome": "webhook_verification_error"},
    )
    assert counted == 1
    plain = Dependencies.from_settings(settings)  # without metrics: the gateways as they are
    assert type(plain.psps.get("sandbox")).__name__ == "SandboxGateway"
