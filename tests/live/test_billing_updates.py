"""A customer's portal follows its subscription and its invoice: a pause, then a renewal
paid, pushed as they happen (the same path as `paymentUpdated`, other objects)."""

import uuid

from tests.factories import advance, clock_and_customer, monthly_price, subscribe
from tests.live.conftest import Server, live

SUBSCRIPTION_UPDATED = (
    "subscription($id: ID!) { subscriptionUpdated(id: $id) { id status currentPeriodEnd } }"
)
INVOICE_UPDATED = "subscription($id: ID!) { invoiceUpdated(id: $id) { id status attemptCount } }"
PAUSE = """mutation($s: ID!, $k: String!) { pauseSubscription(input: {subscriptionId: $s,
  idempotencyKey: $k}) { userErrors { code } } }"""


async def test_a_subscription_and_its_invoice_are_pushed(server: Server) -> None:
    api = server.api
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "29.00", trial_days=7)
    created = (await subscribe(api, customer, price))["subscription"]
    async with live(server) as client:
        assert (await client.init())["type"] == "connection_ack"
        following = await client.subscribe(SUBSCRIPTION_UPDATED, {"id": created["id"]})
        first = (await client.next_of(following))["payload"]["data"]["subscriptionUpdated"]
        assert first["status"] == "TRIALING"  # the state when subscribed, first

        await advance(api, clock, "2026-01-08T01:00:00Z")  # the trial ends: renewed, paid
        statuses = []
        while not statuses or statuses[-1] != "ACTIVE":
            message = await client.next_of(following)
            statuses.append(message["payload"]["data"]["subscriptionUpdated"]["status"])
        invoice = (
            await api.data(
                "query($id: ID!) { subscription(id: $id) { latestInvoice { id } } }",
                {"id": created["id"]},
            )
        )["subscription"]["latestInvoice"]["id"]
        bill = await client.subscribe(INVOICE_UPDATED, {"id": invoice})
        paid = (await client.next_of(bill))["payload"]["data"]["invoiceUpdated"]
        assert (paid["id"], paid["status"], paid["attemptCount"]) == (invoice, "PAID", 1)

        await api.data(PAUSE, {"s": created["id"], "k": str(uuid.uuid4())})
        paused = (await client.next_of(following))["payload"]["data"]["subscriptionUpdated"]
    assert paused["status"] == "PAUSED"
