"""Health: /healthz is the process, /readyz the database and its migrations."""

from __future__ import annotations

import httpx

from app.main import create_app
from app.settings import Settings
from tests.conftest import Api


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
