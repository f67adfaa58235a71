"""Issue 24's ingest figure: usage events through ``POST /usage`` into PostgreSQL, with
the servers, PostgreSQL and the senders on one machine.

    .tools/bin/uv run --frozen python bench/usage_ingest.py [--seconds 300] [--workers 2]
        [--senders 8] [--batch 100] [--customers 1000] [--duplicates 0.10]
        [--spread-hours 24] [--warmup 10] [--report-every 10] [--pool 10] [--port 8710]
        [--rate EVENTS_PER_S] [--profile] [--keep] [--private-postgres PORT
        [--postgres-setting NAME=VALUE]...]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_usage_ingest]

By default each sender sends its next batch as soon as the last is answered: the servers are
saturated, and latency is what queueing at full load gives (Little's law: 8 batches in flight
over the throughput). ``--rate`` offers a fixed load instead, paced (latency counted from
each batch's due time); ``--private-postgres`` runs on a private cluster with write-heavy
settings (``bench/private_postgres.py``).

1. A fresh migrated database; ``--workers`` ``paygate serve`` processes (development
   profile: callers without credentials are admins) on ports ``--port``, ``--port`` + 1, …
   (``paygate serve`` has no ``--workers``: the senders are spread over the processes as a
   load balancer would spread them); a COUNT meter and a SUM meter and ``--customers``
   customers made through GraphQL.
2. ``--senders`` senders, each with one keep-alive connection, post batches of ``--batch``
   events for ``--seconds`` (the first ``--warmup`` seconds are sent but left out of the
   figures). Each event names a random customer and meter (SUM values are decimals with 3
   places), a time within the last ``--spread-hours`` hours with one of several UTC offsets,
   a UUID key and two properties. ``--duplicates`` of the events are resends, as a client
   retrying after a timeout makes them: half of them whole batches sent again, half a few
   events of an earlier batch sent again in a new batch. Bodies are JSON built from string
   templates, posted by a minimal HTTP/1.1 client (asyncio streams, no per-request objects
   beyond the bytes) so that the senders stay cheap; their own CPU is printed.
3. Every ``--report-every`` seconds a line: events/s, batches/s, latency, the CPU of the
   servers, of PostgreSQL's processes and of the senders, what other processes took (the
   machine may be shared: the busiest are named at the end), in cores from /proc, and the
   machine's busy, iowait and steal shares. At the end: the figures over the measured
   window, where PostgreSQL's backends spent it (``pg_stat_activity`` sampled 10 times a
   second), and the exactness checks (exit status 1 if one fails): each answer's counts
   match what was sent, ``usage_events``, ``usage_keys`` and the roll-ups' counts hold
   exactly the distinct keys sent, the SUM meter's roll-ups hold the exact sum.

``--profile`` runs the servers under cProfile and prints where their CPU went (this slows
them down: quote the profile's shares, not that run's throughput). Not a test: run it by
hand and quote its figures. The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from fresh_database import checkout, drop_database, fresh_database
from private_postgres import WRITE_HEAVY, private_postgres
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
COUNT_METER, SUM_METER = "api_calls", "gb_processed"
METER = """mutation($i: CreateMeterInput!) { createMeter(input: $i) {
  meter { id } userErrors { code message } } }"""
CUSTOMER = """mutation($i: CreateCustomerInput!) { createCustomer(input: $i) {
  customer { id } userErrors { code message } } }"""
OFFSETS = [
    timezone(timedelta(hours=h, minutes=m))
    for h, m in ((0, 0), (1, 0), (-5, 0), (9, 0), (5, 30), (-3, -30))
]
REGIONS = ["eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"]
ENDPOINTS = ["/v1/search", "/v1/render", "/v1/convert", "/v1/export", "/v1/ping"]


# -- a minimal HTTP/1.1 client: one keep-alive connection, one request at a time ----------


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        try:
            header = await self.reader.readuntil(b"\r\n\r\n")
            status = int(header[9:12])
            length = None
            for line in header.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            assert length is not None, header  # uvicorn answers with a length, not chunks
            return status, await self.reader.readexactly(length)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


# -- CPU from /proc -----------------------------------------------------------------------


def _ticks(pid: int) -> int:
    """User + system clock ticks of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])


