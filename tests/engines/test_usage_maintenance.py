"""Usage storage over time: the worker's ``maintain_usage`` creates monthly partitions ahead
(moving what the default partition held for them), detaches old ones, and purges usage keys
once no event can match them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import procrastinate
import sqlalchemy as sa

from app.domain.clock import FrozenClock
from app.services.metering import maintenance
from tests.conftest import Api
from tests.engines.conftest import statuses, work
from tests.factories import new_customer
from tests.metering.usage import create_meter, post_usage


async def _count(api: Api, sql: str) -> int:
    async with api.engine.connect() as connection:
        return int(await connection.scalar(sa.text(sql)))


async def _quantity(api: Api, customer: str) -> str:
    found = await api.data(
        'query($c: ID!) { customer(id: $c) { usage(meterKey: "calls", '
        'from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z") { quantity } } }',
        {"c": customer},
    )
    return str(found["customer"]["usage"]["quantity"])


def _events(customer: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "idempotencyKey": f"e{n}",
            "meterKey": "calls",
            "customerId": customer,
            "timestamp": f"2026-01-15T{n % 12:02d}:00:00Z",
        }
        for n in range(count)
    ]


async def test_partitions_ahead_moved_rows_and_keys_purged(
    api: Api, queue: procrastinate.App, clock: FrozenClock
) -> None:
    # Given events of January 2026, a month the migration made no partition for (the clock
    # of the tests is in the past): the default partition holds them
    await create_meter(api, "calls")
    customer = await new_customer(api)
    assert (await post_usage(api, _events(customer, 30)))["accepted"] == 30
    assert await _count(api, "SELECT count(*) FROM usage_events_default") == 30

    # When the maintenance job runs
    await queue.configure_task("maintain_usage").defer_async()
    await work(queue)

    # Then this month and the next two have partitions, January's rows moved into its own
    assert await statuses(queue) == {"maintain_usage": ["succeeded"]}
    for month in ("2026_01", "2026_02", "2026_03"):
        assert await _count(api, f"SELECT count(*) FROM usage_events_{month}") >= 0
    assert await _count(api, "SELECT count(*) FROM usage_events_2026_01") == 30
    assert await _count(api, "SELECT count(*) FROM usage_events_default") == 0
    assert await _quantity(api, customer) == "30"

    # And 36 days on the keys are gone, while the events they keyed are refused as too old
    clock.advance(timedelta(days=37))
    await queue.configure_task("maintain_usage").defer_async()
    await work(queue)
    assert await _count(api, "SELECT count(*) FROM usage_keys") == 0
    again = await post_usage(api, _events(customer, 30))
    assert again["refused"] == 30
    assert {r["errors"][0]["code"] for r in again["results"]} == {"TIMESTAMP_TOO_OLD"}
    assert await _quantity(api, customer) == "30"


async def test_old_partitions_are_detached_not_dropped(api: Api) -> None:
    now = datetime.now(UTC)
    async with api.runtime.sessions() as session:
        names = await maintenance._partitions(session)
        await session.commit()
        two_back = f"usage_events_{maintenance.month_start(now, -2):%Y_%m}"
        assert two_back in names
        detached = await maintenance.detach_old(
            session, now=maintenance.month_start(now, 1), keep_months=2
        )
    assert two_back in detached
    async with api.runtime.sessions() as session:
        assert two_back not in await maintenance._partitions(session)
    assert await _count(api, f"SELECT count(*) FROM {two_back}") == 0  # still a table
