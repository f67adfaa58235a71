"""Three API replicas behind HAProxy, two workers, PgBouncer in transaction pooling, rate
limits in Redis (``tests/deploy/cluster.py``): the money-safety scenarios replayed across
the replicas, a key revoked on one replica refused by the others, a rolling restart under
load without a failed request, and ``paygate verify`` clean at the end.

``make test`` runs the scenarios at the sizes of ``tests/conftest.py`` (``REPLICA_*``);
``make test-long`` at the issue's (1,000 webhook events, 2,000 subscriptions)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.db import make_engine
from tests.conftest import (
    REPLICA_RESTART_RATE,
    REPLICA_SUBSCRIPTIONS,
    REPLICA_WEBHOOK_EVENTS,
)
from tests.deploy.cluster import ROOT, Cluster, ClusterApi, cluster
from tests.factories import customer_with, key, monthly_price, paid_payment, refund
from tests.psp.stripe_fake import fixture, new_id
from tests.psp.stripe_harness import WEBHOOK_SECRET, sign

pytestmark = pytest.mark.slow

KEY_CACHE_SECONDS = 1.0
GUESSES_PER_MINUTE = 5


async def bounded(limit: int, jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run ``jobs`` with at most ``limit`` at once; their results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


async def scalar(cluster: Cluster, sql: str, **params: Any) -> Any:
    engine = make_engine(cluster.direct_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await connection.scalar(sa.text(sql), params)
    finally:
        await engine.dispose()


def row_id(global_id: str) -> uuid.UUID:
    """The row id inside a global ID (``base64("Type:uuid")``)."""
    padded = global_id + "=" * (-len(global_id) % 4)
    return uuid.UUID(base64.urlsafe_b64decode(padded).decode().split(":", 1)[1])


async def admin_key(api: ClusterApi, role: str = "ADMIN") -> tuple[str, str]:
    """A new API key made through the development profile's anonymous admin: (id, secret)."""
    created = (
        await api.data(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) "
            "{ apiKey { id } secret userErrors { code } } }",
            {"i": {"name": f"{role} {key()}", "role": role}},
        )
    )["createApiKey"]
    return created["apiKey"]["id"], created["secret"]


# --- the scenarios --------------------------------------------------------------------------


async def same_key_refunds(cluster: Cluster, api: ClusterApi) -> None:
    """100 refunds with one idempotency key, spread over the replicas: one refund."""
    payment = await paid_payment(api, await customer_with(api), "50.00")
    same = key()
    answers = await asyncio.gather(
        *(refund(api, payment, "10.00", idempotency_key=same) for _ in range(100))
    )
    refunds = {answer["refund"]["id"] for answer in answers if answer["refund"]}
    codes = Counter(e["code"] for answer in answers for e in answer["userErrors"])
    # Each answer is the refund itself, or "the first request is still in progress" (the
    # client retries it with the same key).
    assert len(refunds) == 1 and set(codes) <= {"IDEMPOTENCY_KEY_IN_USE"}, (refunds, codes)
    assert await scalar(cluster, "SELECT count(*) FROM refunds") == 1
    stripe_refunds = [c for c in cluster.stripe.calls() if c.path == "/v1/refunds"]
    assert len({c.headers.get("idempotency-key") for c in stripe_refunds}) == 1


async def racing_refunds(cluster: Cluster, api: ClusterApi) -> None:
    """20 refunds of 10.00 with their own keys on a 50.00 payment, at once: 5 succeed."""
    payment = await paid_payment(api, await customer_with(api), "50.00")
    answers = await asyncio.gather(*(refund(api, payment, "10.00") for _ in range(20)))
    succeeded = [a for a in answers if a["refund"] and a["refund"]["status"] == "SUCCEEDED"]
    assert len(succeeded) == 5, answers
    refunded = await scalar(
        cluster,
        "SELECT sum(amount_minor) FROM refunds WHERE status = 'succeeded' AND payment_id = :p",
        p=row_id(payment),
    )
    assert refunded == 5000


