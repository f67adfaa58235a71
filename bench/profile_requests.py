"""Where a request's time goes, in process: paygate's app (production profile) over the bench
database, a workload's bodies sent one after another through httpx's ASGI transport (no
network, no wrk), timed, then profiled.

    .venv/bin/python bench/profile_requests.py customer_page [--requests 300] [--profile]
    .venv/bin/python bench/profile_requests.py ping --profile --sort tottime --top 40
    bench/callgrind.sh customer_page 40     # instructions per request, counted by callgrind

Prints the mean and median milliseconds per request (after a warm-up) and the process's
CPU time per request (Python's side only, PostgreSQL excluded), and with
``--profile`` the top functions of a cProfile run of the same requests (cProfile itself
slows Python code down; read it for shares, not for absolute times). For measuring one step
of an optimisation against the next quickly; the figures to quote come from ``run.sh``.
Needs ``bench_paygate`` (``load_paygate.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from render_bodies import render  # noqa: E402

from app.main import create_app  # noqa: E402
from app.security.principals import Role  # noqa: E402
from app.services import api_keys  # noqa: E402
from app.settings import QueryCostSettings, Settings  # noqa: E402


async def call(app: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One POST /graphql straight into the ASGI app, as uvicorn would make it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    received = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def main(args: argparse.Namespace) -> None:
    settings = Settings(
        database_url=args.dsn,
        profile="production",
        db_pool_size=10,
        db_max_overflow=0,
        # estimated and spent as always, with room for thousands of requests
        query_cost=QueryCostSettings(rate_admin="1000000000/minute"),
    )
    app = create_app(settings)
    runtime = app.state.runtime
    async with runtime.sessions() as session:
        key = await api_keys.create_key(
            session, clock=runtime.clock, name="profile", role=Role.ADMIN
        )
    bodies = render(json.loads((HERE / "queries" / f"{args.workload}.json").read_text()))
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {key.secret}".encode()),
        (b"content-type", b"application/json"),
    ]
    encoded = [body.encode() for body in bodies]
    async with app.router.lifespan_context(app):  # start-up and shutdown, as under uvicorn

        async def send(n: int, offset: int) -> list[float]:
            timings = []
            for k in range(n):
                body = encoded[(offset + k) % len(encoded)]
                started = time.perf_counter()
                status, answer = await call(app, body, headers)
                timings.append(time.perf_counter() - started)
                assert status == 200 and b'"errors"' not in answer, answer[:300]
            return timings

        await send(args.warmup, 0)
        if args.callgrind:
            instrument("on")
        cpu_started = time.process_time()
        timings = await send(args.requests, args.warmup)
        if args.callgrind:
            instrument("off")
        cpu_ms = (time.process_time() - cpu_started) * 1000 / args.requests
        ms = [t * 1000 for t in timings]
        print(  # noqa: T201
            f"{args.workload}: {len(ms)} requests, mean {statistics.mean(ms):.2f} ms, "
            f"median {statistics.median(ms):.2f} ms, min {min(ms):.2f} ms, "
            f"CPU {cpu_ms:.2f} ms/request (this process only; in process, sequential)"
        )
        if args.garbage:
            await garbage(send, args)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await send(args.requests, args.warmup + args.requests)
            profiler.disable()
            stats = pstats.Stats(profiler).strip_dirs().sort_stats(args.sort)
            stats.print_stats(args.top)
            for name in args.callers:
                stats.print_callers(name)


def instrument(state: str) -> None:
    """Callgrind's instrumentation of this process switched on or off (``--callgrind``)."""
    subprocess.run(  # noqa: S603 - a fixed command
        ["callgrind_control", "--instr=" + state, str(os.getpid())],  # noqa: S607
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def garbage(send: Any, args: argparse.Namespace) -> None:
    """What the requests leave to the garbage collector: objects in reference cycles,
    which reference counting cannot free, by type, per request."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await send(args.requests, args.warmup)
        gc.collect()
        found = Counter(type(o).__qualname__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    total = sum(found.values())
    print(f"cyclic garbage: {total / args.requests:.1f} objects per request")  # noqa: T201
    for name, count in found.most_common(args.top):
        print(f"{count / args.requests:10.1f}  {name}")  # noqa: T201


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=["ping", "customer_page", "customers_list"])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--garbage", action="store_true", help="objects left in reference cycles, by type"
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="under valgrind --tool=callgrind --instr-atstart=no: count the timed requests only",
    )
    parser.add_argument("--sort", default="cumulative", help="pstats sort key")
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--callers", action="append", default=[], help="who calls FUNCTION")
    parser.add_argument("--dsn", default="postgresql://bench:bench@127.0.0.1:5432/bench_paygate")
    uvloop.run(main(parser.parse_args()))  # the loop `paygate serve` runs