def _machine() -> list[int]:
    """/proc/stat's first line: user nice system idle iowait irq softirq steal."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def _every_process() -> dict[int, tuple[str, int]]:
    """pid -> (command line, clock ticks) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:90]
                name = name.strip() or f"[{(entry / 'comm').read_text().strip()}]"
                found[int(entry.name)] = (name.strip(), _ticks(int(entry.name)))
            except OSError:
                continue
    return found


def busiest_others(
    a: dict[int, tuple[str, int]], b: dict[int, tuple[str, int]], mine: set[int], wall: float
) -> list[tuple[float, str]]:
    """The processes outside the bench that used the most CPU between two listings."""
    used = [
        ((ticks - a.get(pid, ("", 0))[1]) / TICK / wall, name)
        for pid, (name, ticks) in b.items()
        if pid not in mine
    ]
    return sorted((u for u in used if u[0] >= 0.02), reverse=True)[:4]


@dataclass
class CpuSample:
    at: float
    servers: int
    postgres: int
    senders: float  # seconds
    machine: list[int]

    @classmethod
    def take(cls, server_pids: list[int], postgres_pids: set[int]) -> CpuSample:
        times = os.times()
        return cls(
            time.perf_counter(),
            sum(_ticks(p) for p in server_pids),
            sum(_ticks(p) for p in postgres_pids),
            times.user + times.system,
            _machine(),
        )


def cpu_between(a: CpuSample, b: CpuSample) -> dict[str, float]:
    """Cores used by each side between two samples, and the machine's shares."""
    wall = b.at - a.at
    delta = [y - x for x, y in zip(a.machine, b.machine, strict=True)]
    total = sum(delta) or 1
    idle, iowait, steal = delta[3], delta[4], delta[7]
    found = {
        "servers": (b.servers - a.servers) / TICK / wall,
        "postgres": (b.postgres - a.postgres) / TICK / wall,
        "senders": (b.senders - a.senders) / wall,
        "busy": (total - idle - iowait - steal) / total,
        "iowait": iowait / total,
        "steal": steal / total,
    }
    cores = found["busy"] * (os.cpu_count() or 1)
    found["others"] = max(0.0, cores - found["servers"] - found["postgres"] - found["senders"])
    return found


# -- the senders ---------------------------------------------------------------------------


@dataclass
class Totals:
    """What was sent and answered, for the exactness checks (all requests) and the figures
    (requests that ended after the warm-up)."""

    new_keys: int = 0
    resent: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    mismatches: int = 0
    failures: int = 0
    count_events: int = 0
    sum_thousandths: int = 0
    done: list[tuple[float, float, int, int]] = field(default_factory=list)  # end, s, n, new