async def duplicated_webhooks(cluster: Cluster, api: ClusterApi, events: int) -> None:
    """``events`` dispute events from Stripe, each delivered three times, shuffled, to
    whichever replica HAProxy picks: each dispute recorded once."""
    customer = await customer_with(api)
    payments = await bounded(
        20, [lambda: paid_payment(api, customer, "10.00") for _ in range(events)]
    )
    references = await bounded(
        20,
        [
            lambda p=p: api.data("query($id: ID!) { payment(id: $id) { pspReference } }", {"id": p})
            for p in payments
        ],
    )
    deliveries = []
    now = datetime.now(UTC)
    for found in references:
        dispute = fixture("dispute") | {
            "id": new_id("du"),
            "payment_intent": found["payment"]["pspReference"],
        }
        envelope = fixture("event_payment_intent_succeeded")
        envelope.update(
            id=new_id("evt"), type="charge.dispute.created", created=int(now.timestamp())
        )
        envelope["data"] = {"object": dispute}
        body = json.dumps(envelope).encode()
        deliveries += [body] * 3
    random.Random(7).shuffle(deliveries)
    http = cluster.client()

    async def deliver(body: bytes) -> int:
        headers = {
            "Stripe-Signature": sign(body, WEBHOOK_SECRET, datetime.now(UTC)),
            "content-type": "application/json",
        }
        return (await http.post("/webhooks/stripe", content=body, headers=headers)).status_code

    statuses = await bounded(20, [lambda b=b: deliver(b) for b in deliveries])
    assert set(statuses) == {200}, Counter(statuses)
    assert await scalar(cluster, "SELECT count(*) FROM disputes") == events
    assert await scalar(cluster, "SELECT count(DISTINCT payment_id) FROM disputes") == events
    assert await scalar(cluster, "SELECT count(*) FROM webhook_events WHERE psp = 'stripe'") == (
        events
    )


async def billing_on_every_replica(cluster: Cluster, api: ClusterApi, subscriptions: int) -> None:
    """``subscriptions`` monthly subscriptions on one test clock, moved three months on by
    every replica at once (each runs the billing of the clock's due subscriptions): one
    invoice per period, one charge per invoice."""
    clock = (
        await api.data(
            'mutation { createTestClock(input: {frozenTime: "2026-01-01T00:00:00Z", '
            'name: "replicas"}) { testClock { id } } }'
        )
    )["createTestClock"]["testClock"]["id"]
    price = await monthly_price(api, "9.00")
    calls_before = len(cluster.stripe.calls())

    async def subscriber(n: int) -> None:
        customer = (
            await api.data(
                "mutation($c: ID!, $n: String!) { createCustomer(input: {name: $n, "
                "testClockId: $c}) { customer { id } } }",
                {"c": clock, "n": f"r{n}"},
            )
        )["createCustomer"]["customer"]["id"]
        for _ in range(3):  # as a client does: PSP_UNAVAILABLE charged nothing, try again
            attached = await api.data(
                "mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, "
                'token: "tok_visa"}) { userErrors { code } } }',
                {"c": customer},
            )
            errors = attached["attachPaymentMethod"]["userErrors"]
            if errors != [{"code": "PSP_UNAVAILABLE"}]:
                break
        assert errors == []
        created = await api.data(
            "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
            "{ subscription { status } userErrors { code } } }",
            {"i": {"idempotencyKey": key(), "customerId": customer, "items": [{"priceId": price}]}},
        )
        assert created["createSubscription"]["subscription"]["status"] == "ACTIVE", created

    await bounded(16, [lambda n=n: subscriber(n) for n in range(subscriptions)])
    advance = (
        "mutation($c: ID!, $t: DateTime!) { advanceTestClock(input: {testClockId: $c, "
        "frozenTime: $t}) { testClock { frozenTime } userErrors { code message } } }"
    )
    for month in ("2026-02-01", "2026-03-01", "2026-04-01"):
        moved = await asyncio.gather(
            *(
                # one request bills the clock's whole month: minutes at the 2,000
                ClusterApi(cluster.client(cluster.replica_url(n), timeout=1800)).data(
                    advance, {"c": clock, "t": f"{month}T00:00:00Z"}
                )
                for n in range(len(cluster.replicas))
            )
        )
        assert all(m["advanceTestClock"]["userErrors"] == [] for m in moved), moved
    # the first invoice at sign-up, then three renewals
    per_subscription = await scalar(
        cluster,
        "SELECT array_agg(DISTINCT n) FROM (SELECT count(i.id) AS n FROM subscriptions s "
        "LEFT JOIN invoices i ON i.subscription_id = s.id AND i.status = 'paid' "
        "GROUP BY s.id) c",
    )
    assert per_subscription == [4]
    assert await scalar(cluster, "SELECT count(*) FROM invoices") == 4 * subscriptions
    charges = await scalar(cluster, "SELECT count(*) FROM payments WHERE invoice_id IS NOT NULL")
    assert charges == 4 * subscriptions
    calls = cluster.stripe.calls()[calls_before:]
    intents = [c for c in calls if c.path == "/v1/payment_intents"]
    # one PaymentIntent per charge at Stripe (an SDK retry reuses its idempotency key)
    assert len({c.headers.get("idempotency-key") for c in intents if c.method == "POST"}) == (
        charges
    )


