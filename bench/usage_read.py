"""Issue 24's read figure: one customer's calendar month of a meter's usage, over a table
of ``--events`` raw usage events.

    .tools/bin/uv run --frozen python bench/usage_read.py [--events 50000000]
        [--customers 10000] [--months 3] [--reads 300] [--port 8720] [--keep] [--reuse]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_usage_read]

1. A fresh migrated database; a COUNT meter and a SUM meter (``meters.create_meter``) and
   ``--customers`` customers (inserted through the ORM, with ids that SQL can compute).
2. ``usage_events`` generated in SQL (``generate_series``), spread evenly over ``--months``
   calendar months up to the current hour, ordered by time as ingestion would write them;
   each event names a random customer and meter (SUM values are decimals with 3 places).
   Each month is loaded into a table of its own, two at a time, its indexes built, then
   attached as the month's partition (the migration's empty partition is dropped first);
   ``usage_keys`` is left empty (reads never look at it).
3. ``usage_rollups`` built from the raw events by one ``INSERT … SELECT … GROUP BY`` per
   month, with the ingest statement's expressions (``app/services/metering/store.py``),
   inserted in hour order as ingestion would; then ``VACUUM ANALYZE``.
4. ``--checks`` reads (other customers) checked against ``count(*)``/``sum(value)`` over
   the raw events (exit status 1 if one differs). Then ``readings.measure`` in process,
   ``--reads`` times: a random customer and meter, a calendar month shifted by a random
   time of day that is not a whole hour (e.g. from 2026-10-01T15:45:40Z to
   2026-11-01T15:45:40Z), so that both cut hours are read from the raw events; median,
   p95, p99 ms and the process's CPU per read. Each read runs twice in a row: the first
   time a month's ~570 roll-up rows (one page each: they were written hour by hour) come
   from the OS cache or the disk, as PostgreSQL's 128 MB of shared buffers hold few of
   them; repeated at once, they are in shared buffers. A split of repeated reads follows:
   the three statements on asyncpg alone, ``readings.pieces`` through the ORM, the exact
   arithmetic.
5. The same reads through GraphQL over HTTP (``customer(id:) { usage(meterKey:, from:,
   to:) { quantity } }``) from one ``paygate serve`` process, one at a time, beside the
   round trip of ``/healthz``; each read twice in a row too, each quantity compared with
   ``readings.measure``'s.

Loading 50 million events takes about 9 minutes on 2 cores and 15 GB of disk (try
``--events 5000000`` first). ``--reuse`` skips steps 1-3 when the database exists
(``--keep`` left it). Not a test: run it by hand and quote its figures. The database is
dropped unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import signal
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from fresh_database import checkout, drop_database, fresh_database
from sqlalchemy.engine import make_url

from app.db import make_engine, make_session_factory
from app.domain.clock import SystemClock
from app.domain.metering import Aggregation, quantity_text
from app.main import GC_THRESHOLDS
from app.models import Customer, Meter
from app.schema.node import encode_gid
from app.services.metering import meters, readings

ROOT = Path(__file__).resolve().parents[1]
COUNT_METER, SUM_METER = "api_calls", "gb_processed"
USAGE = """query($c: ID!, $m: String!, $f: DateTime!, $t: DateTime!) {
  customer(id: $c) { usage(meterKey: $m, from: $f, to: $t) { quantity } } }"""

# OFFSET 0 keeps the inner query's random() evaluated once per row.
LOAD = """
INSERT INTO {table} (sender, idempotency_key, timestamp, meter_id, customer_id,
    subscription_id, value, distinct_value, properties, counted, received_at)
SELECT 'bench', 'ev-' || ($1::bigint + g), ts,
    CASE WHEN summed THEN $5::uuid ELSE $4::uuid END,
    ('b0000000-0000-4000-8000-' || lpad(to_hex(customer), 12, '0'))::uuid,
    NULL, CASE WHEN summed THEN round((random() * 100)::numeric, 3) END, NULL,
    '{{}}'::jsonb, true, ts
FROM (
    SELECT g, $6::timestamptz + ($7::timestamptz - $6::timestamptz)
            * ((g + random()) / $2::bigint) AS ts,
        floor(random() * $3::int)::int AS customer, random() < 0.5 AS summed
    FROM generate_series(0, $2::bigint - 1) AS g OFFSET 0
) AS drawn
"""
# The ingest statement's roll-up, over a month's raw events at once.
ROLLUP = """
INSERT INTO usage_rollups (meter_id, customer_id, hour, count, total, maximum, latest_at,
    latest_key, latest_value, weighted)
