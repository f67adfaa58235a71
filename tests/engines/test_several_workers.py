"""Several workers at once: nothing is billed twice, the schedule defers each tick once,
and a job left running by a dead worker does not block its task for ever."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate.periodic import PeriodicDeferrer

from app.domain.clock import FrozenClock
from app.settings import Settings
from app.worker import SCHEDULE, build_app
from tests.conftest import Api
from tests.engines.conftest import open_queue, statuses, work
from tests.factories import customer_with, monthly_price, subscribe

SUBSCRIBERS = 24
JOBS = 8


async def _bill_with_two_workers(
    api: Api, settings: Settings, queue: procrastinate.App, clock: FrozenClock, card: str
) -> list[tuple[str, float, float]]:
    """Subscribe with a 7-day trial; 40 days later, two workers (a pool each, as two
    processes) run 8 billing jobs at once, each free to run beside the others. Returns
    which worker ran each job, and when."""
    price = await monthly_price(api, "12.00", trial_days=7)
    for _ in range(SUBSCRIBERS):
        created = await subscribe(api, await customer_with(api, card), price)
        assert created["subscription"]["status"] == "TRIALING"
    clock.advance(timedelta(days=40))
    for n in range(JOBS):
        await queue.configure_task(
            "bill_due_subscriptions", lock=f"test-{n}", queueing_lock=f"test-{n}"
        ).defer_async()
    runs: list[tuple[str, float, float]] = []

    async def record(call_next: Callable[[], Awaitable[Any]], context: Any, _: Any) -> Any:
        started = time.monotonic()
        try:
            return await call_next()
        finally:
            runs.append((context.worker_name, started, time.monotonic()))

    async with open_queue(settings) as other:
        await asyncio.gather(
            work(queue, name="first", concurrency=2, worker_middleware=[record]),
            work(other, name="second", concurrency=2, worker_middleware=[record]),
        )
    assert await statuses(queue) == {"bill_due_subscriptions": ["succeeded"] * JOBS}
    return runs


async def _billing(api: Api) -> tuple[Counter[tuple[Any, ...]], dict[str, tuple[int, int]]]:
    """(subscription status, invoices, distinct periods) per subscription, counted; and
    per payment status: (payments, distinct PSP keys)."""
    async with api.engine.connect() as connection:
        invoices = await connection.execute(
            sa.text(
                "SELECT s.status, count(i.id), count(DISTINCT i.period_start) "
                "FROM subscriptions s JOIN invoices i ON i.subscription_id = s.id "
                "GROUP BY s.id, s.status"
            )
        )
        payments = await connection.execute(
            sa.text(
                "SELECT status, count(*), count(DISTINCT psp_idempotency_key) "
                "FROM payments GROUP BY status"
            )
        )
        return (
            Counter(tuple(row) for row in invoices),
            {status: (count, keys) for status, count, keys in payments},
        )


async def test_two_workers_billing_at_once_charge_each_invoice_once(
    api: Api, settings: Settings, queue: procrastinate.App, clock: FrozenClock
) -> None:
    runs = await _bill_with_two_workers(api, settings, queue, clock, "tok_visa")

    # Both workers ran jobs, at the same time
    assert {name for name, _, _ in runs} == {"first", "second"}
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in runs for b in runs), (
        "no two jobs of different workers overlapped"
    )
    # Trial end (Jan 22) and renewal (Feb 22): one invoice per period, one charge each
    invoices, payments = await _billing(api)
    assert invoices == {("active", 2, 2): SUBSCRIBERS}
    assert payments == {"succeeded": (2 * SUBSCRIBERS, 2 * SUBSCRIBERS)}
    sandbox = api.runtime.psps.sandbox
    assert len(sandbox._payments) == 2 * SUBSCRIBERS  # the PSP charged each invoice once


async def test_two_workers_at_once_keep_to_the_dunning_schedule(
    api: Api, settings: Settings, queue: procrastinate.App, clock: FrozenClock
) -> None:
    await _bill_with_two_workers(api, settings, queue, clock, "tok_chargeDeclined")

    # The trial-end invoice: its first attempt and 4 retries (after 1, 3, 5, 7 days), then
    # unpaid; the Feb 22 invoice is created but not charged (unpaid subscriptions are not)
    invoices, payments = await _billing(api)
    assert invoices == {("unpaid", 2, 2): SUBSCRIBERS}
    assert payments == {"failed": (5 * SUBSCRIBERS, 5 * SUBSCRIBERS)}


async def test_each_tick_is_deferred_once_and_a_waiting_job_is_not_queued_again(
    settings: Settings, queue_schema: None
) -> None:
    first, second = build_app(settings), build_app(settings)
    tick = datetime(2026, 11, 21, 10, 17, 30, tzinfo=UTC).timestamp()
    async with first.open_async(), second.open_async():
        # Two workers' schedulers, each deferring this minute's jobs: one job per task
        for app in (first, second):
            deferrer = PeriodicDeferrer(registry=app.periodic_registry)
            await deferrer.defer_jobs(deferrer.get_previous_tasks(at=tick))
        waiting = await statuses(first)
        assert waiting == {name: ["todo"] for name in SCHEDULE}

        # The next minute, with the first run still waiting: nothing piles up
        deferrer = PeriodicDeferrer(registry=first.periodic_registry)
        await deferrer.defer_jobs(deferrer.get_previous_tasks(at=tick + 60))
        assert await statuses(first) == waiting

    assert {name: (s.queue, s.cron) for name, s in SCHEDULE.items()} == {
        "bill_due_subscriptions": ("billing", "* * * * *"),
        "reconcile_payments": ("payments", "* * * * *"),
        "close_reviews": ("payments", "* * * * *"),
        "purge_idempotency_keys": ("maintenance", "17 * * * *"),
        "purge_events": ("maintenance", "17 * * * *"),
        "maintain_usage": ("maintenance", "17 * * * *"),
        "delete_erased_psp_customers": ("maintenance", "* * * * *"),
        "release_stalled_jobs": ("maintenance", "* * * * *"),
        "check_experiment_guardrails": ("maintenance", "*/5 * * * *"),
        "remind_dispute_evidence": ("maintenance", "*/5 * * * *"),
        "deliver_webhooks": ("webhooks", "* * * * * */2"),
    }


async def test_a_job_left_running_by_a_dead_worker_is_released(
    api: Api, queue: procrastinate.App
) -> None:
    # Given a billing job taken by a worker that then died (no heartbeat since)
    manager = queue.job_manager
    await queue.configure_task("bill_due_subscriptions").defer_async()
    dead = await manager.register_worker()
    taken = await manager.fetch_job(queues=None, worker_id=dead)
    assert taken is not None and taken.lock == "bill_due_subscriptions"
    await queue.connector.execute_query_async(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"
    )
    # and the next billing job waiting behind its lock
    await queue.configure_task("bill_due_subscriptions").defer_async()
    await work(queue, queues=["billing"])
    assert await statuses(queue) == {"bill_due_subscriptions": ["doing", "todo"]}

    # When the release job runs, the dead worker's job fails and the lock is free again
    await queue.configure_task("release_stalled_jobs").defer_async()
    await work(queue)
    assert await statuses(queue) == {
        "bill_due_subscriptions": ["failed", "succeeded"],
        "release_stalled_jobs": ["succeeded"],
    }
