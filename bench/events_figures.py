"""Issue 22's figures: money mutations from concurrent clients, every event in the log and at
the merchants' endpoints, through worker crashes.

    .venv/bin/python bench/events_figures.py [--mutations 10000] [--clients 20] [--kills 5]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_events]

1. A fresh PostgreSQL database; the app in process (httpx's ASGI transport), two webhook
   endpoints on two local receivers (``http.server`` threads that verify every request
   with the ``standardwebhooks`` library and deduplicate by ``webhook-id``): one subscribed
   to every payment and refund event, one to ``payment.succeeded`` and ``payment.refunded``.
2. ``--clients`` clients make ``--mutations`` money mutations between them: payments
   captured at once, payments authorised then captured, partial refunds.
3. ``paygate worker`` delivers; while it does, it is SIGKILLed ``--kills`` times (and
   started again), then left to finish.
4. Checks, each printed with its figure (exit status 1 if one fails): the log holds exactly
   the events the mutations' answers imply, per type; each object's events are in the
   order its states were reached (no gap, nothing out of order); each receiver saw every
   event it subscribed to, no other, each exactly once after deduplication, every
   signature valid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from fresh_database import fresh_database
from standardwebhooks import Webhook

from app.main import create_app
from app.settings import Settings
from app.worker import apply_queue_schema

ROOT = Path(__file__).resolve().parents[1]
PAYMENT_TYPES = ["PAYMENT_CREATED", "PAYMENT_REQUIRES_CAPTURE", "PAYMENT_SUCCEEDED",
                 "PAYMENT_REFUNDED", "REFUND_CREATED", "REFUND_SUCCEEDED"]  # fmt: skip
SETTLED_TYPES = ["PAYMENT_SUCCEEDED", "PAYMENT_REFUNDED"]
PAY = """mutation($i: CreatePaymentInput!) { createPayment(input: $i) {
  payment { id status } userErrors { code } } }"""
CAPTURE = """mutation($i: CapturePaymentInput!) { capturePayment(input: $i) {
  payment { id status } userErrors { code } } }"""
REFUND = """mutation($i: CreateRefundInput!) { createRefund(input: $i) {
  refund { id status } userErrors { code } } }"""
ENDPOINT = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  webhookEndpoint { id } secret userErrors { code } } }"""
EVENTS = """query($after: String) { events(after: $after, first: 100) {
  edges { node { id name sequence objectId } } pageInfo { hasNextPage endCursor } } }"""


class Receiver:
    """A merchant's endpoint: verifies, deduplicates by webhook-id, counts."""

    def __init__(self) -> None:
        self.secret = ""
        self.lock = threading.Lock()
        self.requests = 0
        self.bad_signatures = 0
        self.seen: dict[str, str] = {}  # webhook-id -> type
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    event = Webhook(receiver.secret).verify(body, headers)
                except Exception:
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self.send_response(400)
                else:
                    with receiver.lock:
                        receiver.requests += 1
                        receiver.seen.setdefault(headers["webhook-id"], event["type"])
                    self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def _gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    body = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    return body["data"]


def _money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


async def _client(
    http: httpx.AsyncClient, customer: str, quota: int, expected: dict[str, list[str]]
) -> int:
    """Up to ``quota`` mutations in a fixed rhythm; records each object's expected events."""
    made = 0
    captured: list[str] = []
    step = 0
    while made < quota:
        step += 1
        key = str(uuid.uuid4())
        if step % 4 == 0 and captured and made < quota:  # a partial refund
            payment = captured.pop(0)
            data = await _gql(http, REFUND, {"i": {"idempotencyKey": key, "paymentId": payment,
                                                   "amount": _money("1.00")}})  # fmt: skip
            refund = data["createRefund"]["refund"]
            assert refund["status"] == "SUCCEEDED", data
            expected[refund["id"]] = ["refund.created", "refund.succeeded"]
            expected[payment].append("payment.refunded")
            made += 1
        elif step % 5 == 0 and made + 2 <= quota:  # authorised, then captured
            data = await _gql(http, PAY, {"i": {"idempotencyKey": key, "customerId": customer,
                                                "amount": _money("9.00"),
                                                "captureMethod": "MANUAL"}})  # fmt: skip
            payment = data["createPayment"]["payment"]
            assert payment["status"] == "REQUIRES_CAPTURE", data
            data = await _gql(http, CAPTURE, {"i": {"idempotencyKey": str(uuid.uuid4()),
                                                    "paymentId": payment["id"]}})  # fmt: skip
            assert data["capturePayment"]["payment"]["status"] == "SUCCEEDED", data
            expected[payment["id"]] = ["payment.created", "payment.requires_capture",
                                       "payment.succeeded"]  # fmt: skip
            captured.append(payment["id"])
            made += 2
        else:  # captured at once
            data = await _gql(http, PAY, {"i": {"idempotencyKey": key, "customerId": customer,
                                                "amount": _money("12.30")}})  # fmt: skip
            payment = data["createPayment"]["payment"]
            assert payment["status"] == "SUCCEEDED", data
            expected[payment["id"]] = ["payment.created", "payment.succeeded"]
            captured.append(payment["id"])
            made += 1
    return made