class Sender:
    def __init__(
        self,
        index: int,
        port: int,
        args: argparse.Namespace,
        customers: list[str],
        stamps: list[str],
        totals: Totals,
    ) -> None:
        self.connection = Connection(port)
        self.index = index
        self.rng = random.Random(index)  # noqa: S311 - not for security
        self.args = args
        self.customers = customers
        self.stamps = stamps
        self.totals = totals
        self.recent: deque[list[tuple[str, str, int]]] = deque(maxlen=64)
        whole = args.duplicates / 2  # share of the events resent in whole batches
        self.whole = whole
        self.partial = (args.duplicates - whole) / (1 - whole) * args.batch  # per new batch

    def _event(self) -> tuple[str, str, int]:
        """(JSON text, meter key, value in thousandths) of a new event."""
        rng = self.rng
        key = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        customer = self.customers[rng.randrange(len(self.customers))]
        stamp = self.stamps[rng.randrange(len(self.stamps))]
        properties = (
            f'{{"region":"{REGIONS[rng.randrange(4)]}","endpoint":"{ENDPOINTS[rng.randrange(5)]}"}}'
        )
        if rng.random() < 0.5:
            text = (
                f'{{"idempotencyKey":"{key}","meterKey":"{COUNT_METER}",'
                f'"customerId":"{customer}","timestamp":"{stamp}",'
                f'"properties":{properties}}}'
            )
            return text, COUNT_METER, 0
        thousandths = rng.randrange(1, 100_000_000)
        text = (
            f'{{"idempotencyKey":"{key}","meterKey":"{SUM_METER}",'
            f'"customerId":"{customer}","timestamp":"{stamp}",'
            f'"value":{thousandths // 1000}.{thousandths % 1000:03d},'
            f'"properties":{properties}}}'
        )
        return text, SUM_METER, thousandths

    def _batch(self) -> tuple[list[tuple[str, str, int]], int]:
        """The next batch's events and how many of them are new."""
        rng = self.rng
        if self.recent and rng.random() < self.whole:
            return self.recent[rng.randrange(len(self.recent))], 0
        old: list[tuple[str, str, int]] = []
        if self.recent:
            wanted = int(self.partial + rng.random())
            source = self.recent[rng.randrange(len(self.recent))]
            old = rng.sample(source, min(wanted, len(source)))
        new = [self._event() for _ in range(self.args.batch - len(old))]
        self.recent.append(new)
        return old + new, len(new)

    async def run(self, deadline: float, warm_until: float) -> None:
        totals = self.totals
        # --rate: this sender's batches are due at fixed times (staggered between senders),
        # and a batch's latency counts from when it was due, so that a slow answer delaying
        # the next batch is counted against the server (no coordinated omission, as wrk2)
        interval = self.args.senders * self.args.batch / self.args.rate if self.args.rate else 0
        due = time.perf_counter() + interval * self.index / max(1, self.args.senders)
        while time.perf_counter() < deadline:
            events, fresh = self._batch()
            body = ('{"events":[' + ",".join(e[0] for e in events) + "]}").encode()
            if interval:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                started = due
                due += interval
            else:
                started = time.perf_counter()
            try:
                status, payload = await asyncio.wait_for(
                    self.connection.post("/usage", body), timeout=60
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
                totals.failures += 1
                sys.stderr.write(f"sender: request failed: {error!r}\n")
                continue
            ended = time.perf_counter()
            if status != 200:
                totals.failures += 1
                sys.stderr.write(f"sender: HTTP {status}: {payload[:300]!r}\n")
                continue
            answer = orjson.loads(payload)
            totals.new_keys += fresh
            totals.resent += len(events) - fresh
            totals.accepted += answer["accepted"]
            totals.duplicates += answer["duplicates"]
            totals.refused += answer["refused"]
            if (answer["accepted"], answer["duplicates"]) != (fresh, len(events) - fresh):
                totals.mismatches += 1
            for _, meter, thousandths in events[len(events) - fresh :]:
                if meter == COUNT_METER:
                    totals.count_events += 1
                else:
                    totals.sum_thousandths += thousandths
            if ended >= warm_until:
                totals.done.append((ended, ended - started, len(events), answer["accepted"]))


# -- servers, setup, sampling --------------------------------------------------------------


def _server_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "PAYGATE_DATABASE_URL": args.database_url,
        "PAYGATE_PROFILE": "development",
        "PAYGATE_MIGRATE_ON_START": "false",
        "PAYGATE_SEED_DEMO": "false",
        "PAYGATE_REQUEST_LOG": "false",
        "PAYGATE_LOG_LEVEL": "WARNING",
        "PAYGATE_DB_POOL_SIZE": str(args.pool),
        "PAYGATE_RATE_LIMIT_MUTATIONS": "100000000/minute",
    }


async def _start_servers(
    args: argparse.Namespace, profile_dir: Path | None
) -> list[asyncio.subprocess.Process]:
    servers = []
    for n in range(args.workers):
        port = args.port + n
        profiler = (
            ["-m", "cProfile", "-o", str(profile_dir / f"server{n}.prof")] if profile_dir else []
        )
        servers.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                *profiler,
                "-m",
                "app.cli",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
                cwd=ROOT,
                env=_server_env(args),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
            )
        )
    async with httpx.AsyncClient() as http:
        for n in range(args.workers):
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{args.port + n}/healthz")).is_success:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"paygate serve on port {args.port + n} did not start")
    return servers


async def _stop_servers(servers: list[asyncio.subprocess.Process]) -> None:
    for server in servers:
        server.send_signal(signal.SIGINT)  # graceful: cProfile writes its file
    for server in servers:
        await asyncio.wait_for(server.wait(), 60)


