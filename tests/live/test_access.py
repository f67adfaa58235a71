"""Live subscriptions are authorised like queries: credentials on ``connection_init`` (or
the upgrade request's header), the field policy, and a customer session only on its own
objects; another customer's object is NOT_FOUND, exactly like an ID that does not exist."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from app.domain.clock import FrozenClock
from app.schema.node import encode_gid
from app.settings import Settings
from tests.factories import customer_with, key, staff_key
from tests.live.conftest import LiveClient, Server, live, serve
from tests.security.conftest import secured

PAYMENT = "subscription($id: ID!) { paymentUpdated(id: $id) { id status } }"
INVOICE = "subscription($id: ID!) { invoiceUpdated(id: $id) { id status } }"
EVENTS = "subscription { events { id type } }"
CREATE_PAYMENT = """
mutation($input: CreatePaymentInput!) {
  createPayment(input: $input) { payment { id status } userErrors { code } }
}
"""


@pytest.fixture
async def secure_server(settings: Settings, clock: FrozenClock) -> AsyncIterator[Server]:
    async with serve(secured(settings), clock) as running:
        admin = await staff_key(running.runtime, "admin", "admin key")
        running.api.http.headers["authorization"] = f"Bearer {admin}"
        yield running


def token(server: Server, customer: str) -> str:
    runtime = server.runtime
    return str(runtime.tokens.mint(customer, now=runtime.clock.now(), ttl=timedelta(hours=1)))


async def paid(server: Server, customer: str) -> str:
    variables = {
        "input": {
            "idempotencyKey": key(),
            "customerId": customer,
            "amount": {"amount": "12.00", "currency": "EUR"},
        }
    }
    payload = (await server.api.data(CREATE_PAYMENT, variables))["createPayment"]
    assert payload["userErrors"] == [] and payload["payment"]["status"] == "SUCCEEDED"
    payment: str = payload["payment"]["id"]
    return payment


async def first(client: LiveClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    return await client.next_of(await client.subscribe(query, variables))


def error_code(message: dict[str, Any]) -> str:
    """The code of a refused subscription: an ``error`` message, or a ``next`` with
    errors (an error of the field's resolver, as over HTTP)."""
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    code: str = errors[0]["extensions"]["code"]
    return code


async def test_a_customer_follows_its_own_payment_and_no_other(secure_server: Server) -> None:
    ada, bob = await customer_with(secure_server.api), await customer_with(secure_server.api)
    adas, bobs = await paid(secure_server, ada), await paid(secure_server, bob)
    unknown = encode_gid("Payment", uuid.uuid4())
    async with live(secure_server) as client:
        ack = await client.init({"authorization": f"Bearer {token(secure_server, ada)}"})
        assert ack["type"] == "connection_ack"
        own = await first(client, PAYMENT, {"id": adas})
        assert own["payload"]["data"]["paymentUpdated"] == {"id": adas, "status": "SUCCEEDED"}

        others = await first(client, PAYMENT, {"id": bobs})
        missing = await first(client, PAYMENT, {"id": unknown})
        assert error_code(others) == error_code(missing) == "NOT_FOUND"
        assert (
            others["payload"]["errors"][0]["message"] == missing["payload"]["errors"][0]["message"]
        )
        # The field policy, as for the `events` query: staff only.
        assert error_code(await first(client, EVENTS, {})) == "FORBIDDEN"
        # IDs: the typed errors of queries.
        assert error_code(await first(client, INVOICE, {"id": adas})) == "WRONG_ID_TYPE"
        assert error_code(await first(client, PAYMENT, {"id": "nonsense"})) == "INVALID_ID"


async def test_the_upgrade_requests_header_authenticates_too(secure_server: Server) -> None:
    ada = await customer_with(secure_server.api)
    payment = await paid(secure_server, ada)
    headers = {"authorization": f"Bearer {token(secure_server, ada)}"}
    async with live(secure_server, headers=headers) as client:
        assert (await client.init())["type"] == "connection_ack"
        own = await first(client, PAYMENT, {"id": payment})
        assert own["payload"]["data"]["paymentUpdated"]["id"] == payment


async def test_wrong_credentials_close_the_connection(secure_server: Server) -> None:
    async with live(secure_server) as client:
        await client.send(
            {"type": "connection_init", "payload": {"authorization": "Bearer pgk_nope_nope"}}
        )
        code, reason = await client.closed()
    assert code == 4403
    assert reason.startswith("UNAUTHENTICATED")


async def test_anonymous_callers_get_the_querys_refusal(secure_server: Server) -> None:
    ada = await customer_with(secure_server.api)
    payment = await paid(secure_server, ada)
    async with live(secure_server) as client:
        assert (await client.init())["type"] == "connection_ack"
        assert error_code(await first(client, PAYMENT, {"id": payment})) == "UNAUTHENTICATED"


async def test_a_subscription_over_http_is_refused(secure_server: Server) -> None:
    """strawberry's view would run it over multipart HTTP, outside the WebSocket's limits."""
    accept = 'multipart/mixed;subscriptionSpec="1.0",application/json'
    response = await secure_server.api.http.post(
        "/graphql", json={"query": EVENTS}, headers={"accept": accept}
    )
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "SUBSCRIPTION_OVER_HTTP"
