"""The job queue in /readyz and /metrics (procrastinate's tables), and /metrics when the
database is away."""

from __future__ import annotations

from importlib import resources

import asyncpg
import httpx
import sqlalchemy as sa

from app.main import create_app
from app.settings import Settings
from tests.conftest import Api
from tests.observability.scrape import Scrape, scrape


async def install_procrastinate(api: Api) -> None:
    """procrastinate's own schema, as ``procrastinate schema --apply`` would install it."""
    schema = (resources.files("procrastinate.sql") / "schema.sql").read_text()
    url = api.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(schema)
    finally:
        await connection.close()


async def test_the_queue_when_required(api: Api) -> None:
    required = api.runtime.settings.model_copy(update={"queue_required": True})
    app = create_app(required, clock=api.runtime.clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        absent = await http.get("/readyz")
        assert absent.status_code == 503
        assert absent.json()["checks"] == {"database": "ok", "migrations": "ok", "queue": "absent"}
        await install_procrastinate(api)
        present = await http.get("/readyz")
        assert present.status_code == 200
        assert present.json()["checks"]["queue"] == "ok"
    await app.state.runtime.dispose()


async def test_queue_depth_and_oldest_age(api: Api) -> None:
    before = await scrape(api)
    assert before.value("paygate_job_queue_installed") == 0  # absent: reported as 0
    assert before.value("paygate_job_queue_depth") == 0
    await install_procrastinate(api)
    async with api.engine.begin() as connection:
        for scheduled in ("now() - interval '1 hour'", "NULL", "now() + interval '1 hour'"):
            await connection.execute(
                sa.text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, scheduled_at) "
                    f"VALUES ('billing', 'renew', {scheduled})"
                )
            )
        await connection.execute(  # running or finished jobs are not waiting
            sa.text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, status) "
                "VALUES ('billing', 'renew', 'succeeded')"
            )
        )
    after = await scrape(api)
    assert after.value("paygate_job_queue_installed") == 1
    assert after.value("paygate_job_queue_depth") == 2  # due: not the one in an hour
    assert 3590 < after.value("paygate_job_queue_oldest_age_seconds") < 3700


async def test_metrics_answer_without_the_database() -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
        migrate_on_start=False,
        seed_demo=False,
        metrics_db_timeout_seconds=2,
    )
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        response = await http.get("/metrics")
    await app.state.runtime.dispose()
    assert response.status_code == 200
    metrics = Scrape(response.text)
    assert metrics.value("paygate_metrics_database_up") == 0
    assert "paygate_job_queue_depth" not in metrics.samples  # unknown, not zero
    assert metrics.value("paygate_db_pool_size") == 10


async def test_metrics_is_served_at_its_own_path(api: Api) -> None:
    response = await api.http.get("/metrics", follow_redirects=False)
    assert response.status_code == 200
    assert "# TYPE paygate_http_request_duration_seconds histogram" in response.text
    off = api.runtime.settings.model_copy(update={"metrics_enabled": False})
    app = create_app(off, clock=api.runtime.clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/healthz")).status_code == 200
    await app.state.runtime.dispose()


async def test_pool_overflow_defaults_to_the_pool_size_and_can_be_capped() -> None:
    maxima = []
    for overflow in (None, 0):
        settings = Settings(
            database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
            migrate_on_start=False,
            seed_demo=False,
            db_pool_size=4,
            db_max_overflow=overflow,
            metrics_db_timeout_seconds=1,
        )
        app = create_app(settings)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            response = await http.get("/metrics")
        await app.state.runtime.dispose()
        maxima.append(Scrape(response.text).value("paygate_db_pool_max"))
    assert maxima == [8, 4]