async def _setup(args: argparse.Namespace) -> list[str]:
    """Meters and customers through GraphQL; the customers' global IDs."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}", timeout=60) as http:

        async def gql(query: str, variables: dict[str, Any]) -> Any:
            response = await http.post("/graphql", json={"query": query, "variables": variables})
            body = response.json()
            assert "errors" not in body, body
            return body["data"]

        for key, aggregation in ((COUNT_METER, "COUNT"), (SUM_METER, "SUM")):
            data = await gql(METER, {"i": {"key": key, "name": key, "aggregation": aggregation}})
            assert data["createMeter"]["userErrors"] == [], data
        found: list[str] = []

        async def make(start: int) -> None:
            for n in range(start, args.customers, 8):
                data = await gql(CUSTOMER, {"i": {"name": f"Usage {n}"}})
                found.append(data["createCustomer"]["customer"]["id"])

        await asyncio.gather(*(make(i) for i in range(8)))
    return found


def _stamps(hours: float, rng: random.Random) -> list[str]:
    """Event times within the last ``hours`` (a minute's margin at both ends), as ISO 8601
    texts with various offsets."""
    now = datetime.now(UTC)
    span = hours * 3600 - 120
    return [
        (now - timedelta(seconds=60 + rng.random() * span))
        .astimezone(OFFSETS[n % len(OFFSETS)])
        .isoformat(timespec="milliseconds")
        for n in range(20_000)
    ]


async def _sample_waits(
    url: str, stop: asyncio.Event, seen: Counter[str], postgres_pids: set[int]
) -> int:
    """Sample what the bench database's client backends do, 10 times a second; collect the
    pids of its backends and of PostgreSQL's shared processes (WAL writer, checkpointer…)."""
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database=parsed.database
    )
    samples = 0
    try:
        while not stop.is_set():
            rows = await connection.fetch(
                "SELECT pid, backend_type = 'client backend' AND pid <> pg_backend_pid(), "
                "state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = current_database() OR datname IS NULL"
            )
            samples += 1
            for pid, client, state, kind, event in rows:
                postgres_pids.add(pid)
                if not client:
                    continue
                if state == "active":
                    what = f"active, {kind}:{event}" if kind else "active, on CPU"
                elif state == "idle in transaction":
                    what = "idle in transaction (waiting for the server process)"
                else:
                    what = f"{state} (in the pool)" if state == "idle" else str(state)
                seen[what] += 1
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
    return samples


def _say(text: str = "") -> None:
    print(text)  # noqa: T201


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _check(name: str, ok: bool, figure: str, failures: list[str]) -> None:
    _say(f"{'ok  ' if ok else 'FAIL'} {name}: {figure}")
    if not ok:
        failures.append(name)


async def _verify(args: argparse.Namespace, totals: Totals) -> list[str]:
    parsed = make_url(args.database_url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database=parsed.database
    )
    try:
        events = await connection.fetchval("SELECT count(*) FROM usage_events")
        keys = await connection.fetchval("SELECT count(*) FROM usage_keys")
        rolled = dict(
            await connection.fetch(
                "SELECT m.key, coalesce(sum(r.count), 0) FROM meters m "
                "LEFT JOIN usage_rollups r ON r.meter_id = m.id GROUP BY m.key"
            )
        )
        total = await connection.fetchval(
            "SELECT coalesce(sum(r.total), 0) FROM usage_rollups r "
            "JOIN meters m ON m.id = r.meter_id WHERE m.key = $1",
            SUM_METER,
        )
    finally:
        await connection.close()
    failures: list[str] = []
    sent = totals.new_keys
    _check(
        "answers",
        totals.mismatches == 0 and totals.refused == 0 and totals.failures == 0,
        f"{totals.accepted:,} accepted, {totals.duplicates:,} duplicates, {totals.refused} "
        f"refused for {sent:,} distinct keys and {totals.resent:,} resent events; "
        f"{totals.mismatches} answers off, {totals.failures} requests failed",
        failures,
    )
    _check(
        "usage_events rows",
        events == sent,
        f"{events:,} rows, {sent:,} distinct keys sent",
        failures,
    )
    _check("usage_keys rows", keys == sent, f"{keys:,} rows", failures)
    rolled_total = sum(rolled.values())
    _check(
        "roll-ups' count",
        rolled_total == sent and rolled[COUNT_METER] == totals.count_events,
        f"sum(usage_rollups.count) {rolled_total:,} ({COUNT_METER} {rolled[COUNT_METER]:,}, "
        f"sent {totals.count_events:,})",
        failures,
    )
    expected = Decimal(totals.sum_thousandths).scaleb(-3)
    _check(
        "SUM meter's total",
        total == expected,
        f"sum(usage_rollups.total) {total} sent {expected}",
        failures,
    )
    return failures


