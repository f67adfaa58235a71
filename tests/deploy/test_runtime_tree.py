"""The image's contents start (issue 26): ``scripts/build-runtime-tree`` lays out the
Dockerfile's ``/app`` in a folder (no container engine here), and its entry point runs
``migrate``, ``serve`` and ``worker`` as a non-root user who can write nothing in the tree,
only in its own temporary folder (the image's read-only root filesystem, /tmp an emptyDir).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import TEST_URL
from tests.psp.fake_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tree() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="paygate-runtime-", dir="/tmp"))
    base.chmod(0o755)  # the non-root user must reach the tree (it is read-only to it)
    try:
        subprocess.run(
            [str(ROOT / "scripts" / "build-runtime-tree"), str(base)],
            check=True,
            capture_output=True,
            timeout=600,
            # files linked from uv's cache rather than copied (460 MB): the same tree, faster;
            # nothing writes to them (the user running it cannot)
            env={**os.environ, "UV_LINK_MODE": "hardlink"},
        )
        yield base / "app"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _user() -> str | None:
    """The unprivileged user the commands run as: ``nobody`` when the suite runs as root
    (as CI does; signals go straight to the command, as in a container), else None: the
    current user, who is not root either."""
    return "nobody" if os.geteuid() == 0 else None


def _environment(tmp: Path, database_url: str, **more: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "TMPDIR": str(tmp),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PAYGATE_DATABASE_URL": database_url,
        **more,
    }


@pytest.fixture
def scratch() -> Iterator[Path]:
    """The one folder the unprivileged user may write (the image's /tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="paygate-tmp-", dir="/tmp"))
    name = _user()
    if name is not None:
        account = pwd.getpwnam(name)
        os.chown(folder, account.pw_uid, account.pw_gid)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    name = f"paygate_runtime_{os.getpid()}_{time.monotonic_ns()}"
    admin_dsn = make_url(TEST_URL).set(drivername="postgresql", database="postgres")
    admin = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield (
            make_url(TEST_URL)
            .set(drivername="postgresql+asyncpg", database=name)
            .render_as_string(hide_password=False)
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def test_the_dockerfile_and_the_script_lay_out_the_same_app() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    script = (ROOT / "scripts" / "build-runtime-tree").read_text()
    for part in ("pyproject.toml", "uv.lock", "README.md", "alembic.ini", "alembic", "app"):
        assert part in dockerfile and part in script, part
    for option in ("--frozen", "--no-dev", "compileall", "build-graphiql", "UV_COMPILE_BYTECODE=1"):
        assert option in dockerfile and option in script, option
    assert "USER 10001:10001" in dockerfile and 'ENTRYPOINT ["paygate"]' in dockerfile


def test_the_tree_holds_the_image_contents(tree: Path) -> None:
    site = next((tree / ".venv" / "lib").glob("python3.11/site-packages"))
    assert os.access(tree / ".venv" / "bin" / "paygate", os.X_OK)
    assert (site / "strawberry").is_dir() and (site / "asyncpg").is_dir()
    for dev_only in ("pytest", "hypothesis", "mypy", "ruff", "playwright"):
        assert not (site / dev_only).exists(), f"{dev_only} is a dev dependency"
    vendor = tree / "app" / "graphiql" / "static" / "vendor"
    assert (vendor / "graphiql.min.js").stat().st_size > 100_000
    assert list((tree / "app" / "__pycache__").glob("cli.cpython-311.pyc"))  # compiled
    assert (tree / "alembic" / "versions").is_dir() and (tree / "alembic.ini").is_file()
    assert not list(tree.rglob("*.db")) and not (tree / "tests").exists()


async def test_migrate_serve_and_worker_start_as_a_user_who_cannot_write_the_tree(
    tree: Path, scratch: Path, empty_database: str
) -> None:
    user = _user()
    paygate = str(tree / ".venv" / "bin" / "paygate")
    started = time.time()

    migrate = await asyncio.create_subprocess_exec(
        paygate, "migrate", user=user,
        env=_environment(scratch, empty_database), cwd="/",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(migrate.communicate(), timeout=120)
    assert migrate.returncode == 0, output.decode()

    port = free_port()
    serve = await asyncio.create_subprocess_exec(
        paygate, "serve", "--port", str(port), user=user,
        env=_environment(scratch, empty_database, PAYGATE_MIGRATE_ON_START="false"), cwd="/",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    worker = await asyncio.create_subprocess_exec(
        paygate, "worker", user=user,
        env=_environment(scratch, empty_database), cwd="/",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(240):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert serve.returncode is None, "paygate serve exited"
                await asyncio.sleep(0.25)
            else:
                raise AssertionError("paygate serve did not answer /healthz")
            # GraphQL on the migrated schema, and GraphiQL's bundles found in the tree
            answer = await http.post(
                "/graphql", json={"query": "{ products(first: 1) { totalCount } }"}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["products"]["totalCount"] >= 0
            page = await http.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 200 and "graphiql.min.js" in page.text
            bundle = await http.get("/graphiql/vendor/graphiql.min.js")
            assert bundle.status_code == 200 and len(bundle.content) > 100_000
        assert worker.returncode is None, "paygate worker exited"
    finally:
        for process in (serve, worker):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
    # both stop cleanly on SIGTERM (a rollout's signal): the server after its requests (then
    # uvicorn exits by the signal it caught, as it does since 0.29), the worker after its jobs
    for process, done in ((serve, "Finished server process"), (worker, "Stopped worker")):
        await asyncio.wait_for(process.wait(), timeout=30)
        assert process.stderr is not None
        log = (await process.stderr.read()).decode()
        assert process.returncode in (0, -signal.SIGTERM), log[-2000:]
        assert done in log, log[-2000:]
    await asyncio.to_thread(_unchanged, tree, started, user)


def _unchanged(tree: Path, since: float, user: str | None) -> None:
    """Nothing in the tree was written (no bytecode, no database, no log), and the user
    cannot write it."""
    changed = [p for p in tree.rglob("*") if p.lstat().st_mtime > since]
    assert changed == []
    if user is not None:
        probe = subprocess.run(
            ["/usr/bin/touch", str(tree / "app" / "written")],
            user=user,
            capture_output=True,
            check=False,
        )
        assert probe.returncode != 0
        assert not (tree / "app" / "written").exists()