SELECT meter_id, customer_id, date_trunc('hour', timestamp), count(*),
    coalesce(sum(value), 0), max(value), max(timestamp),
    (array_agg(idempotency_key ORDER BY timestamp DESC, idempotency_key COLLATE "C" DESC))[1],
    (array_agg(value ORDER BY timestamp DESC, idempotency_key COLLATE "C" DESC))[1],
    coalesce(sum(value * extract(epoch FROM timestamp)), 0)
FROM {table} WHERE counted
GROUP BY 1, 2, 3 ORDER BY 3, 1, 2
"""


def customer_id(n: int) -> uuid.UUID:
    """The id of customer ``n``, as the SQL above computes it."""
    return uuid.UUID(f"b0000000-0000-4000-8000-{n:012x}")


def month_start(moment: datetime, offset: int = 0) -> datetime:
    total = moment.year * 12 + moment.month - 1 + offset
    return datetime(total // 12, total % 12 + 1, 1, tzinfo=UTC)


def _say(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _figures(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):6.2f}  p95 {_pct(values, 0.95):6.2f}  "
        f"p99 {_pct(values, 0.99):6.2f}  max {max(values):6.2f}"
    )


async def _connect(url: str, database: str | None = None) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        database=database or parsed.database,
        server_settings={"TimeZone": "UTC"},
    )


# -- loading -------------------------------------------------------------------------------


async def _meters_and_customers(args: argparse.Namespace) -> dict[str, uuid.UUID]:
    engine = make_engine(args.database_url, pool_size=1)
    sessions = make_session_factory(engine)
    try:
        async with sessions() as session:
            found = {}
            for key, aggregation in (
                (COUNT_METER, Aggregation.COUNT),
                (SUM_METER, Aggregation.SUM),
            ):
                meter = await meters.create_meter(
                    session,
                    clock=SystemClock(),
                    key=key,
                    name=key,
                    aggregation=aggregation,
                    value_property=None,
                    filters=None,
                )
                found[key] = meter.id
            now = datetime.now(UTC)
            await session.execute(
                sa.insert(Customer),
                [
                    {
                        "id": customer_id(n),
                        "name": f"Usage {n}",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(args.customers)
                ],
            )
            await session.commit()
    finally:
        await engine.dispose()
    return found


async def _load_month(
    args: argparse.Namespace,
    ids: dict[str, uuid.UUID],
    month: datetime,
    first: int,
    count: int,
    start: datetime,
    end: datetime,
) -> None:
    """One month's events into a table of its own, with the partitions' indexes."""
    table = f"usage_events_{month:%Y_%m}"
    connection = await _connect(args.database_url)
    try:
        await connection.execute("SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'")
        await connection.execute(f"DROP TABLE IF EXISTS {table}")  # the empty partition
        await connection.execute(f"CREATE TABLE {table} (LIKE usage_events INCLUDING DEFAULTS)")
        started = time.perf_counter()
        await connection.execute(
            LOAD.format(table=table),
            first,
            count,
            args.customers,
            ids[COUNT_METER],
            ids[SUM_METER],
            start,
            end,
        )
        loaded = time.perf_counter()
        await connection.execute(
            f"ALTER TABLE {table} ADD PRIMARY KEY (sender, idempotency_key, timestamp)"
        )
        await connection.execute(f"CREATE INDEX ON {table} (customer_id, meter_id, timestamp)")
        await connection.execute(f"CREATE INDEX ON {table} USING brin (timestamp)")
        _say(
            f"  {table}: {count:,} events in {loaded - started:.0f} s, indexes in "
            f"{time.perf_counter() - loaded:.0f} s"
        )
    finally:
        await connection.close()


async def _rollups(args: argparse.Namespace, table: str) -> None:
    connection = await _connect(args.database_url)
    try:
        # No foreign-key trigger per roll-up row: the two meters exist.
        await connection.execute("SET work_mem = '512MB'; SET session_replication_role = replica")
        started = time.perf_counter()
        status = await connection.execute(ROLLUP.format(table=table))
        _say(
            f"  roll-ups of {table}: {int(status.split()[-1]):,} rows in "
            f"{time.perf_counter() - started:.0f} s"
        )
    finally:
        await connection.close()


async def _in_pairs(jobs: list[Any]) -> None:
    """Run coroutines two at a time (the machine's cores)."""
    gate = asyncio.Semaphore(2)

    async def one(job: Any) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(j) for j in jobs))


