"""The limits of a connection: active subscriptions, message size, the time to send
``connection_init``, idle connections."""

from collections.abc import AsyncIterator

import pytest

from app.domain.clock import FrozenClock
from app.settings import LiveSettings, Settings
from tests.factories import customer_with, paid_payment
from tests.live.conftest import Server, live, serve

PAYMENT = "subscription($id: ID!) { paymentUpdated(id: $id) { id status } }"
# The timeouts are short for the tests of them, and long enough that a loaded machine (the
# server and the client share this process's event loop) does not trip them elsewhere.
LIMITS = LiveSettings(
    max_subscriptions=2, max_message_bytes=2048, init_timeout_seconds=1.0, idle_timeout_seconds=2.0
)


@pytest.fixture
async def limited(settings: Settings, clock: FrozenClock) -> AsyncIterator[Server]:
    async with serve(settings.model_copy(update={"live": LIMITS}), clock) as running:
        yield running


async def test_one_subscription_too_many_is_refused_and_the_others_go_on(
    limited: Server,
) -> None:
    customer = await customer_with(limited.api)
    payment = await paid_payment(limited.api, customer)
    async with live(limited) as client:
        assert (await client.init())["type"] == "connection_ack"
        one, two = [await client.subscribe(PAYMENT, {"id": payment}) for _ in range(2)]
        for operation in (one, two):
            assert (await client.next_of(operation))["type"] == "next"
        three = await client.subscribe(PAYMENT, {"id": payment})
        refused = await client.next_of(three)
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": 2}
        # Completing one makes room; the connection is still open.
        await client.send({"id": one, "type": "complete"})
        four = await client.subscribe(PAYMENT, {"id": payment})
        assert (await client.next_of(four))["type"] == "next"


async def test_a_message_over_the_size_limit_closes_the_connection(limited: Server) -> None:
    async with live(limited) as client:
        assert (await client.init())["type"] == "connection_ack"
        padding = "#" + "x" * 4096 + "\n"
        await client.subscribe(padding + "{ __typename }")
        code, reason = await client.closed()
    assert code == 1009
    assert reason == "Message too big: at most 2048 bytes."


async def test_no_connection_init_in_time_closes_the_connection(limited: Server) -> None:
    async with live(limited) as client:
        code, reason = await client.closed()
    assert (code, reason) == (4408, "Connection initialisation timeout")


async def test_an_idle_connection_is_closed(limited: Server) -> None:
    async with live(limited) as client:
        assert (await client.init())["type"] == "connection_ack"
        code, reason = await client.closed()
    assert code == 1000
    assert reason.startswith("Idle timeout")
