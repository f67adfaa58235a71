"""What one loader statement costs in process CPU: through a request's DataLoader (a fresh
session per request, or many statements on one session), against the same ``SELECT`` sent
straight to asyncpg. Needs ``bench_paygate``.

    .venv/bin/python bench/loader_statement.py [--statements 300]

Prints milliseconds of this thread's CPU per statement (PostgreSQL excluded). The gap to the
driver is what paygate's loader chain adds per statement (DataLoader, the session lock,
finding the connection, result processing, records).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.db import make_engine, make_session_factory  # noqa: E402
from app.graphql.read.loaders import Loaders  # noqa: E402
from app.models import Customer  # noqa: E402

DSN = "postgresql+asyncpg://bench:bench@127.0.0.1:5432/bench_paygate"


async def main(statements: int) -> None:
    engine = make_engine(DSN, pool_size=2)
    sessions = make_session_factory(engine)
    async with sessions() as session:
        keys = [row[0] for row in (await session.execute(sa.select(Customer.id).limit(50)))]

    for label, fresh in (("a fresh session per statement", True), ("one session", False)):
        current: Any = sessions()

        @asynccontextmanager
        async def scope() -> AsyncIterator[Any]:
            yield current

        started = time.thread_time()
        for i in range(statements):
            if fresh:
                current = sessions()
            await Loaders(scope).customer_subscriptions.load(keys[i % len(keys)])
            if fresh:
                await current.close()
        spent = time.thread_time() - started
        await current.close()
        print(f"loader, {label}: {spent / statements * 1000:.3f} ms CPU per statement")  # noqa: T201

    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        sql = "SELECT * FROM subscriptions WHERE customer_id = ANY($1::uuid[])"
        started = time.thread_time()
        for i in range(statements):
            await driver.fetch(sql, [keys[i % len(keys)]])
        spent = time.thread_time() - started
        print(f"asyncpg fetch: {spent / statements * 1000:.3f} ms CPU per statement")  # noqa: T201
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=300)
    uvloop.run(main(parser.parse_args().statements))