async def load(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    await fresh_database(args.database_url)
    ids = await _meters_and_customers(args)
    now = datetime.now(UTC)
    data_start = month_start(now, -(args.months - 1))
    data_end = now.replace(minute=0, second=0, microsecond=0)
    span = (data_end - data_start).total_seconds()
    months = [month_start(now, -(args.months - 1) + i) for i in range(args.months)]
    jobs, first = [], 0
    for i, month in enumerate(months):
        end = min(month_start(month, 1), data_end)
        share = (end - month).total_seconds() / span
        count = round(args.events * share) if i < len(months) - 1 else args.events - first
        jobs.append(_load_month(args, ids, month, first, count, month, end))
        first += count
    _say(
        f"loading {args.events:,} events over {data_start:%Y-%m-%d} .. {data_end:%Y-%m-%d %H}h "
        f"({args.customers:,} customers x 2 meters)"
    )
    await _in_pairs(jobs)
    connection = await _connect(args.database_url)
    try:
        # The roll-ups' key is built once at the end rather than row by row.
        await connection.execute("ALTER TABLE usage_rollups DROP CONSTRAINT pk_usage_rollups")
        for month in months:
            table = f"usage_events_{month:%Y_%m}"
            started = time.perf_counter()
            await connection.execute(
                f"ALTER TABLE usage_events ATTACH PARTITION {table} FOR VALUES FROM "
                f"('{month.isoformat()}') TO ('{month_start(month, 1).isoformat()}')"
            )
            _say(f"  {table} attached in {time.perf_counter() - started:.0f} s")
    finally:
        await connection.close()
    await _in_pairs([_rollups(args, f"usage_events_{m:%Y_%m}") for m in months])
    connection = await _connect(args.database_url)
    try:
        await connection.execute("SET maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        await connection.execute(
            "ALTER TABLE usage_rollups ADD CONSTRAINT pk_usage_rollups "
            "PRIMARY KEY (meter_id, customer_id, hour)"
        )
        _say(f"  roll-ups' primary key in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        await connection.execute("VACUUM (ANALYZE) usage_events")
        await connection.execute("VACUUM (ANALYZE) usage_rollups")
        _say(f"  VACUUM ANALYZE in {time.perf_counter() - started:.0f} s")
        events = await connection.fetchval(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'usage_events'"
        )
        rollups = await connection.fetchval("SELECT count(*) FROM usage_rollups")
        size = await connection.fetchval(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        )
    finally:
        await connection.close()
    _say(
        f"loaded in {time.perf_counter() - began:.0f} s: ~{events:,} events (planner's "
        f"estimate), {rollups:,} roll-up rows, database {size}"
    )


# -- reading -------------------------------------------------------------------------------


def windows(
    args: argparse.Namespace, data_end: datetime, n: int, seed: int = 0
) -> list[tuple[int, str, datetime, datetime]]:
    """``n`` reads: (customer, meter key, start, end), a calendar month shifted by a time
    of day that is not a whole hour, inside the data."""
    rng = random.Random(args.seed + seed)  # noqa: S311 - not for security
    now = datetime.now(UTC)
    candidates = [month_start(now, -k) for k in range(1, args.months)]
    months = [m for m in candidates if month_start(m, 1) + timedelta(days=1) <= data_end]
    assert months, "no whole month in the data: use --months 3 or more"
    found = []
    for _ in range(n):
        offset = rng.randrange(86400)
        if offset % 3600 == 0:
            offset += 1
        month = months[rng.randrange(len(months))]
        shift = timedelta(seconds=offset)
        found.append(
            (
                rng.randrange(args.customers),
                (COUNT_METER, SUM_METER)[rng.randrange(2)],
                month + shift,
                month_start(month, 1) + shift,
            )
        )
    return found


async def _raw_truth(
    connection: asyncpg.Connection, meter: Meter, customer: int, start: datetime, end: datetime
) -> Fraction:
    count, total = await connection.fetchrow(
        "SELECT count(*), coalesce(sum(value), 0) FROM usage_events WHERE customer_id = $1 "
        "AND meter_id = $2 AND timestamp >= $3 AND timestamp < $4 AND counted",
        customer_id(customer),
        meter.id,
        start,
        end,
    )
    return Fraction(count) if meter.aggregation is Aggregation.COUNT else Fraction(total)


Times = dict[str, list[float]]


def _report(title: str, first: Times, again: Times) -> None:
    _say(f"\n{title} (ms):")
    for label, times in (("first read", first), ("repeated at once", again)):
        _say(f"  {label}, both meters      {_figures(times[COUNT_METER] + times[SUM_METER])}")
        for key in (COUNT_METER, SUM_METER):
            _say(f"  {label}, {key:16} {_figures(times[key])}")


async def _timed(sessions: Any, by_key: dict[str, Meter], reads: list[Any]) -> dict[str, str]:
    """Time ``readings.measure`` over ``reads``, each twice in a row (the second time its
    pages are in PostgreSQL's shared buffers); print the figures; return the quantities."""
    answers: dict[str, str] = {}
    first: Times = {COUNT_METER: [], SUM_METER: []}
    again: Times = {COUNT_METER: [], SUM_METER: []}
    cpu: list[float] = []
    for customer, key, start, end in reads:
        for times in (first, again):
            async with sessions() as session:
                started, started_cpu = time.perf_counter(), time.process_time()
                quantity = await readings.measure(
                    session, by_key[key], customer_id(customer), start, end
                )
                times[key].append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
        answers[f"{customer}/{key}/{start.isoformat()}"] = quantity_text(quantity)
    _report(f"readings.measure in process, {len(reads)} reads of a month", first, again)
    _say(f"  this process's CPU per read: median {statistics.median(cpu):.2f} ms")
    return answers


async def read_in_process(
    args: argparse.Namespace, reads: list[Any], data_end: datetime
) -> dict[str, str]:
    # The collector tuned as in a serving process (app/main.py): what start-up made leaves
    # its generations, and collections are rarer (else a full one lands in some reads).
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    engine = make_engine(args.database_url, pool_size=2)
    sessions = make_session_factory(engine)
    try:
        async with sessions() as session:
            by_key = {m.key: m for m in (await session.scalars(sa.select(Meter))).all()}
        # Checked (and the code paths warmed) on other customers than the timed reads'.
        checked = windows(args, data_end, args.checks, seed=1)
        truth = await _connect(args.database_url)
        try:
            rollup_rows = []
            for n, (customer, key, start, end) in enumerate(checked):
                async with sessions() as session:
                    got = await readings.measure(
                        session, by_key[key], customer_id(customer), start, end
                    )
                want = await _raw_truth(truth, by_key[key], customer, start, end)
                if got != want:
                    _say(f"FAIL read {n}: measure {got} raw events {want}")
                    raise SystemExit(1)
                rollup_rows.append(
                    await truth.fetchval(
                        "SELECT count(*) FROM usage_rollups WHERE meter_id = $1 "
                        "AND customer_id = $2 AND hour >= $3 AND hour < $4",
                        by_key[key].id,
                        customer_id(customer),
                        readings.ceil_hour(start),
                        readings.floor_hour(end),
                    )
                )
        finally:
            await truth.close()
        _say(
            f"ok   {args.checks} reads equal count(*)/sum(value) over the raw events; a month "
            f"is ~{statistics.median(rollup_rows):.0f} roll-up rows"
        )
        answers = await _timed(sessions, by_key, reads)
        await _split(args, sessions, by_key, reads[:100])
    finally:
        await engine.dispose()
    return answers


async def _split(
    args: argparse.Namespace, sessions: Any, by_key: dict[str, Meter], reads: list[Any]
) -> None:
    """Where a read's time goes, its pages in shared buffers: its statements alone, the ORM
    read, the arithmetic."""
    hours = """SELECT * FROM usage_rollups WHERE meter_id = $1 AND customer_id = $2
        AND hour >= $3 AND hour < $4"""
    edge = """SELECT * FROM usage_events WHERE customer_id = $1 AND meter_id = $2
        AND timestamp >= $3 AND timestamp < $4 AND counted"""
    connection = await _connect(args.database_url)
    sql, orm, orm_cpu, math = [], [], [], []
    try:
        for customer, key, start, end in reads:
            meter, who = by_key[key], customer_id(customer)
            first, last = readings.ceil_hour(start), readings.floor_hour(end)
            async with sessions() as session:  # its pages into shared buffers
                await readings.measure(session, meter, who, start, end)
            started = time.perf_counter()
            await connection.fetch(edge, who, meter.id, start, first)
            await connection.fetch(hours, meter.id, who, first, last)
            await connection.fetch(edge, who, meter.id, last, end)
            sql.append((time.perf_counter() - started) * 1000)
            async with sessions() as session:
                started, started_cpu = time.perf_counter(), time.process_time()
                found = await readings.pieces(session, meter, who, start, end)
                orm.append((time.perf_counter() - started) * 1000)
                orm_cpu.append((time.process_time() - started_cpu) * 1000)
            started = time.perf_counter()
            readings._quantity(meter, found, start, end, Fraction(0))
            math.append((time.perf_counter() - started) * 1000)
    finally:
        await connection.close()
    _say(
        f"  split of {len(reads)} repeated reads (medians, ms): the 3 statements on asyncpg "
        f"alone "
        f"{statistics.median(sql):.2f}; readings.pieces (the same through the ORM, rows to "
        f"Readings) {statistics.median(orm):.2f} of which this process's CPU "
        f"{statistics.median(orm_cpu):.2f}; merging the pieces' exact readings "
        f"{statistics.median(math):.2f}"
    )


async def read_over_http(
    args: argparse.Namespace, reads: list[Any], answers: dict[str, str]
) -> bool:
    env = {
        **os.environ,
        "PAYGATE_DATABASE_URL": args.database_url,
        "PAYGATE_PROFILE": "development",
        "PAYGATE_MIGRATE_ON_START": "false",
        "PAYGATE_SEED_DEMO": "false",
        "PAYGATE_REQUEST_LOG": "false",
        "PAYGATE_LOG_LEVEL": "WARNING",
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(args.port),
        "--log-level",
        "warning",
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).is_success:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("paygate serve did not start")

            async def usage(customer: int, key: str, start: datetime, end: datetime) -> str:
                variables = {
                    "c": encode_gid("Customer", customer_id(customer)),
                    "m": key,
                    "f": start.isoformat(),
                    "t": end.isoformat(),
                }
                body = (
                    await http.post("/graphql", json={"query": USAGE, "variables": variables})
                ).json()
                assert "errors" not in body, body
                return str(body["data"]["customer"]["usage"]["quantity"])

            for read in reads[:20]:  # warm up
                await usage(*read)
            floor = []
            for _ in range(100):
                started = time.perf_counter()
                await http.get("/healthz")
                floor.append((time.perf_counter() - started) * 1000)
            first: Times = {COUNT_METER: [], SUM_METER: []}
            again: Times = {COUNT_METER: [], SUM_METER: []}
            same = 0
            for customer, key, start, end in reads:
                for times in (first, again):
                    started = time.perf_counter()
                    quantity = await usage(customer, key, start, end)
                    times[key].append((time.perf_counter() - started) * 1000)
                same += quantity == answers.get(f"{customer}/{key}/{start.isoformat()}")
    finally:
        server.send_signal(signal.SIGINT)
        await asyncio.wait_for(server.wait(), 60)
    _report(
        f"GraphQL customer {{ usage {{ quantity }} }} over HTTP, {len(reads)} reads", first, again
    )
    _say(f"  GET /healthz                      {_figures(floor)}  (HTTP's floor)")
    _say(
        f"{'ok  ' if same == len(reads) else 'FAIL'} {same} of {len(reads)} quantities equal "
        f"readings.measure's"
    )
    return same == len(reads)


async def main(args: argparse.Namespace) -> int:
    _say(f"paygate at {checkout()}")
    parsed = make_url(args.database_url)
    admin = await _connect(args.database_url, "postgres")
    try:
        exists = await admin.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = $1", parsed.database
        )
    finally:
        await admin.close()
    if not (args.reuse and exists):
        await load(args)
    connection = await _connect(args.database_url)
    try:
        data_end = await connection.fetchval("SELECT max(hour) FROM usage_rollups")
    finally:
        await connection.close()
    reads = windows(args, data_end, args.reads)
    _say(
        f"goal: a month's usage in <= 20 ms; reads of months starting "
        f"{sorted({r[2].strftime('%Y-%m') for r in reads})} at times like "
        f"{reads[0][2]:%H:%M:%S}"
    )
    answers = await read_in_process(args, reads, data_end)
    same = await read_over_http(args, reads, answers)
    if not args.keep:
        await drop_database(args.database_url)
    return 0 if same else 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=3, help="calendar months of data")
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--checks", type=int, default=20, help="reads checked against SQL")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--port", type=int, default=8720)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--reuse", action="store_true", help="read the kept database")
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/bench_usage_read"
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_arguments())))
