"""What the outbox adds to a payment: ``createPayment`` through the API (sandbox PSP, on
PostgreSQL), with the outbox recorder installed (as always) and removed, alternating in
rounds in one process so that drift affects both alike.

    .venv/bin/python bench/outbox_overhead.py [--payments 600] [--rounds 6] [--clients 20]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_outbox]

Two figures per side: the latency of one payment at a time (median, mean), and the
throughput of ``--clients`` concurrent clients (the advisory lock serialises the COMMITs
of event-writing transactions: this is where it would show). Requests go through httpx's
ASGI transport (no network). Not a test: run it by hand and quote the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import httpx
from fresh_database import fresh_database

from app.main import create_app
from app.services.outbox import recorder
from app.settings import Settings

PAY = """mutation($i: CreatePaymentInput!) { createPayment(input: $i) {
  payment { status } userErrors { code } } }"""
CUSTOMER = """mutation { createCustomer(input: {name: "Bench"}) { customer { id } } }"""
ATTACH = """mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, token: "tok_visa",
  setAsDefault: true}) { userErrors { code } } }"""


async def _pay(http: httpx.AsyncClient, customer: str) -> float:
    variables = {
        "i": {
            "idempotencyKey": str(uuid.uuid4()),
            "customerId": customer,
            "amount": {"amount": "12.30", "currency": "USD"},
        }
    }
    started = time.perf_counter()
    response = await http.post("/graphql", json={"query": PAY, "variables": variables})
    elapsed = time.perf_counter() - started
    body = response.json()
    assert body["data"]["createPayment"]["payment"]["status"] == "SUCCEEDED", body
    return elapsed


async def _customers(http: httpx.AsyncClient, n: int) -> list[str]:
    found = []
    for _ in range(n):
        customer = (await http.post("/graphql", json={"query": CUSTOMER})).json()["data"]
        customer_id = customer["createCustomer"]["customer"]["id"]
        await http.post("/graphql", json={"query": ATTACH, "variables": {"c": customer_id}})
        found.append(customer_id)
    return found


def _side(on: bool) -> None:
    if on:
        recorder.install()
    else:
        recorder.uninstall()


async def main(args: argparse.Namespace) -> None:
    await fresh_database(args.database_url)
    settings = Settings(
        database_url=args.database_url,
        migrate_on_start=False,
        seed_demo=False,
        request_log=False,
        rate_limit_mutations="100000000/minute",
        db_pool_size=args.clients,
    )
    app = create_app(settings)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
    customers = await _customers(http, args.clients)
    sequential: dict[bool, list[float]] = {True: [], False: []}
    rates: dict[bool, list[float]] = {True: [], False: []}
    per_round = args.payments // args.rounds
    for on in (True, False):  # warm up both
        _side(on)
        for _ in range(50):
            await _pay(http, customers[0])
    for _ in range(args.rounds):
        for on in (True, False):
            _side(on)
            for i in range(per_round):
                sequential[on].append(await _pay(http, customers[i % len(customers)]))
            started = time.perf_counter()

            async def client(customer: str) -> None:
                for _ in range(per_round // args.clients):
                    await _pay(http, customer)

            await asyncio.gather(*(client(c) for c in customers))
            rates[on].append(
                (per_round // args.clients) * args.clients / (time.perf_counter() - started)
            )
    recorder.install()
    await http.aclose()
    await app.state.runtime.dispose()

    def ms(values: list[float]) -> tuple[float, float]:
        return statistics.median(values) * 1000, statistics.fmean(values) * 1000

    with_, without = ms(sequential[True]), ms(sequential[False])
    rate_with, rate_without = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"createPayment, {len(sequential[True])} per side one at a time, "  # noqa: T201
          f"{args.rounds} alternating rounds; then {args.clients} concurrent clients")  # fmt: skip
    print(f"{'':24}{'median ms':>11}{'mean ms':>10}{'payments/s':>12}")  # noqa: T201
    print(f"{'without the outbox':24}{without[0]:11.2f}{without[1]:10.2f}{rate_without:12.1f}")  # noqa: T201
    print(f"{'with the outbox':24}{with_[0]:11.2f}{with_[1]:10.2f}{rate_with:12.1f}")  # noqa: T201
    print(  # noqa: T201
        f"ratio with/without: latency x{with_[0] / without[0]:.3f} (median), "
        f"throughput x{rate_with / rate_without:.3f}"
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--payments", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/bench_outbox"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_arguments()))
