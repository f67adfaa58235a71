"""Dunning obeys the retry advice of each decline, on test clocks, through GraphQL:
retried within the schedule (RETRY_LATER), stopped at once waiting for a new payment
method (DO_NOT_RETRY), waiting for the customer (CUSTOMER_ACTION_REQUIRED); a network's
advice code outranks the code's; a new default payment method retries at once, once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.domain.clock import FrozenClock
from app.main import create_app
from app.migrations import upgrade_to_head
from app.settings import Settings
from tests.conftest import Api, StatementLog
from tests.factories import (
    advance,
    attach,
    clock_and_customer,
    dunning_view,
    monthly_price,
    pay_invoice,
    set_default,
    subscribe,
)


async def _renewal_fails(api: Api, token: str) -> tuple[str, str, str]:
    """A customer paying with ``token`` whose 7-day trial ends on 8 January: the first
    renewal charge is declined. Returns the clock, customer and subscription."""
    clock, customer = await clock_and_customer(api, token)
    price = await monthly_price(api, trial_days=7)
    sub = (await subscribe(api, customer, price))["subscription"]
    await advance(api, clock, "2026-01-08T01:00:00Z")
    return clock, customer, sub["id"]


async def test_retry_later_follows_the_schedule_then_stops_with_the_reason(api: Api) -> None:
    clock, _, sub_id = await _renewal_fails(api, "tok_issuerUnavailable")
    sub = await dunning_view(api, sub_id)
    assert (sub["status"], sub["nextRetryAt"]) == ("PAST_DUE", "2026-01-09T00:00:00+00:00")
    assert sub["collectionStop"] is None  # still collecting
    [payment] = sub["invoices"][0]["payments"]
    assert payment["decline"] == {
        "code": "ISSUER_UNAVAILABLE",
        "retryAdvice": "RETRY_LATER",
        "providerCode": "issuer_unavailable",
        "networkDeclineCode": "91",
        "networkAdviceCode": None,
    }
    await advance(api, clock, "2026-01-16T00:00:00Z")
    sub = await dunning_view(api, sub_id)
    [invoice] = sub["invoices"]
    assert (sub["status"], sub["nextRetryAt"], invoice["attemptCount"]) == ("UNPAID", None, 5)
    stop = {"reason": "RETRIES_EXHAUSTED", "customerAction": "ADD_PAYMENT_METHOD"}
    assert {k: sub["collectionStop"][k] for k in stop} == stop
    assert {k: invoice["collectionStop"][k] for k in stop} == stop
    assert invoice["collectionStop"]["stoppedAt"] == "2026-01-15T00:00:00+00:00"


async def test_do_not_retry_stops_at_once_and_waits_for_a_new_payment_method(api: Api) -> None:
    clock, customer, sub_id = await _renewal_fails(api, "tok_lostCard")
    sub = await dunning_view(api, sub_id)
    assert (sub["status"], sub["nextRetryAt"]) == ("PAST_DUE", None)
    stop = sub["collectionStop"]
    assert (stop["reason"], stop["customerAction"]) == (
        "PAYMENT_METHOD_REFUSED",
        "ADD_PAYMENT_METHOD",
    )
    assert "lost" not in stop["message"].lower()  # never disclosed to the customer
    assert "new payment method" in stop["message"]
    [invoice] = sub["invoices"]
    assert invoice["collectionStop"]["reason"] == "PAYMENT_METHOD_REFUSED"
    assert invoice["payments"][0]["decline"]["retryAdvice"] == "DO_NOT_RETRY"

    # a month on: never charged again; the next period is invoiced, not charged
    await advance(api, clock, "2026-02-09T00:00:00Z")
    sub = await dunning_view(api, sub_id)
    first, second = sub["invoices"]
    assert (first["attemptCount"], len(first["payments"])) == (1, 1)
    assert (second["status"], second["payments"]) == ("OPEN", [])
    assert second["collectionStop"]["reason"] == "PAYMENT_METHOD_REFUSED"
    # nor can anyone charge the lost card for it by hand
    refused = await pay_invoice(api, first["id"], str(uuid.uuid4()))
    assert [e["code"] for e in refused["userErrors"]] == ["RETRY_NOT_ALLOWED"]
    assert len((await dunning_view(api, sub_id))["invoices"][0]["payments"]) == 1

    # a new default card: both open invoices are retried with it at once, and paid
    await attach(api, customer, "tok_visa")
    sub = await dunning_view(api, sub_id)
    assert (sub["status"], sub["collectionStop"]) == ("ACTIVE", None)
    assert [(i["status"], i["collectionStop"]) for i in sub["invoices"]] == [("PAID", None)] * 2
    await advance(api, clock, "2026-03-09T00:00:00Z")  # and it renews on the new card
    assert [i["status"] for i in (await dunning_view(api, sub_id))["invoices"]] == ["PAID"] * 3


async def test_customer_action_required_waits_for_the_customer(api: Api) -> None:
    clock, _, sub_id = await _renewal_fails(api, "tok_expiredCard")
    await advance(api, clock, "2026-01-20T00:00:00Z")
    sub = await dunning_view(api, sub_id)
    assert (sub["status"], sub["nextRetryAt"]) == ("PAST_DUE", None)
    assert (sub["collectionStop"]["reason"], sub["collectionStop"]["customerAction"]) == (
        "CUSTOMER_ACTION_REQUIRED",
        "UPDATE_PAYMENT_DETAILS",
    )
    [invoice] = sub["invoices"]
    assert invoice["attemptCount"] == 1  # no blind retries
    assert invoice["collectionStop"]["customerAction"] == "UPDATE_PAYMENT_DETAILS"


async def test_a_networks_do_not_try_again_outranks_a_generic_decline(api: Api) -> None:
    clock, _, sub_id = await _renewal_fails(api, "tok_mastercardDoNotTryAgain")
    await advance(api, clock, "2026-01-20T00:00:00Z")
    sub = await dunning_view(api, sub_id)
    [invoice] = sub["invoices"]
    decline = invoice["payments"][0]["decline"]
    assert (decline["code"], decline["networkAdviceCode"], decline["retryAdvice"]) == (
        "CARD_DECLINED",
        "03",
        "DO_NOT_RETRY",
    )
    assert (sub["status"], sub["nextRetryAt"], invoice["attemptCount"]) == ("PAST_DUE", None, 1)
    assert sub["collectionStop"]["reason"] == "PAYMENT_METHOD_REFUSED"


async def test_a_networks_try_again_later_is_retried_no_sooner_than_it_asks(api: Api) -> None:
    _, _, sub_id = await _renewal_fails(api, "tok_mastercardTryAgainIn72Hours")
    sub = await dunning_view(api, sub_id)
    # the schedule's first retry is a day later; Mastercard's advice code 02 asks for 72 hours
    assert (sub["status"], sub["nextRetryAt"]) == ("PAST_DUE", "2026-01-11T00:00:00+00:00")


async def test_a_new_default_method_is_tried_once_however_often_it_is_set(api: Api) -> None:
    _, customer, sub_id = await _renewal_fails(api, "tok_stolenCard")
    expired = await attach(api, customer, "tok_expiredCard")  # retried at once: declined
    for _ in range(3):
        await set_default(api, customer, expired)
    await attach(api, customer, "tok_expiredCard", default=True)  # the same card again
    sub = await dunning_view(api, sub_id)
    [invoice] = sub["invoices"]
    assert [p["decline"]["code"] for p in invoice["payments"]] == ["STOLEN_CARD", "EXPIRED_CARD"]
    assert sub["collectionStop"]["reason"] == "CUSTOMER_ACTION_REQUIRED"
    # another new method is tried too, and pays
    good = await attach(api, customer, "tok_mastercard")
    await set_default(api, customer, good)
    sub = await dunning_view(api, sub_id)
    assert (sub["status"], sub["invoices"][0]["status"]) == ("ACTIVE", "PAID")
    assert len(sub["invoices"][0]["payments"]) == 3


async def test_an_unpaid_subscriptions_invoice_is_retried_with_a_new_default(api: Api) -> None:
    clock, customer, sub_id = await _renewal_fails(api, "tok_chargeDeclined")
    await advance(api, clock, "2026-01-16T00:00:00Z")
    assert (await dunning_view(api, sub_id))["status"] == "UNPAID"
    await attach(api, customer, "tok_visa")
    sub = await dunning_view(api, sub_id)
    assert (sub["status"], sub["collectionStop"], sub["invoices"][0]["status"]) == (
        "ACTIVE",
        None,
        "PAID",
    )


async def test_a_non_default_method_retries_nothing(api: Api) -> None:
    _, customer, sub_id = await _renewal_fails(api, "tok_lostCard")
    await attach(api, customer, "tok_visa", default=False)
    sub = await dunning_view(api, sub_id)
    assert (sub["status"], len(sub["invoices"][0]["payments"])) == ("PAST_DUE", 1)


@pytest.fixture
async def sqlite_api(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    """The gateway on an embedded SQLite file (``make run``'s default)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'paygate.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    app = create_app(
        Settings(database_url=url, migrate_on_start=False, seed_demo=False), clock=clock
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        yield Api(http=http, sql=StatementLog(), app=app)
    await app.state.runtime.dispose()


async def test_a_new_default_set_at_once_many_times_retries_once(api: Api) -> None:
    await _set_at_once_many_times(api)


async def test_on_sqlite_too_a_new_default_set_at_once_retries_once(sqlite_api: Api) -> None:
    await _set_at_once_many_times(sqlite_api)


async def _set_at_once_many_times(api: Api) -> None:
    _, customer, sub_id = await _renewal_fails(api, "tok_pickupCard")
    method = await attach(api, customer, "tok_insufficientFunds", default=False)
    await asyncio.gather(*(set_default(api, customer, method) for _ in range(4)))
    sub = await dunning_view(api, sub_id)
    [invoice] = sub["invoices"]
    assert [p["decline"]["code"] for p in invoice["payments"]] == [
        "PICKUP_CARD",
        "INSUFFICIENT_FUNDS",
    ]
    # a retryable decline on the new card: its own schedule starts
    assert (sub["status"], sub["nextRetryAt"], sub["collectionStop"]) == (
        "PAST_DUE",
        "2026-01-09T01:00:00+00:00",
        None,
    )
