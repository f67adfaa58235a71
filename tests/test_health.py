"""Health: /healthz is the process, /readyz the database and its migrations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from app.main import create_app
from app.settings import Settings
from tests.conftest import Api
from tests.psp.fake_server import free_port

ROOT = Path(__file__).resolve().parents[1]


async def test_healthz_and_readyz_when_migrated(api: Api) -> None:
    health = await api.http.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert health.headers["x-request-id"]
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    # no procrastinate tables yet: noted, and ready unless PAYGATE_QUEUE_REQUIRED
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "queue": "absent"}


async def test_readyz_refuses_unmigrated_and_unreachable_databases(tmp_path: object) -> None:
    for url, expected in [
        (
            f"sqlite+aiosqlite:///{tmp_path}/empty.db",
            {"database": "ok", "migrations": "pending", "queue": "absent"},
        ),
        ("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", {"database": "unreachable"}),
    ]:
        app = create_app(Settings(database_url=url, migrate_on_start=False, seed_demo=False))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            ready = await http.get("/readyz")
        await app.state.runtime.dispose()
        assert ready.status_code == 503
        assert ready.json()["checks"] == expected
        assert "nowhere" not in ready.text  # no connection details leak


async def test_request_id_is_echoed_when_well_formed(api: Api) -> None:
    mine = await api.http.get("/healthz", headers={"x-request-id": "req-12345678"})
    assert mine.headers["x-request-id"] == "req-12345678"
    hostile = await api.http.get("/healthz", headers={"x-request-id": "<script>"})
    assert hostile.headers["x-request-id"] != "<script>"


async def test_sigterm_turns_readiness_off_while_requests_are_still_served(
    tmp_path: Path,
) -> None:
    """A rolling restart: after SIGTERM `paygate serve` answers /readyz with 503 (the load
    balancer takes it out) but serves requests for PAYGATE_SHUTDOWN_DELAY_SECONDS, then
    stops cleanly."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "serve", "--port", str(port),
        cwd=ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/p.db",
             "PAYGATE_SHUTDOWN_DELAY_SECONDS": "3"},
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            deadline = time.monotonic() + 120  # migrations on start: slow on a busy machine
            while time.monotonic() < deadline:
                assert process.returncode is None, "paygate serve exited"
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("paygate serve did not become ready")
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            ready = await http.get("/readyz")
            assert (ready.status_code, ready.json()["status"]) == (503, "draining")
            assert (await http.get("/healthz")).status_code == 200  # alive: not restarted
            answer = await http.post("/graphql", json={"query": "{ products { totalCount } }"})
            assert answer.status_code == 200 and "errors" not in answer.json()
            assert process.returncode is None and time.monotonic() - signalled < 3
        await asyncio.wait_for(process.wait(), timeout=15)
        assert time.monotonic() - signalled >= 3  # it served out the delay
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stderr is not None
    log = (await process.stderr.read()).decode()
    assert "Finished server process" in log, log[-2000:]


async def test_readyz_stays_ready_on_a_schema_a_newer_release_migrated(api: Api) -> None:
    """A rolling deploy migrates first: the previous release's replicas must stay in the
    load balancer's rotation on the newer schema (expand/contract), and a replica whose
    database is behind its code must not be."""
    async with api.engine.begin() as connection:
        (head,) = (
            await connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        ).one()
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999_newer'"))
    ahead = await api.http.get("/readyz")
    assert (ahead.status_code, ahead.json()["checks"]["migrations"]) == (200, "ahead")
    async with api.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = '0013'"))
    behind = await api.http.get("/readyz")
    assert (behind.status_code, behind.json()["checks"]["migrations"]) == (503, "pending")
    async with api.engine.begin() as connection:
        await connection.execute(
            sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head}
        )
    assert (await api.http.get("/readyz")).status_code == 200
