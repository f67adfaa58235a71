"""The billing engine's facts in the log: trials ending, renewals, dunning, expiry, pause."""

from __future__ import annotations

import uuid

from tests.conftest import Api
from tests.events.helpers import all_events, names
from tests.factories import advance, clock_and_customer, monthly_price, subscribe


async def _about(api: Api, object_id: str) -> list[str]:
    return names(await all_events(api, objectId=object_id))


async def test_a_trial_warns_three_days_before_it_ends_once(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "29.00", trial_days=14)
    sub = (await subscribe(api, customer, price))["subscription"]
    await advance(api, clock, "2026-01-11T00:00:00Z")  # four days left: not yet
    assert "subscription.trial_will_end" not in await _about(api, sub["id"])
    await advance(api, clock, "2026-01-12T06:00:00Z")
    await advance(api, clock, "2026-01-13T06:00:00Z")  # the engine passes again: once
    notices = await all_events(api, types=["SUBSCRIPTION_TRIAL_WILL_END"])
    assert [(e["objectId"], e["data"]["trialEnd"]) for e in notices] == [
        (sub["id"], "2026-01-15T00:00:00+00:00")
    ]
    await advance(api, clock, "2026-01-16T00:00:00Z")
    tail = (await _about(api, sub["id"]))[-2:]
    assert tail == ["subscription.trial_will_end", "subscription.updated"]
    invoices = [e for e in await all_events(api) if e["objectType"] == "Invoice"]
    assert names(invoices)[-3:] == ["invoice.created", "invoice.finalized", "invoice.paid"]
    assert invoices[-1]["data"]["amountPaid"]["amount"] == "29.00"


async def test_dunning_states_each_failure_and_past_due(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_chargeDeclined")
    price = await monthly_price(api, trial_days=7)
    sub = (await subscribe(api, customer, price))["subscription"]
    await advance(api, clock, "2026-01-15T12:00:00Z")
    about = await _about(api, sub["id"])
    assert "subscription.past_due" in about
    assert about[-1] == "subscription.updated"  # UNPAID, once retries ran out
    events = await all_events(api)
    failures = [e for e in events if e["name"] == "invoice.payment_failed"]
    assert len(failures) == 5 == len([e for e in events if e["name"] == "payment.failed"])
    assert [e["data"]["attemptCount"] for e in failures] == [1, 2, 3, 4, 5]
    unpaid = [e for e in events if e["objectId"] == sub["id"]][-1]
    assert (unpaid["data"]["status"], unpaid["previousAttributes"]["status"]) == (
        "UNPAID",
        "PAST_DUE",
    )


async def test_an_expired_incomplete_subscription_voids_its_invoice(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_threeDSecureRequired")
    price = await monthly_price(api)
    sub = (await subscribe(api, customer, price))["subscription"]
    await advance(api, clock, "2026-01-02T00:00:00Z")
    events = await all_events(api)
    assert [e["name"] for e in events if e["name"].startswith("invoice.")][-1] == "invoice.voided"
    last = [e for e in events if e["objectId"] == sub["id"]][-1]
    assert last["data"]["status"] == "INCOMPLETE_EXPIRED"


async def test_pause_and_resume(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api)
    sub = (await subscribe(api, customer, price))["subscription"]
    action = (
        "mutation($s: ID!, $k: String!) {{ {name}(input: {{subscriptionId: $s, "
        "idempotencyKey: $k}}) {{ userErrors {{ code }} }} }}"
    )
    for name, at in (("pauseSubscription", "2026-01-05"), ("resumeSubscription", "2026-01-09")):
        await advance(api, clock, f"{at}T00:00:00Z")
        await api.data(action.format(name=name), {"s": sub["id"], "k": str(uuid.uuid4())})
    assert (await _about(api, sub["id"]))[-2:] == [
        "subscription.paused",
        "subscription.resumed",
    ]
