"""Private PgBouncer and HAProxy processes for the deployment tests, each on a port of its
own (Debian's packages: ``pgbouncer`` 1.18 and ``haproxy`` 2.6, which ``.ci/run``
installs). A test skips when the binary is missing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.psp.fake_server import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def need(binary: str) -> None:
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed (.ci/run installs it)")


async def _listening(port: int, process: asyncio.subprocess.Process, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"the process exited with {process.returncode}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@dataclass(frozen=True)
class PgBouncer:
    port: int
    directory: Path

    def url(self, database_url: str) -> str:
        """``database_url`` with PgBouncer's address instead of PostgreSQL's."""
        from sqlalchemy.engine import make_url

        parsed = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return parsed.render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def pgbouncer(
    *, upstream_port: int = 5432, pool_size: int = 20, pool_mode: str = "transaction"
) -> AsyncIterator[PgBouncer]:
    """PgBouncer in ``pool_mode`` in front of the PostgreSQL server on ``upstream_port``,
    every database passed through (``* =``), trust authentication. It refuses to run as
    root, so as root it runs as the ``postgres`` user."""
    need(PGBOUNCER)
    port = free_port()
    directory, user = _pgbouncer_files(port, upstream_port, pool_size, pool_mode)
    process = await asyncio.create_subprocess_exec(
        PGBOUNCER, str(directory / "pgbouncer.ini"), user=user,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await _listening(port, process)
        yield PgBouncer(port=port, directory=directory)
    finally:
        await _stop(process)
        shutil.rmtree(directory, ignore_errors=True)


def _pgbouncer_files(
    port: int, upstream_port: int, pool_size: int, pool_mode: str
) -> tuple[Path, str | None]:
    """PgBouncer's configuration in a new folder; the user to run it as."""
    directory = Path(tempfile.mkdtemp(prefix="paygate-pgbouncer-"))
    (directory / "users.txt").write_text('"postgres" ""\n')
    (directory / "pgbouncer.ini").write_text(
        f"""[databases]
* = host=127.0.0.1 port={upstream_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/users.txt
pool_mode = {pool_mode}
default_pool_size = {pool_size}
max_client_conn = 1000
server_reset_query =
logfile = {directory}/pgbouncer.log
pidfile =
admin_users = postgres
"""
    )
    if os.geteuid() != 0:
        return directory, None
    owner = pwd.getpwnam("postgres")
    for path in (directory, *directory.iterdir()):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return directory, "postgres"


@dataclass(frozen=True)
class HAProxy:
    port: int
    stats_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def haproxy_config(port: int, stats_port: int, backends: Sequence[int]) -> str:
    """Round robin over ``backends`` (loopback ports), each checked on ``/readyz`` every
    250 ms: a replica that answers 503 (draining, or its database unreachable) or does not
    answer within 2 s twice in a row leaves the rotation, and comes back after two good
    checks (a replica busy with a burst answers its check late, not wrongly). A request whose
    connection to a replica fails is sent to another (``retry-on conn-failure`` with
    ``option redispatch``; nothing reached the replica, so no request is sent twice).
    ``http-server-close``: a connection to a replica carries one request, so a replica
    closing its idle connections on shutdown never races a request sent on one."""
    servers = "\n".join(
        f"    server api{n} 127.0.0.1:{backend} check inter 250ms fall 2 rise 2"
        for n, backend in enumerate(backends)
    )
    return f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout check 2s
    retries 3
    option redispatch
    retry-on conn-failure
    option http-server-close

frontend api
    bind 127.0.0.1:{port}
    default_backend replicas

frontend stats
    bind 127.0.0.1:{stats_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""


@contextlib.asynccontextmanager
async def haproxy(backends: Sequence[int]) -> AsyncIterator[HAProxy]:
    """HAProxy in front of the API replicas on ``backends``."""
    need(HAPROXY)
    port, stats_port = free_port(), free_port()
    directory = Path(tempfile.mkdtemp(prefix="paygate-haproxy-"))
    config = directory / "haproxy.cfg"
    config.write_text(haproxy_config(port, stats_port, backends))
    process = await asyncio.create_subprocess_exec(
        HAPROXY, "-db", "-f", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await _listening(port, process)
        yield HAProxy(port=port, stats_port=stats_port)
    finally:
        await _stop(process)
        shutil.rmtree(directory, ignore_errors=True)
