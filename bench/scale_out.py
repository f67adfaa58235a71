"""Scale-out figures (README, Scale-out): API replicas behind HAProxy, on PgBouncer.

    python bench/scale_out.py throughput [--replicas 1,2,3] [--seconds 15] [--connections 32]
                                         [--direct]
    python bench/scale_out.py rolling-restart [--rate 200] [--direct]

``throughput`` starts the cluster of ``tests/deploy/cluster.py`` with 1, 2, then 3 replicas
(no workers) on a fresh database and drives it with wrk (``bench/wrk_post.lua``) through
HAProxy: a customer read (``customer(id:)`` with its payment methods), then ``createPayment``
(a new idempotency key per request, Stripe played by the fake in this process). It prints
requests/s per replica count and the ratios to one replica, all measured in this run.

``rolling-restart`` restarts each of three replicas in turn (as ``tests/deploy/test_replicas.py``
does) under wrk's paced load of about ``--rate`` requests/s for ``--seconds`` (a customer read,
a payment every tenth request) and prints the rate held, the failures (any answer but a 200
without errors, any connection error) and the seconds each replica took.

Needs PostgreSQL on 127.0.0.1:5432, Redis on 6379, and Debian's pgbouncer, haproxy and wrk.
The machine is shared: compare figures of one run, not of runs on different days."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fresh_database import drop_database, fresh_database  # noqa: E402

from tests.deploy.cluster import Cluster, ClusterApi, cluster  # noqa: E402
from tests.deploy.test_replicas import admin_key  # noqa: E402
from tests.factories import customer_with  # noqa: E402

WRK_SCRIPT = ROOT / "bench" / "wrk_post.lua"
PACED = ROOT / "bench" / "wrk_paced.lua"
PAYMENT = (
    "mutation($i: CreatePaymentInput!) { createPayment(input: $i) "
    "{ payment { id status } userErrors { code } } }"
)
DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/paygate_bench_scale_out"


def wrk(url: str, bodies: list[dict[str, object]], *, seconds: int, connections: int,
        secret: str, label: str, script: Path | None = None,
        delay_ms: int = 0) -> dict[str, Any]:  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as file:
        file.write("\n".join(json.dumps(body) for body in bodies) + "\n")
    env = {"BENCH_BODIES": file.name, "BENCH_LABEL": label,
           "BENCH_AUTHORIZATION": f"Bearer {secret}", "PATH": "/usr/bin:/bin",
           "BENCH_DELAY_MS": str(delay_ms)}  # fmt: skip
    out = subprocess.run(  # noqa: S603 - wrk with our own arguments
        ["/usr/bin/wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
         "-s", str(script or WRK_SCRIPT), f"{url}/graphql"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


async def measure(running: Cluster, seconds: int, connections: int) -> dict[str, float]:
    _, secret = await admin_key(ClusterApi(running.client()))
    api = ClusterApi(running.client(authorization=f"Bearer {secret}"))
    customers = [await customer_with(api) for _ in range(20)]
    read = "query($id: ID!) { customer(id: $id) { id name paymentMethods { id brand last4 } } }"
    pay = ("mutation($i: CreatePaymentInput!) { createPayment(input: $i) "
           "{ payment { id status } userErrors { code } } }")  # fmt: skip
    reads = [{"query": read, "variables": {"id": c}} for c in customers]
    payments = [
        {
            "query": pay,
            "variables": {
                "i": {
                    "idempotencyKey": str(uuid.uuid4()),
                    "customerId": customers[n % 20],
                    "amount": {"amount": "1.00", "currency": "USD"},
                }
            },
        }
        for n in range(200_000)
    ]
    figures = {}
    for label, bodies in (("read", reads), ("payment", payments)):
        result = await asyncio.to_thread(
            wrk, running.url, bodies, seconds=seconds, connections=connections,
            secret=secret, label=label,
        )  # fmt: skip
        errors = sum(int(result[k]) for k in result if k.startswith("err_"))
        figures[label] = result["rps"]
        figures[f"{label}_p99_ms"] = result["p99_ms"]
        figures[f"{label}_errors"] = errors
    return figures


async def throughput(args: argparse.Namespace) -> None:
    results = {}
    for replicas in [int(n) for n in args.replicas.split(",")]:
        await fresh_database(args.database_url)
        with tempfile.TemporaryDirectory() as logs:
            async with cluster(
                args.database_url, Path(logs), replicas=replicas, workers=0,
                pooled=not args.direct, bouncer_pool_size=args.bouncer_pool_size,
            ) as c:  # fmt: skip
                results[replicas] = await measure(c, args.seconds, args.connections)
        print(f"{replicas} replica(s): {results[replicas]}", flush=True)  # noqa: T201
    await drop_database(args.database_url)
    one = results.get(1)
    for replicas, figures in results.items():
        ratios = (
            f" (x{figures['read'] / one['read']:.2f} reads, "
            f"x{figures['payment'] / one['payment']:.2f} payments of 1 replica)"
            if one else ""
        )  # fmt: skip
        print(  # noqa: T201
            f"{replicas} replica(s): {figures['read']:.0f} reads/s (p99 "
            f"{figures['read_p99_ms']:.0f} ms), {figures['payment']:.0f} payments/s (p99 "
            f"{figures['payment_p99_ms']:.0f} ms){ratios}; errors "
            f"{figures['read_errors'] + figures['payment_errors']}"
        )


async def restart(args: argparse.Namespace) -> None:
    """The rolling restart under wrk's paced load (``bench/wrk_paced.lua``): a customer read,
    and a payment every tenth request; every answer that is not a 200 without errors is a
    failure, and so is every connection error."""
    await fresh_database(args.database_url)
    with tempfile.TemporaryDirectory() as logs:
        async with cluster(args.database_url, Path(logs), pooled=not args.direct) as running:
            _, secret = await admin_key(ClusterApi(running.client()))
            api = ClusterApi(running.client(authorization=f"Bearer {secret}"))
            customer = await customer_with(api)
            read = {"query": "query($id: ID!) { customer(id: $id) { id name } }",
                    "variables": {"id": customer}}  # fmt: skip
            bodies = [
                read
                if n % 10
                else {
                    "query": PAYMENT,
                    "variables": {
                        "i": {
                            "idempotencyKey": str(uuid.uuid4()),
                            "customerId": customer,
                            "amount": {"amount": "1.00", "currency": "USD"},
                        }
                    },
                }
                for n in range(args.rate * args.seconds * 2)
            ]
            connections = 80  # enough that a stalled request barely slows the rate
            # each connection waits this long before each request; 5 % under the period
            # makes up for the requests' own time
            delay = round(connections * 1000 / args.rate * 0.95)
            load = asyncio.create_task(asyncio.to_thread(
                wrk, running.url, bodies, seconds=args.seconds, connections=connections,
                secret=secret, label="restart", script=PACED, delay_ms=delay,
            ))  # fmt: skip
            await asyncio.sleep(3)
            windows = [await running.restart(n) for n in range(len(running.replicas))]
            result = await load
    await drop_database(args.database_url)
    failed = int(result["failed"]) + sum(
        int(result[k]) for k in ("err_connect", "err_read", "err_write", "err_timeout")
    )
    print(  # noqa: T201
        f"rolling restart under {result['rps']:.0f} requests/s (goal {args.rate}): "
        f"{result['requests']:.0f} requests in {result['duration_s']:.1f} s, {failed} failed "
        f"{result['first_failure'] if failed else ''}; p50 {result['p50_ms']:.0f} ms, p99 "
        f"{result['p99_ms']:.0f} ms; per replica: "
        + ", ".join(
            f"drained and stopped in {w['stopped']:.1f} s, back in rotation after "
            f"{w['seconds']:.1f} s"
            for w in windows
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DATABASE)
    commands = parser.add_subparsers(dest="command", required=True)
    measure_ = commands.add_parser("throughput")
    measure_.add_argument("--replicas", default="1,2,3")
    measure_.add_argument("--seconds", type=int, default=15)
    measure_.add_argument("--connections", type=int, default=32)
    measure_.add_argument("--bouncer-pool-size", type=int, default=20)
    measure_.add_argument(
        "--direct", action="store_true", help="replicas connect to PostgreSQL, not PgBouncer"
    )
    rolling = commands.add_parser("rolling-restart")
    rolling.add_argument("--rate", type=int, default=200)
    rolling.add_argument("--seconds", type=int, default=60, help="how long the load lasts")
    rolling.add_argument(
        "--direct", action="store_true", help="replicas connect to PostgreSQL, not PgBouncer"
    )
    args = parser.parse_args()
    asyncio.run(throughput(args) if args.command == "throughput" else restart(args))


if __name__ == "__main__":
    main()