async def shared_rate_limits(cluster: Cluster, api: ClusterApi) -> None:
    """The coupon-guessing budget of one key is spent across the replicas (Redis): with
    counters per process each replica would let ``GUESSES_PER_MINUTE`` through."""
    _, secret = await admin_key(api)
    customer = await customer_with(api)
    attempt = (
        "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
        "{ userErrors { code } } }"
    )
    codes = []
    for n in range(3 * GUESSES_PER_MINUTE):
        replica = cluster.client(cluster.replica_url(n % 3), authorization=f"Bearer {secret}")
        body = (
            await replica.post(
                "/graphql",
                json={
                    "query": attempt,
                    "variables": {
                        "i": {
                            "idempotencyKey": key(),
                            "customerId": customer,
                            "items": [{"priceId": customer}],
                            "couponCode": f"GUESS{n}",
                        }
                    },
                },
            )
        ).json()
        codes.append([e.get("extensions", {}).get("code") for e in body.get("errors", [])])
    assert codes[:GUESSES_PER_MINUTE] == [[]] * GUESSES_PER_MINUTE
    assert codes[GUESSES_PER_MINUTE:] == [["RATE_LIMITED"]] * (2 * GUESSES_PER_MINUTE)


async def revoked_everywhere(cluster: Cluster, api: ClusterApi) -> float:
    """A key revoked through one replica is refused by every replica within the key cache's
    time: the seconds it took."""
    key_id, secret = await admin_key(api, "READONLY")
    query = {"query": "{ products { totalCount } }"}
    replicas = [
        cluster.client(cluster.replica_url(n), authorization=f"Bearer {secret}")
        for n in range(len(cluster.replicas))
    ]
    for replica in replicas:  # every replica has the key in its cache
        assert (await replica.post("/graphql", json=query)).status_code == 200
    revoked = await ClusterApi(cluster.client(cluster.replica_url(0))).data(
        "mutation($id: ID!) { revokeApiKey(input: {apiKeyId: $id}) { apiKey { revokedAt } } }",
        {"id": key_id},
    )
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"]
    started = time.monotonic()
    refused: dict[int, float] = {}
    while len(refused) < len(replicas) and time.monotonic() - started < 10:
        for n, replica in enumerate(replicas):
            if n not in refused and (await replica.post("/graphql", json=query)).status_code == 401:
                refused[n] = time.monotonic() - started
        await asyncio.sleep(0.05)
    assert len(refused) == len(replicas), refused
    slowest = max(refused.values())
    assert slowest <= KEY_CACHE_SECONDS + 1.0, refused
    return slowest