async def _log(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await _gql(http, EVENTS, {"after": after}))["events"]
        events += [edge["node"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            return events


async def _worker(url: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PAYGATE_DATABASE_URL": url, "PAYGATE_LOG_LEVEL": "WARNING",
           "PAYGATE_WEBHOOKS__CLAIM_SECONDS": "3", "PAYGATE_WEBHOOKS__BATCH_SIZE": "200",
           "PAYGATE_WEBHOOKS__CONCURRENCY": "20"}  # fmt: skip
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "worker", "--concurrency", "2", "--queues", "webhooks",
        cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def _check(name: str, ok: bool, figure: str, failures: list[str]) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {figure}")  # noqa: T201
    if not ok:
        failures.append(name)


async def main(args: argparse.Namespace) -> int:
    await fresh_database(args.database_url)
    settings = Settings(database_url=args.database_url, migrate_on_start=False,
                        seed_demo=False, request_log=False, log_level="WARNING",
                        rate_limit_mutations="100000000/minute",
                        db_pool_size=args.clients + 5)  # fmt: skip
    assert await apply_queue_schema(settings)
    app = create_app(settings)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b",
                             timeout=60)  # fmt: skip
    everything, settled = Receiver(), Receiver()
    for receiver, types in ((everything, PAYMENT_TYPES), (settled, SETTLED_TYPES)):
        data = await _gql(http, ENDPOINT, {"i": {"url": receiver.url, "eventTypes": types}})
        receiver.secret = data["createWebhookEndpoint"]["secret"]
    customers = []
    for _ in range(args.clients):
        data = await _gql(http, 'mutation { createCustomer(input: {name: "Bench"}) '
                                "{ customer { id } } }", {})  # fmt: skip
        customer = data["createCustomer"]["customer"]["id"]
        attach = ('mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, '
                  'token: "tok_visa"}) { userErrors { code } } }')  # fmt: skip
        await _gql(http, attach, {"c": customer})
        customers.append(customer)

    worker = await _worker(args.database_url)
    expected: dict[str, list[str]] = {}
    quotas = [args.mutations // args.clients + (i < args.mutations % args.clients)
              for i in range(args.clients)]  # fmt: skip
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(_client(http, c, q, expected))
        for c, q in zip(customers, quotas, strict=True)
    ]
    kills = 0
    while kills < args.kills:  # SIGKILL the worker while it delivers, start another
        await asyncio.sleep(max(1.0, 20.0 / max(args.kills, 1)))
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        kills += 1
        worker = await _worker(args.database_url)
    made = sum(await asyncio.gather(*tasks))
    mutating = time.perf_counter() - started
    log = await _log(http)
    wanted_all = {e["id"] for e in log if e["name"].startswith(("payment.", "refund."))}
    wanted_settled = {e["id"] for e in log if e["name"] in ("payment.succeeded",
                                                             "payment.refunded")}  # fmt: skip
    deadline = time.monotonic() + args.drain_timeout
    while time.monotonic() < deadline and not (  # noqa: ASYNC110 - receivers are threads
        wanted_all <= set(everything.seen) and wanted_settled <= set(settled.seen)
    ):
        await asyncio.sleep(0.5)
    drained = time.perf_counter() - started
    worker.send_signal(signal.SIGTERM)
    await asyncio.wait_for(worker.wait(), 60)
    await http.aclose()
    await app.state.runtime.dispose()

    failures: list[str] = []
    print(f"{made} money mutations by {args.clients} clients in {mutating:.1f} s "  # noqa: T201
          f"({made / mutating:.0f}/s); worker SIGKILLed {kills} times; all delivered after "
          f"{drained:.1f} s")  # fmt: skip
    money = [e for e in log if e["name"].startswith(("payment.", "refund."))]
    want = Counter(name for names in expected.values() for name in names)
    _check("events by type", Counter(e["name"] for e in money) == want,
           f"{len(money)} events for {made} mutations: {dict(sorted(want.items()))}",
           failures)  # fmt: skip
    by_object: dict[str, list[str]] = {}
    for event in money:
        by_object.setdefault(event["objectId"], []).append(event["name"])
    in_order = sum(by_object.get(k) == v for k, v in expected.items())
    _check("per-object order", in_order == len(expected),
           f"{in_order} of {len(expected)} objects' events exactly as their states were "
           f"reached", failures)  # fmt: skip
    seqs = [int(e["sequence"]) for e in log]
    _check("log order", seqs == sorted(seqs) and len(set(seqs)) == len(seqs),
           f"{len(seqs)} sequences increasing", failures)  # fmt: skip
    for name, receiver, wanted in (("all payment and refund events", everything, wanted_all),
                                   ("settled only", settled, wanted_settled)):  # fmt: skip
        got = set(receiver.seen)
        _check(f"receiver '{name}'", got == wanted and receiver.bad_signatures == 0,
               f"{len(wanted)} subscribed, {len(got & wanted)} received (deduplicated by "
               f"webhook-id), {len(got - wanted)} others, {receiver.requests - len(got)} "
               f"duplicates, {receiver.bad_signatures} bad signatures",
               failures)  # fmt: skip
    if args.json:
        print(json.dumps({"mutations": made, "events": len(money), "kills": kills,  # noqa: T201
                          "failures": failures}))  # fmt: skip
    return 1 if failures else 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--mutations", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--drain-timeout", type=float, default=600)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/bench_events"
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_arguments())))
