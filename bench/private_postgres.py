"""A private PostgreSQL cluster for a bench script: ``initdb`` into a temporary folder, started
with ``pg_ctl`` on a port of its own with the settings given, stopped and deleted at the end
(so that a bench can use settings the shared server does not have, and never restarts it).
As root, the cluster runs as the ``postgres`` user (PostgreSQL refuses root)."""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

# Settings for a write-heavy load on this 24 GB, 2-core machine, as one would deploy them:
# more shared buffers than the 128 MB default, checkpoints spaced by time rather than forced
# every 1 GB of WAL (each one makes the next write of every page a full-page image), and
# compressed full-page images. Durability is untouched: fsync, synchronous_commit and
# full_page_writes stay on.
WRITE_HEAVY = {
    "shared_buffers": "2GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "wal_compression": "on",
}


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("initdb not found (Debian's postgresql package)")
    return Path(initdb).parent


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@asynccontextmanager
async def private_postgres(port: int, settings: Mapping[str, str]) -> AsyncIterator[str]:
    """Yields the server's base URL, ``postgresql+asyncpg://postgres@127.0.0.1:<port>``."""
    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="bench_postgres_"))
    data = base / "data"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
    options = " ".join(f"-c {name}={value}" for name, value in settings.items())

    def run(*command: str) -> None:
        subprocess.run(_as_owner(list(command)), check=True, capture_output=True)

    try:
        await asyncio.to_thread(
            run, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        await asyncio.to_thread(
            run, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"),
            "-w", "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 {options}", "start",
        )  # fmt: skip
        try:
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
        finally:
            await asyncio.to_thread(
                run, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