def _profile_report(profile_dir: Path) -> None:
    files = sorted(str(p) for p in profile_dir.glob("*.prof"))
    if not files:
        sys.stderr.write("no profile written\n")
        return
    stats = pstats.Stats(*files)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    overall = sum(v[2] for v in raw.values())  # tottime of every function
    _say(f"\nservers' profile (cProfile, {overall:.1f} s of profiled time, idle included)")

    def label(key: tuple[str, int, str]) -> str:
        path, line, name = key
        short = path.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        return f"{short}:{line}({name})"

    _say(f"{'tottime s':>10} {'share':>6}  function (own time)")
    by_own = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)
    for key, (_, calls, tottime, _cumtime, _) in by_own[:25]:
        _say(f"{tottime:10.2f} {tottime / overall:6.1%}  {label(key)} x{calls}")
    wanted = (
        "usage_route.py",
        "ingest.py",
        "store.py",
        "asyncpg",
        "sqlalchemy",
        "json",
        "starlette",
        "fastapi",
        "uvicorn",
    )
    _say(f"\n{'cumtime s':>10}  function (with callees), app's ingest path")
    by_cum = sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)
    shown = 0
    for key, (_, calls, _tottime, cumtime, _) in by_cum:
        if any(w in key[0] for w in wanted[:3]) and shown < 25:
            _say(f"{cumtime:10.2f}  {label(key)} x{calls}")
            shown += 1


async def main(args: argparse.Namespace) -> int:
    if args.private_postgres is None:
        return await _run(args)
    settings = dict(WRITE_HEAVY)
    settings.update(item.split("=", 1) for item in args.postgres_setting)
    async with private_postgres(args.private_postgres, settings) as base:
        args.database_url = f"{base}/bench_usage_ingest"
        _say(
            f"a private PostgreSQL on port {args.private_postgres}: "
            + ", ".join(f"{k}={v}" for k, v in settings.items())
        )
        return await _run(args)


