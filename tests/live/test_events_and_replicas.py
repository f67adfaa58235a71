"""The staff event stream, and several replicas: each API process's hub follows the
outbox (LISTEN/NOTIFY), so a change made through one replica reaches a subscriber of
another."""

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from app.domain.clock import FrozenClock
from app.settings import LiveSettings, Settings
from tests.factories import customer_with, paid_payment
from tests.live.conftest import Server, live, serve

EVENTS = """
subscription($types: [EventType!]) { events(types: $types) { sequence type objectType objectId } }
"""
PAYMENT = "subscription($id: ID!) { paymentUpdated(id: $id) { id status } }"


async def test_staff_follow_the_event_log_from_now_in_order(server: Server) -> None:
    api = server.api
    customer = await customer_with(api)
    before = await paid_payment(api, customer, "1.00")  # committed before subscribing
    async with live(server) as client:
        assert (await client.init())["type"] == "connection_ack"
        operation = await client.subscribe(EVENTS, {"types": ["PAYMENT_SUCCEEDED"]})
        # The stream starts once subscribed; a query on the same connection after the
        # subscribe returns after it is registered (messages are handled in order).
        probe = await client.subscribe("{ __typename }")
        assert (await client.next_of(probe))["type"] == "next"
        payments = [await paid_payment(api, customer, f"{n}.00") for n in (2, 3, 4)]
        got = [await client.next_of(operation) for _ in payments]
    events = [m["payload"]["data"]["events"] for m in got]
    assert [e["objectId"] for e in events] == payments
    assert before not in [e["objectId"] for e in events]
    assert {e["type"] for e in events} == {"PAYMENT_SUCCEEDED"}
    sequences = [int(e["sequence"]) for e in events]
    assert sequences == sorted(sequences)


@pytest.fixture
async def replicas(settings: Settings, clock: FrozenClock) -> AsyncIterator[tuple[Server, Server]]:
    # The hubs' safety-net read once a minute: within the test only a notification from
    # the other replica's commit can wake B's hub.
    listening = settings.model_copy(update={"live": LiveSettings(poll_seconds=60)})
    async with serve(listening, clock) as a, serve(listening, clock) as b:
        yield a, b


async def test_a_change_through_replica_a_reaches_a_subscriber_on_replica_b(
    replicas: tuple[Server, Server],
) -> None:
    a, b = replicas
    customer = await customer_with(a.api, "tok_threeDSecureRequired")
    pending = (
        await a.api.data(
            "mutation($i: CreatePaymentInput!) { createPayment(input: $i) "
            "{ payment { id status nextAction { redirectUrl } } } }",
            {
                "i": {
                    "idempotencyKey": "8c5a7f0e-2f7b-4c1e-9a59-3f1f9d2b6a01",
                    "customerId": customer,
                    "amount": {"amount": "9.00", "currency": "USD"},
                    "returnUrl": "https://shop.example/done",
                }
            },
        )
    )["createPayment"]["payment"]
    async with live(b) as client:
        assert (await client.init())["type"] == "connection_ack"
        operation = await client.subscribe(PAYMENT, {"id": pending["id"]})
        first = await client.next_of(operation)
        assert first["payload"]["data"]["paymentUpdated"]["status"] == "REQUIRES_ACTION"
        path = urlsplit(pending["nextAction"]["redirectUrl"]).path
        assert (await a.api.http.post(path, data={"outcome": "succeed"})).status_code == 303
        status = ""
        while status != "SUCCEEDED":
            message = await client.next_of(operation)
            assert message["type"] == "next", message
            status = message["payload"]["data"]["paymentUpdated"]["status"]
    assert b.runtime.hub.listening
    assert a.runtime.hub.subscribers == set() and a.runtime.hub._task is None  # A never started
