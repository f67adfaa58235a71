"""Zero-downtime migrations: the previous release keeps working on the migrated schema.

During a rolling deploy the migration Job runs first, and the previous release's replicas
serve on the new schema until they are replaced; migrations are expand/contract for that
(README, Zero-downtime migrations). Here the previous release is the code as it was just
before the newest migration was added (from git), run from a tree of its own against a
database migrated to this release's head, and driven through its main queries."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.migrations import schema_state
from tests.deploy.cluster import ClusterApi
from tests.factories import (
    customer_with,
    get_payment,
    monthly_price,
    paid_payment,
    refund,
    subscribe,
)
from tests.psp.fake_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def previous_release(into: Path) -> str:
    """Write the previous release's ``app`` and ``alembic`` into ``into``: its commit."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history of the checkout")

    def run(*argv: str) -> str:
        return subprocess.run(
            [git, *argv], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.strip()

    newest = run("log", "-1", "--diff-filter=A", "--format=%H", "--", "alembic/versions")
    if not newest:
        pytest.skip("a shallow checkout: the newest migration's commit is not in it")
    commit = run("rev-parse", f"{newest}^")
    archive = subprocess.run(
        [git, "archive", commit, "app", "alembic", "alembic.ini"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout  # fmt: skip
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit


def test_the_schema_state_of_a_newer_release_is_ahead_not_pending() -> None:
    known = {"0013", "0014"}
    assert schema_state({"0014"}, {"0014"}, known) == "ok"
    assert schema_state({"0015"}, {"0014"}, known) == "ahead"  # a newer release migrated
    assert schema_state({"0013"}, {"0014"}, known) == "pending"
    assert schema_state(set(), {"0014"}, known) == "pending"


@pytest.mark.slow
async def test_the_previous_release_serves_its_main_queries_on_the_migrated_schema(
    database_url: str, tmp_path: Path
) -> None:
    old = tmp_path / "previous"
    commit = previous_release(old)
    assert not (old / "alembic" / "versions").samefile(ROOT / "alembic" / "versions")
    newest = sorted(p.name for p in (ROOT / "alembic" / "versions").glob("0*.py"))[-1]
    assert not (old / "alembic" / "versions" / newest).exists(), commit  # it predates it
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(old),  # its own code, not this checkout's
        "PAYGATE_DATABASE_URL": database_url,  # migrated to this release's head
        "PAYGATE_MIGRATE_ON_START": "false",
        "PAYGATE_SEED_DEMO": "false",
    }
    log = (tmp_path / "previous.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "serve", "--port", str(port),
        cwd=old, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                assert process.returncode is None, (tmp_path / "previous.log").read_text()
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
            # It is the previous release: the schema is ahead of its migrations. (Releases
            # before readiness knew "ahead" answered 503 "pending" here, and a rolling
            # deploy lost their replicas as soon as the migration Job ran.)
            ready = (await http.get("/readyz")).json()
            assert ready["checks"]["migrations"] in ("ahead", "pending"), ready
            api = ClusterApi(http)
            # the checkout: a customer with a card, a payment, a partial refund
            customer = await customer_with(api)
            payment = await paid_payment(api, customer, "42.00")
            refunded = await refund(api, payment, "12.00")
            assert refunded["userErrors"] == [] and refunded["refund"]["status"] == "SUCCEEDED"
            found = await get_payment(api, payment)
            assert found["amountRefunded"]["amount"] == "12.00"
            # the catalog and billing: a price, a subscription and its first invoice
            price = await monthly_price(api, "9.00")
            created = await subscribe(api, customer, price)
            assert created["userErrors"] == [], created
            assert created["subscription"]["invoices"][0]["status"] == "PAID"
            listed = await api.data(
                "query($id: ID!) { customer(id: $id) { payments(first: 5) { totalCount } "
                "subscriptions { status } } products(first: 5) { totalCount } }",
                {"id": customer},
            )
            assert listed["customer"]["payments"]["totalCount"] == 2
            assert [s["status"] for s in listed["customer"]["subscriptions"]] == ["ACTIVE"]
            assert listed["products"]["totalCount"] == 1
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        log.close()