async def _run(args: argparse.Namespace) -> int:
    _say(f"paygate at {checkout()}")
    await fresh_database(args.database_url)
    profile_dir = Path(tempfile.mkdtemp(prefix="usage_ingest_")) if args.profile else None
    servers = await _start_servers(args, profile_dir)
    server_pids = [s.pid for s in servers]
    try:
        customers = await _setup(args)
        stamps = _stamps(args.spread_hours, random.Random(7))  # noqa: S311
        totals = Totals()
        senders = [
            Sender(i, args.port + i % args.workers, args, customers, stamps, totals)
            for i in range(args.senders)
        ]
        _say(
            f"{args.workers} paygate serve process(es), {args.senders} senders of "
            f"{args.batch}-event batches, {args.duplicates:.0%} resent, "
            f"{args.customers:,} customers, 2 meters, times within {args.spread_hours} h; "
            f"{args.seconds} s (first {args.warmup} s left out)"
            + (f"; {args.rate:,.0f} events/s offered, paced" if args.rate else "")
        )
        _say(
            f"{'t s':>5} {'events/s':>9} {'accepted/s':>10} {'batches/s':>9} {'p50 ms':>7} "
            f"{'p99 ms':>7} | cores: {'servers':>7} {'postgres':>8} {'senders':>7} "
            f"{'others':>6} | {'busy':>5} {'iowait':>6} {'steal':>5}"
        )
        stop = asyncio.Event()
        waits: Counter[str] = Counter()
        pg_pids: set[int] = set()
        begun = time.perf_counter()
        warm_until = begun + args.warmup
        deadline = begun + args.seconds
        tasks = [asyncio.create_task(s.run(deadline, warm_until)) for s in senders]
        sampler = asyncio.create_task(_sample_waits(args.database_url, stop, waits, pg_pids))
        await asyncio.sleep(args.warmup)
        waits.clear()
        first = last = CpuSample.take(server_pids, pg_pids)
        everyone = _every_process()
        reported = 0
        while time.perf_counter() < deadline - 0.5:
            await asyncio.sleep(min(args.report_every, max(0.1, deadline - time.perf_counter())))
            now = CpuSample.take(server_pids, pg_pids)
            start = reported
            while reported < len(totals.done) and totals.done[reported][0] < now.at:
                reported += 1
            window = totals.done[start:reported]
            cpu = cpu_between(last, now)
            span = now.at - last.at
            if window:
                lat = [d[1] * 1000 for d in window]
                _say(
                    f"{now.at - begun:5.0f} {sum(d[2] for d in window) / span:9.0f} "
                    f"{sum(d[3] for d in window) / span:10.0f} {len(window) / span:9.1f} "
                    f"{statistics.median(lat):7.1f} {_pct(lat, 0.99):7.1f} | "
                    f"{'':7}{cpu['servers']:7.2f} {cpu['postgres']:8.2f} {cpu['senders']:7.2f}"
                    f" {cpu['others']:6.2f} | {cpu['busy']:5.0%} {cpu['iowait']:6.0%} "
                    f"{cpu['steal']:5.0%}"
                )
            last = now
        end = CpuSample.take(server_pids, pg_pids)
        others = busiest_others(
            everyone, _every_process(), {*server_pids, *pg_pids, os.getpid()}, end.at - first.at
        )
        stop.set()
        await asyncio.gather(*tasks)
        samples = await sampler
    finally:
        await _stop_servers(servers)
    for sender in senders:
        await sender.connection.close()

    measured = [d for d in totals.done if first.at <= d[0] <= end.at]
    span = end.at - first.at
    lat = [d[1] * 1000 for d in measured]
    cpu = cpu_between(first, end)
    events = sum(d[2] for d in measured)
    accepted = sum(d[3] for d in measured)
    _say(f"\nover {span:.0f} s after the warm-up, {args.workers} server process(es):")
    _say(f"  events/s (accepted + duplicates) {events / span:10,.0f}")
    _say(f"  events/s accepted                {accepted / span:10,.0f}")
    _say(f"  batches/s                        {len(measured) / span:10,.1f}")
    _say(
        f"  batch latency ms  p50 {_pct(lat, 0.50):.1f}  p95 {_pct(lat, 0.95):.1f}  "
        f"p99 {_pct(lat, 0.99):.1f}  max {max(lat):.1f}"
    )
    _say(
        f"  CPU, cores: servers {cpu['servers']:.2f}, PostgreSQL {cpu['postgres']:.2f}, "
        f"senders {cpu['senders']:.2f}, other processes {cpu['others']:.2f} (of "
        f"{os.cpu_count()}); machine busy {cpu['busy']:.0%}, iowait {cpu['iowait']:.0%}, "
        f"steal {cpu['steal']:.0%}"
    )
    for used, name in others:
        _say(f"    other: {used:.2f} cores  {name}")
    per_batch = {
        k: cpu[k] * span / max(len(measured), 1) * 1000 for k in ("servers", "postgres", "senders")
    }
    _say(
        f"  CPU ms per batch: servers {per_batch['servers']:.1f}, PostgreSQL "
        f"{per_batch['postgres']:.1f}, senders {per_batch['senders']:.2f}"
    )
    _say(
        f"  goal >= 10,000 events/s with p99 <= 100 ms: {events / span:,.0f} events/s, "
        f"p99 {_pct(lat, 0.99):.1f} ms"
    )
    _say(f"\nPostgreSQL client backends of the bench database, mean count over {samples} samples:")
    for what, n in waits.most_common():
        if n / max(samples, 1) >= 0.005:
            _say(f"  {n / max(samples, 1):6.2f}  {what}")
    _say()
    failures = await _verify(args, totals)
    if profile_dir is not None:
        _profile_report(profile_dir)
    if not args.keep:
        await drop_database(args.database_url)
    return 1 if failures else 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--workers", type=int, default=2, help="paygate serve processes")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="events/s offered by all senders together, paced (0: each sender sends its next "
        "batch when the last is answered)",
    )
    parser.add_argument("--duplicates", type=float, default=0.10, help="share of resent events")
    parser.add_argument("--spread-hours", type=float, default=24)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--report-every", type=float, default=10)
    parser.add_argument("--pool", type=int, default=10, help="connections per server process")
    parser.add_argument("--port", type=int, default=8710)
    parser.add_argument("--profile", action="store_true", help="servers under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/bench_usage_ingest",
    )
    parser.add_argument(
        "--private-postgres",
        type=int,
        metavar="PORT",
        help="run on a private PostgreSQL cluster on PORT with bench/private_postgres.py's "
        "write-heavy settings instead of --database-url's server",
    )
    parser.add_argument(
        "--postgres-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the private cluster (repeatable; overrides the write-heavy ones)",
    )
    args = parser.parse_args()
    assert args.seconds > args.warmup, "--seconds is longer than --warmup"
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_arguments())))
