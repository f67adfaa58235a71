"""paygate as production runs it, on this machine: API replicas (``paygate serve``) behind
HAProxy, workers (``paygate worker``), rate limits shared through Redis, one PostgreSQL
reached through PgBouncer in transaction pooling (the session state of the workers' queue
on a direct connection), and Stripe played by the fake of ``tests/psp/stripe_fake.py``,
which every process reaches over HTTP (the sandbox PSP lives inside one process)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import HttpApi
from tests.deploy.servers import HAProxy, PgBouncer, haproxy, pgbouncer
from tests.psp.fake_server import free_port, serve_in_thread
from tests.psp.stripe_fake import API_KEY, StripeFake
from tests.psp.stripe_harness import WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180  # a loaded 2-core machine imports the app slowly


@dataclass
class Process:
    """One paygate process: its command, its log, and the running process if any."""

    argv: list[str]
    log: Path
    port: int | None = None
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    async def start(self, env: dict[str, str]) -> None:
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app.cli", *self.argv,
                cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log,
            )  # fmt: skip

    async def signal_and_wait(self, signum: int, within: float = 60) -> int:
        process = self.process
        assert process is not None
        if process.returncode is None:
            process.send_signal(signum)
        try:
            return await asyncio.wait_for(process.wait(), within)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"{self.argv[0]} did not stop after signal {signum}") from None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Cluster:
    env: dict[str, str]
    replicas: list[Process]
    workers: list[Process]
    proxy: HAProxy
    stripe: StripeFake
    stripe_url: str
    bouncer: PgBouncer | None
    direct_database_url: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.proxy.url

    def replica_url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.replicas[n].port}"

    def client(
        self, base_url: str | None = None, *, timeout: float = 60, **headers: str
    ) -> httpx.AsyncClient:
        """A client of HAProxy (or of ``base_url``), closed with the cluster."""
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        client = httpx.AsyncClient(
            base_url=base_url or self.url, timeout=timeout, headers=headers, limits=limits
        )
        self.clients.append(client)
        return client

    async def ready(self, n: int, within: float = START_TIMEOUT) -> None:
        """Wait for replica ``n`` to answer /readyz with 200."""
        replica = self.replicas[n]
        async with httpx.AsyncClient(base_url=self.replica_url(n), timeout=5) as http:
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                process = replica.process
                assert process is not None and process.returncode is None, replica.tail()
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"replica {n} did not become ready:\n{replica.tail()}")

    async def in_rotation(self, n: int, within: float = 30) -> None:
        """Wait until HAProxy routes to replica ``n`` again (its checks passed)."""
        name = f'server="api{n}"'
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.proxy.stats_port}", timeout=5
        ) as http:
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                metrics = (await http.get("/metrics")).text
                for line in metrics.splitlines():
                    status = line.startswith("haproxy_server_status{") and name in line
                    if status and 'state="UP"' in line and line.endswith(" 1"):
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"HAProxy did not take replica {n} back")

    async def restart(self, n: int) -> dict[str, float]:
        """A rolling restart's step for replica ``n``: SIGTERM (it drains, then stops),
        start it again, wait until HAProxy routes to it. Returns how long it drained and
        stopped, and the whole step's seconds."""
        started = time.monotonic()
        replica = self.replicas[n]
        code = await replica.signal_and_wait(signal.SIGTERM)
        # uvicorn re-raises the signal after its graceful shutdown
        assert code in (0, -signal.SIGTERM), (code, replica.tail())
        stopped = time.monotonic() - started
        await replica.start(self.env)
        await self.ready(n)
        await self.in_rotation(n)
        return {"stopped": stopped, "seconds": time.monotonic() - started}


@contextlib.asynccontextmanager
async def cluster(
    database_url: str,
    logs: Path,
    *,
    replicas: int = 3,
    workers: int = 2,
    pooled: bool = True,
    bouncer_pool_size: int = 20,
    **settings: str,
) -> AsyncIterator[Cluster]:
    """The processes, started on ``database_url`` (migrated, queue tables created here);
    ``settings``: more PAYGATE_ variables. Yields once every replica is ready and in
    HAProxy's rotation; stops everything on exit."""
    stripe = StripeFake()
    with serve_in_thread(stripe.app) as stripe_url:
        async with pgbouncer(pool_size=bouncer_pool_size) as bouncer:
            env = {
                **os.environ,
                "PAYGATE_DATABASE_URL": bouncer.url(database_url) if pooled else database_url,
                "PAYGATE_DATABASE_TRANSACTION_POOLING": "true" if pooled else "false",
                "PAYGATE_DATABASE_DIRECT_URL": database_url,
                "PAYGATE_MIGRATE_ON_START": "false",
                "PAYGATE_SEED_DEMO": "false",
                "PAYGATE_DEFAULT_PSP": "stripe",
                "PAYGATE_ENABLED_PSPS": '["stripe"]',
                "PAYGATE_STRIPE__API_KEY": API_KEY,
                "PAYGATE_STRIPE__WEBHOOK_SECRET": WEBHOOK_SECRET,
                "PAYGATE_STRIPE__API_BASE": stripe_url,
                "PAYGATE_RATE_LIMIT_STORAGE": "redis://127.0.0.1:6379/0",
                "PAYGATE_RATE_LIMIT_MUTATIONS": "1000000/minute",
                "PAYGATE_SHUTDOWN_DELAY_SECONDS": "2",
                "PAYGATE_LOG_FORMAT": "json",
                **{f"PAYGATE_{name.upper()}": value for name, value in settings.items()},
            }
            migrate = Process(["migrate"], logs / "migrate.log")
            await migrate.start(env)
            assert migrate.process is not None
            assert await asyncio.wait_for(migrate.process.wait(), START_TIMEOUT) == 0, (
                migrate.tail()
            )
            started: list[Process] = []
            try:
                api = []
                for n in range(replicas):
                    port = free_port()
                    api.append(
                        Process(["serve", "--port", str(port)], logs / f"api{n}.log", port=port)
                    )
                work = [
                    Process(["worker", "--concurrency", "2"], logs / f"worker{n}.log")
                    for n in range(workers)
                ]
                for process in work:
                    worker_env = {**env, "PAYGATE_WORKER_METRICS_PORT": str(free_port())}
                    process.port = int(worker_env["PAYGATE_WORKER_METRICS_PORT"])
                    await process.start(worker_env)
                    started.append(process)
                for process in api:
                    await process.start(env)
                    started.append(process)
                async with haproxy([p.port for p in api if p.port]) as proxy:
                    running = Cluster(
                        env=env, replicas=api, workers=work, proxy=proxy, stripe=stripe,
                        stripe_url=stripe_url, bouncer=bouncer, direct_database_url=database_url,
                    )  # fmt: skip
                    await asyncio.gather(*(running.ready(n) for n in range(replicas)))
                    await asyncio.gather(*(running.in_rotation(n) for n in range(replicas)))
                    try:
                        yield running
                    finally:
                        for client in running.clients:
                            await client.aclose()
            finally:
                await asyncio.gather(
                    *(p.signal_and_wait(signal.SIGTERM) for p in started if p.process),
                    return_exceptions=True,
                )


# The factories' ``Api`` over a client of real servers.
ClusterApi = HttpApi
