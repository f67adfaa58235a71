"""The frontend's case: a WebSocket client follows a payment through 3-D Secure on the
sandbox page, and sees REQUIRES_ACTION, then SUCCEEDED, without polling."""

from urllib.parse import urlsplit

import pytest

from tests.factories import customer_with, pay
from tests.live.conftest import LiveClient, Server, live

PAYMENT_UPDATED = """
subscription($id: ID!) {
  paymentUpdated(id: $id) { id status amount { amount currency } nextAction { redirectUrl } }
}
"""


async def statuses_until(client: LiveClient, operation: str, last: str) -> list[str]:
    seen: list[str] = []
    while not seen or seen[-1] != last:
        message = await client.next_of(operation)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        seen.append(message["payload"]["data"]["paymentUpdated"]["status"])
    return seen


# PostgreSQL (the hub LISTENs) and SQLite, the embedded default of `make run` (it polls).
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
async def test_three_d_secure_over_websocket(server: Server, backend: str) -> None:
    api = server.api
    customer = await customer_with(api, "tok_threeDSecureRequired")
    pending = (await pay(api, customer, returnUrl="https://shop.example/done"))["payment"]
    assert pending["status"] == "REQUIRES_ACTION"

    async with live(server) as client:
        assert (await client.init())["type"] == "connection_ack"
        operation = await client.subscribe(PAYMENT_UPDATED, {"id": pending["id"]})
        first = await client.next_of(operation)
        payment = first["payload"]["data"]["paymentUpdated"]
        assert payment["status"] == "REQUIRES_ACTION"
        assert payment["nextAction"]["redirectUrl"] == pending["nextAction"]["redirectUrl"]

        # The customer completes authentication on the sandbox's page.
        path = urlsplit(pending["nextAction"]["redirectUrl"]).path
        answered = await api.http.post(path, data={"outcome": "succeed"})
        assert answered.status_code == 303

        seen = await statuses_until(client, operation, "SUCCEEDED")
        assert seen[-1] == "SUCCEEDED"
        assert set(seen) <= {"REQUIRES_ACTION", "PROCESSING", "SUCCEEDED"}
        await client.send({"id": operation, "type": "complete"})
    assert server.runtime.hub.listening is (backend == "postgresql")
