"""What metrics and logging add to a request: the same simple query against two apps in one
process, one with metrics and the JSON request log (as in production), one with both off
(PAYGATE_METRICS_ENABLED=false, PAYGATE_REQUEST_LOG=false).

    .venv/bin/python bench/observability_overhead.py [--requests 3000] [--rounds 5]

Requests go through httpx's ASGI transport (no network), alternating between the apps in
rounds so that drift affects both alike; log lines are written to /dev/null (formatting
and writing are measured, a terminal is not). Prints the median and mean latency of each
and their ratio. Not a test: run it by hand and quote the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import httpx

from app.main import create_app
from app.migrations import upgrade_to_head
from app.settings import Settings

QUERY = "query Currencies { currencies { code } }"


async def measure(http: httpx.AsyncClient, n: int) -> list[float]:
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        response = await http.post("/graphql", json={"query": QUERY})
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200 and "errors" not in response.json()
    return timings


async def main(requests: int, rounds: int, devnull: TextIO) -> None:
    folder = Path(tempfile.mkdtemp(prefix="paygate-bench-"))
    url = f"sqlite+aiosqlite:///{folder}/bench.db"
    await asyncio.to_thread(upgrade_to_head, url)
    common: dict[str, Any] = {"database_url": url, "migrate_on_start": False,
                              "seed_demo": False}  # fmt: skip
    apps = {
        "off": create_app(Settings(**common, metrics_enabled=False, request_log=False)),
        "on": create_app(Settings(**common, log_format="json")),  # the last one sets logging
    }
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
        for name, app in apps.items()
    }
    timings: dict[str, list[float]] = {name: [] for name in apps}
    with contextlib.redirect_stderr(devnull):
        for http in clients.values():
            await measure(http, 200)  # warm up: caches, imports, first labels
        for _ in range(rounds):
            for name, http in clients.items():
                timings[name].extend(await measure(http, requests // rounds))
    for http in clients.values():
        await http.aclose()
    for app in apps.values():
        await app.state.runtime.engine.dispose()

    def summary(name: str) -> tuple[float, float]:
        values = timings[name]
        return statistics.median(values) * 1000, statistics.fmean(values) * 1000

    off, on = summary("off"), summary("on")
    print(f"query: {QUERY}")  # noqa: T201
    print(f"requests per app: {len(timings['on'])} in {rounds} alternating rounds")  # noqa: T201
    print(f"{'':28}{'median ms':>12}{'mean ms':>12}")  # noqa: T201
    print(f"{'metrics and logging off':28}{off[0]:12.3f}{off[1]:12.3f}")  # noqa: T201
    print(f"{'metrics and logging on':28}{on[0]:12.3f}{on[1]:12.3f}")  # noqa: T201
    print(  # noqa: T201
        f"overhead: median {on[0] / off[0] - 1:+.1%}, mean {on[1] / off[1] - 1:+.1%} "
        f"(ratio on/off {on[0] / off[0]:.3f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="per app, in total")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with open(os.devnull, "w") as devnull:
        sys.exit(asyncio.run(main(args.requests, args.rounds, devnull)))
