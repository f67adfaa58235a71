"""One billing engine in a process of its own, as a worker would run it:
``python -m tests.engines.billing_engine_process DATABASE_URL TEST_CLOCK_ID`` (and
``--transaction-pooling`` when DATABASE_URL goes through PgBouncer in transaction mode).
Prints ``ready`` once set up, starts billing when a line arrives on its standard input (so
that engines started together bill together, whatever their start-up times), and prints its
steps."""

from __future__ import annotations

import asyncio
import sys
import uuid

from app.db import make_engine, make_session_factory
from app.domain.clock import SystemClock
from app.psp.registry import build_registry
from app.services.billing import renewals
from app.settings import Settings
from app.wiring import wire


async def main(database_url: str, test_clock_id: uuid.UUID, pooled: bool = False) -> int:
    wire()
    settings = Settings(
        database_url=database_url, enabled_psps=["sandbox"], database_transaction_pooling=pooled
    )
    clock = SystemClock()
    engine = make_engine(
        settings.database_url,
        pool_size=2,
        transaction_pooling=settings.database_transaction_pooling,
    )
    print("ready", flush=True)  # noqa: T201
    await asyncio.to_thread(sys.stdin.readline)
    try:
        async with make_session_factory(engine)() as session:
            return await renewals.run_due(
                session,
                psps=build_registry(settings, clock=clock),
                clock=clock,
                test_clock_id=test_clock_id,
            )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    pooled = sys.argv[3:] == ["--transaction-pooling"]
    print(asyncio.run(main(sys.argv[1], uuid.UUID(sys.argv[2]), pooled)))  # noqa: T201
