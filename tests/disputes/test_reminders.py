"""``dispute.evidence_due_soon``: once per dispute and due date, however many workers run
the reminder at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.domain.clock import FrozenClock
from app.services.disputes import reminders
from app.worker import Dependencies, remind_dispute_evidence, use_dependencies
from tests.conftest import Api
from tests.disputes.helpers import disputed_payment, submit, update
from tests.events.helpers import all_events

NOTICE = timedelta(days=3)


async def _remind(api: Api) -> int:
    async with api.runtime.sessions() as session:
        return await reminders.remind_due(session, now=api.runtime.clock.now(), notice=NOTICE)


async def _reminders(api: Api) -> list[str]:
    events = await all_events(api, types=["DISPUTE_EVIDENCE_DUE_SOON"])
    return [event["objectId"] for event in events]


@pytest.mark.both_databases
async def test_two_reminder_runs_at_once_state_one_event(api: Api, clock: FrozenClock) -> None:
    _, dispute = await disputed_payment(api)  # due in 7 days
    _, answered = await disputed_payment(api, "11.00")
    assert (await update(api, answered, productDescription="Widget"))["userErrors"] == []
    assert (await submit(api, answered))["userErrors"] == []
    assert await _remind(api) == 0  # not yet: 7 days ahead

    clock.advance(timedelta(days=4, seconds=1))  # now due within 3 days
    stated = await asyncio.gather(*(_remind(api) for _ in range(2)))

    assert sorted(stated) == [0, 1]
    assert await _reminders(api) == [dispute]  # not the one already answered
    (event,) = await all_events(api, types=["DISPUTE_EVIDENCE_DUE_SOON"])
    assert event["data"]["id"] == dispute and event["data"]["status"] == "NEEDS_RESPONSE"
    assert await _remind(api) == 0  # later runs: nothing more
    clock.advance(timedelta(days=3))  # past due: no reminder either
    assert await _remind(api) == 0
    assert await _reminders(api) == [dispute]


async def test_the_worker_job_on_two_workers(api: Api, clock: FrozenClock) -> None:
    _, dispute = await disputed_payment(api)
    clock.advance(timedelta(days=5))
    runtime = api.runtime
    with use_dependencies(Dependencies(runtime.settings, runtime.psps, clock)):
        results = await asyncio.gather(remind_dispute_evidence(), remind_dispute_evidence())
    assert sorted(r["stated"] for r in results) == [0, 1]
    assert await _reminders(api) == [dispute]
