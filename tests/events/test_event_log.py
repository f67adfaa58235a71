"""The event log through the API: one event per fact, the object as the API shows it, the
commit order, filters and cursors, erasure, and who may read it."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.models import Customer, Event
from app.resolvers.common import key_of
from tests.conftest import Api
from tests.events.helpers import EVENTS, all_events, as_the_api_shows, names
from tests.factories import (
    CONFIRM,
    api_key,
    clock_and_customer,
    customer_with,
    key,
    monthly_price,
    new_customer,
    pay,
    refund,
    subscribe,
)


async def _three_d_secure_payment(api: Api) -> tuple[str, str]:
    customer = await customer_with(api, "tok_threeDSecureRequired")
    pending = (await pay(api, customer, "12.30", returnUrl="https://shop.example/done"))["payment"]
    path = urlsplit(pending["nextAction"]["redirectUrl"]).path
    assert (await api.http.post(path, data={"outcome": "succeed"})).status_code == 303
    confirmed = await api.data(
        CONFIRM, {"input": {"idempotencyKey": key(), "paymentId": pending["id"]}}
    )
    assert confirmed["confirmPayment"]["payment"]["status"] == "SUCCEEDED"
    return customer, pending["id"]


@pytest.mark.both_databases
async def test_a_payment_states_each_fact_once_in_order_with_its_object(api: Api) -> None:
    customer, payment = await _three_d_secure_payment(api)
    events = await all_events(api)
    assert names(events) == [
        "customer.created",
        "payment_method.attached",
        "payment.created",
        "payment.requires_action",
        "payment.succeeded",
    ]
    sequences = [int(e["sequence"]) for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert {e["apiVersion"] for e in events} == {"2026-12-01"}
    assert [e["objectId"] for e in events[2:]] == [payment] * 3
    assert events[0]["objectId"] == customer and events[0]["previousAttributes"] is None

    action, succeeded = events[3], events[4]
    assert action["data"]["status"] == "REQUIRES_ACTION"
    assert action["data"]["nextAction"]["redirectUrl"].endswith(
        "/sandbox/actions/" + action["data"]["pspReference"]
    )
    assert "clientSecret" not in action["data"]["nextAction"]
    assert succeeded["data"]["amountReceived"] == {
        "amount": "12.30",
        "amountMinor": "1230",
        "currency": "USD",
    }
    assert succeeded["previousAttributes"]["status"] == "REQUIRES_ACTION"
    assert succeeded["previousAttributes"]["amountReceived"]["amount"] == "0.00"
    # The last event's object is the object the API shows now, field for field.
    assert succeeded["data"] == await as_the_api_shows(api, succeeded)


async def test_every_kind_of_object_is_shown_as_the_api_shows_it(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "29.00")
    created = await subscribe(api, customer, price)
    assert created["userErrors"] == [], created
    payment = (await pay(api, customer, "50.00"))["payment"]["id"]
    assert (await refund(api, payment, "5.00"))["userErrors"] == []
    await api.data(
        'mutation($c: ID!) { updateCustomer(input: {id: $c, name: "Renamed"}) '
        "{ userErrors { code } } }",
        {"c": customer},
    )
    events = await all_events(api)
    latest = {}
    for event in events:
        latest[event["objectId"]] = event
    kinds = {event["objectType"] for event in latest.values()}
    assert kinds >= {"Customer", "PaymentMethod", "Subscription", "Invoice", "Payment", "Refund"}
    for event in latest.values():
        assert event["data"] == await as_the_api_shows(api, event), event["name"]
    assert {"subscription.created", "invoice.created", "invoice.finalized", "invoice.paid"} <= set(
        names(events)
    )
    assert {"refund.created", "refund.succeeded", "payment.refunded"} <= set(names(events))
    renamed = [e for e in events if e["name"] == "customer.updated"]
    assert [e["previousAttributes"]["name"] for e in renamed] == ["Sub"]
    del clock


async def test_filters_cursors_and_bad_input(api: Api) -> None:
    first = await new_customer(api, "tok_visa")
    second = await new_customer(api)
    everything = await all_events(api)
    assert names(everything) == ["customer.created", "payment_method.attached", "customer.created"]
    only = await all_events(api, types=["CUSTOMER_CREATED"])
    assert [e["objectId"] for e in only] == [first, second]
    assert names(await all_events(api, objectId=first)) == ["customer.created"]

    page = (await api.data(EVENTS, {"first": 1}))["events"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = (await api.data(EVENTS, {"after": page["pageInfo"]["endCursor"]}))["events"]
    assert [e["node"]["id"] for e in rest["edges"]] == [e["id"] for e in everything[1:]]
    end = rest["pageInfo"]["endCursor"]
    empty = (await api.data(EVENTS, {"after": end}))["events"]
    assert empty == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": end}}

    one = await api.data(
        "query($id: ID!) { event(id: $id) { name objectId } }", {"id": everything[2]["id"]}
    )
    assert one["event"] == {"name": "customer.created", "objectId": second}

    for variables, code in (
        ({"after": "not-a-cursor"}, "INVALID"),
        ({"first": 101}, "INVALID"),
        ({"objectId": "nope"}, "INVALID_ID"),
    ):
        body = await api.graphql(EVENTS, variables)
        assert body["errors"][0]["extensions"]["code"] == code, body
    body = await api.graphql(EVENTS, {"types": ["PAYMENT_EXPLODED"]})
    assert "PAYMENT_EXPLODED" in body["errors"][0]["message"]
    body = await api.graphql("query($id: ID!) { event(id: $id) { id } }", {"id": first})
    assert body["errors"][0]["extensions"]["code"] == "WRONG_ID_TYPE"


async def test_a_late_commit_never_lands_behind_a_cursor_already_passed(api: Api) -> None:
    """Two transactions: the one that writes first commits last. Its event must come after
    the other's, or a reader that had read the other's would never see it."""
    one, two = await new_customer(api), await new_customer(api)
    cursor = (await all_events(api))[-1]
    sessions = api.runtime.sessions
    first, second = sessions(), sessions()
    try:
        early = await first.get(Customer, key_of(one, "Customer"))
        assert early is not None
        early.name = "Early writer"
        await first.flush()  # its event is written to its buffer first, and waits
        late = await second.get(Customer, key_of(two, "Customer"))
        assert late is not None
        late.name = "Late writer"
        await second.commit()
        between = await all_events(api)
        await first.commit()
    finally:
        await first.close()
        await second.close()
    after = await all_events(api)
    tail = after[after.index(cursor) + 1 :]
    assert [e["data"]["name"] for e in tail] == ["Late writer", "Early writer"]
    assert between == after[:-1]  # what a reader saw in between is a prefix of the log


async def test_a_rolled_back_change_states_nothing(api: Api) -> None:
    customer = await new_customer(api)
    before = await all_events(api)
    async with api.runtime.sessions() as session:
        row = await session.get(Customer, key_of(customer, "Customer"))
        assert row is not None
        row.name = "Never"
        await session.flush()
        await session.rollback()
        row = await session.get(Customer, key_of(customer, "Customer"))
        assert row is not None
        async with session.begin_nested() as savepoint:
            row.name = "Savepoint rolled back"
            await session.flush()
            await savepoint.rollback()
        row.country = "DE"
        await session.commit()
    after = await all_events(api)
    assert names(after[len(before) :]) == ["customer.updated"]
    assert after[-1]["data"]["name"] == "Payer" and after[-1]["data"]["country"] == "DE"


async def test_an_erased_customer_leaves_no_personal_data_in_the_log(api: Api) -> None:
    customer = await new_customer(
        api, "tok_visa", name="Ada Lovelace", email="ada@example.com", metadata={"crm": "ada-77"}
    )
    await api.data(
        'mutation($c: ID!) { updateCustomer(input: {id: $c, name: "Ada King"}) '
        "{ userErrors { code } } }",
        {"c": customer},
    )
    await pay(api, customer, "10.00", description="Gift for Ada Lovelace")
    erased = await api.data(
        "mutation($c: ID!) { eraseCustomer(input: {customerId: $c}) { userErrors { code } } }",
        {"c": customer},
    )
    assert erased["eraseCustomer"]["userErrors"] == []
    events = await all_events(api)
    assert "customer.erased" in names(events)
    text = str(events).lower()
    for value in ("ada lovelace", "ada king", "ada@example.com", "ada-77"):
        assert value not in text, value
    async with api.runtime.sessions() as session:
        stored = str([(e.data, e.previous) for e in await session.scalars(sa.select(Event))])
    assert "ada@example.com" not in stored.lower() and "lovelace" not in stored.lower()


async def test_only_staff_who_may_see_personal_data_read_the_log(api: Api) -> None:
    await new_customer(api)
    growth, support = await api_key(api, "GROWTH"), await api_key(api, "SUPPORT")
    denied = await api.graphql(EVENTS, {}, authorization=f"Bearer {growth}")
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    allowed = await api.graphql(EVENTS, {}, authorization=f"Bearer {support}")
    assert "errors" not in allowed and allowed["data"]["events"]["edges"]


@pytest.mark.both_databases
async def test_concurrent_writers_leave_a_log_in_commit_order(api: Api) -> None:
    customers = [await customer_with(api) for _ in range(4)]

    async def charge(customer: str) -> None:
        for _ in range(5):
            assert (await pay(api, customer, "1.00"))["payment"]["status"] == "SUCCEEDED"

    await asyncio.gather(*(charge(c) for c in customers))
    events = await all_events(api, types=["PAYMENT_CREATED", "PAYMENT_SUCCEEDED"])
    assert len(events) == 40
    for payment in {e["objectId"] for e in events}:
        assert names([e for e in events if e["objectId"] == payment]) == [
            "payment.created",
            "payment.succeeded",
        ]