async def rolling_restart(cluster: Cluster, api: ClusterApi, rate: int) -> dict[str, Any]:
    """``rate`` requests a second through HAProxy (reads, and a payment every tenth) while
    each replica in turn is stopped with SIGTERM and started again: no request fails.

    The load is paced: request ``n`` leaves at ``n / rate`` seconds, sent by one of a fixed
    set of senders (an unbounded number of requests waiting in one client would measure
    the client's queue, not the replicas)."""
    customer = await customer_with(api)
    http = api.http
    read = {"query": "query($id: ID!) { customer(id: $id) { id name } }",
            "variables": {"id": customer}}  # fmt: skip
    failures: list[str] = []
    sent = Counter[str]()
    slots = itertools.count()
    stop = asyncio.Event()
    started = time.monotonic()

    async def send(n: int) -> None:
        kind = "payment" if n % 10 == 0 else "read"
        body = read
        if kind == "payment":
            body = {"query": PAYMENT, "variables": {"i": {
                "idempotencyKey": key(), "customerId": customer,
                "amount": {"amount": "1.00", "currency": "USD"}}}}  # fmt: skip
        try:
            response = await http.post("/graphql", json=body)
        except httpx.HTTPError as error:
            failures.append(f"{kind}: {type(error).__name__}: {error}")
            return
        answer = response.json() if response.status_code == 200 else None
        if answer is None or "errors" in answer:
            failures.append(f"{kind}: {response.status_code} {response.text[:300]}")
        elif kind == "payment" and answer["data"]["createPayment"]["payment"] is None:
            failures.append(f"payment: {answer['data']}")
        sent[kind] += 1

    async def sender() -> None:
        while not stop.is_set():
            n = next(slots)
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(n)

    senders = [asyncio.create_task(sender()) for _ in range(max(8, rate // 4))]
    await asyncio.sleep(1)
    windows = []
    for n in range(len(cluster.replicas)):
        before = sum(sent.values())
        windows.append(await cluster.restart(n))
        windows[-1]["served"] = sum(sent.values()) - before
    await asyncio.sleep(1)
    stop.set()
    await asyncio.gather(*senders)
    elapsed = time.monotonic() - started
    assert failures == [], failures[:10]
    # The other replicas served while each one was away (the rate itself is the machine's:
    # on a busy 2-core machine it falls short of the goal; bench/rolling_restart.py
    # measures it on a quiet one).
    assert all(window["served"] > 0 for window in windows), windows
    total = sum(sent.values())
    return {"requests": total, "seconds": elapsed, "restarts": windows, **sent}


PAYMENT = (
    "mutation($i: CreatePaymentInput!) { createPayment(input: $i) "
    "{ payment { id status } userErrors { code } } }"
)


# --- the test -----------------------------------------------------------------------------


async def test_three_replicas_behave_as_one(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with cluster(
        database_url,
        tmp_path,
        auth__key_cache_seconds=str(KEY_CACHE_SECONDS),
        rate_limit_guessable=f"{GUESSES_PER_MINUTE}/minute",
    ) as running:
        anonymous = ClusterApi(running.client())
        _, secret = await admin_key(anonymous)
        api = ClusterApi(running.client(authorization=f"Bearer {secret}"))

        await same_key_refunds(running, api)
        await racing_refunds(running, api)
        await duplicated_webhooks(running, api, REPLICA_WEBHOOK_EVENTS)
        await billing_on_every_replica(running, api, REPLICA_SUBSCRIPTIONS)
        await shared_rate_limits(running, api)
        revocation = await revoked_everywhere(running, api)
        restart = await rolling_restart(running, api, REPLICA_RESTART_RATE)

        for worker in running.workers:  # alive, and serving their metrics
            assert worker.process is not None and worker.process.returncode is None
            metrics = await running.client(f"http://127.0.0.1:{worker.port}").get("/metrics")
            assert metrics.status_code == 200 and "paygate_" in metrics.text

    verify = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "verify", "--json", "--database-url", database_url,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await verify.communicate()
    assert verify.returncode == 0, out.decode()[-2000:]
    with capsys.disabled():
        print(  # noqa: T201 - the figures, in the test log
            f"\n3 replicas: key revoked everywhere in {revocation:.2f} s; rolling restart "
            f"{restart['requests']} requests in {restart['seconds']:.1f} s "
            f"({restart['requests'] / restart['seconds']:.0f}/s), 0 failed, restarts "
            + ", ".join(f"{w['seconds']:.1f} s" for w in restart["restarts"])
        )
