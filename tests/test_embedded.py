"""The embedded mode: SQLite file, migrated and seeded on start, through the same code."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.main import create_app
from app.settings import Settings


async def _start(url: str) -> list[str]:
    app = create_app(Settings(database_url=url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        assert (await http.get("/readyz")).status_code == 200
        catalog = (
            await http.post(
                "/graphql",
                json={
                    "query": "{ products(first: 100) { edges { node { name "
                    "prices { lookupKey unitAmount { formatted } } } } } }"
                },
            )
        ).json()
        created = (
            await http.post(
                "/graphql",
                json={
                    "query": 'mutation { createCustomer(input: {email: "e@example.com"}) '
                    "{ customer { id } userErrors { code } } }"
                },
            )
        ).json()
        assert created["data"]["createCustomer"]["userErrors"] == []
        html = await http.get("/graphql", headers={"accept": "text/html"})
        assert html.status_code == 200
        assert "default-src" in html.headers["content-security-policy"]
    return sorted(
        price["lookupKey"]
        for edge in catalog["data"]["products"]["edges"]
        for price in edge["node"]["prices"]
    )


async def test_sqlite_file_is_migrated_and_seeded_idempotently(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'paygate.db'}"
    first = await _start(url)
    assert "pro_monthly_usd" in first
    assert await _start(url) == first  # a restart seeds nothing twice


async def test_production_profile_turns_off_graphiql_and_seeding(tmp_path: Path) -> None:
    app = create_app(
        Settings(
            profile="production",
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
            migrate_on_start=True,
        )
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        page = await http.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 404
        body = await http.post("/graphql", json={"query": "{ products { totalCount } }"})
        assert body.json()["data"]["products"]["totalCount"] == 0
