"""PostgreSQL's time for a compiled plan's statement, without HTTP or paygate in the way.

    .venv/bin/python bench/plan_cost.py customer_page customers_list [--bodies 200]

For each workload: the trusted document's plan (compiled as at start-up), the arguments of
the first ``--bodies`` bodies of the workload (the bench ids, as an admin would send them),
then 5 rounds of executing them one after another on one connection whose backend is pinned
to CPU 1 (this process on CPU 0); prints the fastest and the median round's milliseconds per
statement. Prepared statements, as the front runs them. Needs ``bench_paygate``
(``load_paygate.py``) and root for ``taskset``. For comparing one form of the SQL with the
next (``app/graphql/compiled_path/sql.py``): the figures to quote come from ``run.sh``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from render_bodies import render  # noqa: E402

from app.graphql.compiled_path.compiler import compile_document  # noqa: E402
from app.graphql.compiled_path.registry import load_documents  # noqa: E402
from app.graphql.schema import schema  # noqa: E402
from app.security.principals import Principal, Role  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    documents = {d.name: d for d in load_documents()}
    admin = Principal.api_key(uuid.uuid4(), Role.ADMIN)
    os.sched_setaffinity(0, {0})
    for name in args.workloads:
        plan = compile_document(schema._schema, documents[name])
        spec = json.loads((HERE / "queries" / f"{name}.json").read_text())
        bodies = [json.loads(b) for b in render(spec)[: args.bodies]]
        arguments = [plan.arguments(b.get("variables") or {}, admin) for b in bodies]
        connection = await asyncpg.connect(args.dsn)
        try:
            backend = await connection.fetchval("SELECT pg_backend_pid()")
            subprocess.run(["taskset", "-pc", "1", str(backend)], check=True, capture_output=True)
            for values in arguments[:20]:  # prepare, warm the caches
                await connection.fetchval(plan.sql, *values)
            rounds = []
            for _ in range(5):
                started = time.perf_counter()
                for values in arguments:
                    await connection.fetchval(plan.sql, *values)
                rounds.append((time.perf_counter() - started) * 1000 / len(arguments))
        finally:
            await connection.close()
        rounds.sort()
        print(f"{name}: {rounds[0]:.3f} ms fastest, {rounds[2]:.3f} ms median round")  # noqa: T201


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="+", choices=["customer_page", "customers_list"])
    parser.add_argument("--bodies", type=int, default=200)
    parser.add_argument("--dsn", default="postgresql://bench:bench@127.0.0.1:5432/bench_paygate")
    asyncio.run(main(parser.parse_args()))
