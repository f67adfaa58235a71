"""Compiled plans against the resolvers, in process, over the bench database.

    .venv/bin/python bench/compiled_timing.py [--requests 300] [--compare 500]

Two apps (production profile; the one with ``compiled_documents`` off is the reference)
over ``bench_paygate``, the workloads' bodies sent one after another through httpx's ASGI
transport: first ``--compare`` bodies of each workload to both, whose ``data`` must be the
same (a differential check on the full data set), then rounds of ``--requests`` alternating
between the two, timed. Callers are anonymous with the admin role (nothing is written to
the bench database). In-process and sequential: for comparing the two paths, not for
quoting throughput (that is ``run.sh``'s job).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from render_bodies import render  # noqa: E402

from app.main import create_app  # noqa: E402
from app.settings import AuthSettings, Settings  # noqa: E402


def canonical(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def main(args: argparse.Namespace) -> None:
    base = Settings(
        database_url=args.dsn,
        profile="production",
        db_pool_size=10,
        db_max_overflow=0,
        auth=AuthSettings(anonymous_role="admin"),
    )
    apps = {
        "compiled": create_app(base),
        "resolvers": create_app(base.model_copy(update={"compiled_documents": False})),
    }
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
        for name, app in apps.items()
    }
    headers = {"Content-Type": "application/json"}

    async def send(side: str, body: bytes) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        response = await clients[side].post("/graphql", content=body, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        return elapsed, response.json()

    for workload in args.workloads:
        bodies = render(json.loads((HERE / "queries" / f"{workload}.json").read_text()))
        for body in bodies[: args.compare]:
            (_, got), (_, expected) = await send("compiled", body), await send("resolvers", body)
            assert "errors" not in got and "errors" not in expected, (got, expected)
            assert canonical(got) == canonical(expected), workload
        timings: dict[str, list[float]] = {side: [] for side in apps}
        offset = args.compare
        for _ in range(args.rounds):
            for side in apps:
                for k in range(args.requests):
                    elapsed, _ = await send(side, bodies[(offset + k) % len(bodies)])
                    timings[side].append(elapsed * 1000)
            offset += args.requests
        medians = {side: statistics.median(ms) for side, ms in timings.items()}
        print(  # noqa: T201
            f"{workload}: {args.compare} bodies identical; median ms per request "
            + ", ".join(f"{side} {m:.2f}" for side, m in medians.items())
            + f"; resolvers/compiled {medians['resolvers'] / medians['compiled']:.1f}x "
            f"({args.rounds} x {args.requests} requests per side, in process, sequential)"
        )
    for name, app in apps.items():
        await clients[name].aclose()
        await app.state.runtime.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", default=["customer_page", "customers_list"])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=int, default=300)
    parser.add_argument("--dsn", default="postgresql://bench:bench@127.0.0.1:5432/bench_paygate")
    asyncio.run(main(parser.parse_args()))
