"""A resolver-path request's execution split in two, in process: with its SQL, and again on
the same context with every DataLoader already filled (no SQL), in process CPU milliseconds
(medians over a workload's bodies, after 50 of warm-up). Needs ``bench_paygate``.

    PAYGATE_LOG_LEVEL=WARNING .venv/bin/python bench/execution_split.py customer_page
"""

import json
import statistics
import sys
import time
from pathlib import Path

import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from render_bodies import render  # noqa: E402
from starlette.requests import Request  # noqa: E402

from app.auth import authenticate  # noqa: E402
from app.context import RequestContext  # noqa: E402
from app.graphql.schema import schema  # noqa: E402
from app.main import create_app  # noqa: E402
from app.security.principals import Role  # noqa: E402
from app.services import api_keys  # noqa: E402
from app.settings import Settings  # noqa: E402

DSN = "postgresql://bench:bench@127.0.0.1:5432/bench_paygate"


async def main(workload: str) -> None:
    settings = Settings(database_url=DSN, profile="production", db_pool_size=10, db_max_overflow=0)
    app = create_app(settings)
    runtime = app.state.runtime
    spec = json.loads((HERE / "queries" / f"{workload}.json").read_text())
    bodies = [json.loads(body) for body in render(spec)][:600]
    async with app.router.lifespan_context(app):
        async with runtime.sessions() as session:
            key = await api_keys.create_key(
                session, clock=runtime.clock, name="split", role=Role.ADMIN
            )
        headers = [(b"authorization", f"Bearer {key.secret}".encode())]
        scope = {
            "type": "http",
            "headers": headers,
            "method": "POST",
            "path": "/graphql",
            "query_string": b"",
            "state": {},
        }
        principal = await authenticate(Request(scope), runtime)
        cold, warm = [], []
        for i, body in enumerate(bodies):
            context = RequestContext(runtime, "split", principal)
            started = time.process_time()
            first = await schema.execute(
                body["query"], variable_values=body["variables"], context_value=context
            )
            middle = time.process_time()
            await schema.execute(
                body["query"], variable_values=body["variables"], context_value=context
            )
            ended = time.process_time()
            await context.close()
            assert not first.errors, first.errors
            if i >= 50:
                cold.append((middle - started) * 1000)
                warm.append((ended - middle) * 1000)
    print(
        f"{workload}: execution with SQL {statistics.median(cold):.2f} ms CPU; "  # noqa: T201
        f"loaders filled (no SQL) {statistics.median(warm):.2f} ms CPU"
    )


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1] if len(sys.argv) > 1 else "customer_page"))
