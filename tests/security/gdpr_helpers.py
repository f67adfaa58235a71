"""Steps of the GDPR tests: a customer whose data is everywhere, and looking for it in
every column of every table."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tests.conftest import Api
from tests.factories import advance, attach, key, monthly_price, paid_payment, subscribe
from tests.psp.paypal_fake import PayPalFake
from tests.psp.paypal_fake import fixture as paypal_fixture
from tests.psp.stripe_fake import StripeFake, new_id
from tests.psp.stripe_fake import fixture as stripe_fixture
from tests.psp.stripe_harness import WEBHOOK_SECRET, sign

ERASE = """
mutation($input: EraseCustomerInput!) {
  eraseCustomer(input: $input) {
    customer { id email name country locale metadata erasedAt
               paymentMethods { id } subscriptions { id status endedAt } }
    pendingPspDeletions
    userErrors { field code message }
  }
}
"""
EXPORT = """
mutation($input: ExportCustomerDataInput!) {
  exportCustomerData(input: $input) { data userErrors { field code message } }
}
"""
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb")


@dataclass
class Person:
    """Who is erased, and every value of theirs that must disappear."""

    email: str = "ada.lovelace+gdpr@example.com"
    name: str = "Ada Byron-Lovelace"
    metadata: dict[str, str] = field(
        default_factory=lambda: {"crm_id": "CRM-ADA-1815-X", "tier": "Sapphire"}
    )
    address: str = "12 St James's Square"  # only ever at Stripe (a webhook brings it)
    paypal_email: str = "customer@example.com"  # her PayPal account (the fake's payer)

    @property
    def values(self) -> list[str]:
        return [self.email, self.name, *self.metadata.values(), self.address, self.paypal_email]


@dataclass
class World:
    """What the scenario made: global IDs of the person's objects and the control's."""

    customer: str
    clock: str
    other: str
    methods: dict[str, str] = field(default_factory=dict)  # psp -> PaymentMethod id
    payments: dict[str, str] = field(default_factory=dict)  # psp -> Payment id
    subscription: str = ""


async def gql(api: Api, document: str, **variables: Any) -> dict[str, Any]:
    data = await api.data(document, variables)
    [payload] = data.values()
    assert isinstance(payload, dict)
    return payload


async def export(api: Api, customer: str) -> dict[str, Any]:
    payload = await gql(api, EXPORT, input={"customerId": customer})
    assert payload["userErrors"] == [], payload
    document: dict[str, Any] = payload["data"]
    return document


async def erase(api: Api, customer: str, **extra: Any) -> dict[str, Any]:
    return await gql(api, ERASE, input={"customerId": customer, **extra})


async def ok(api: Api, document: str, **variables: Any) -> dict[str, Any]:
    payload = await gql(api, document, **variables)
    assert payload.get("userErrors", []) == [], payload
    return payload


async def build_world(api: Api, person: Person, stripe: StripeFake, paypal: PayPalFake) -> World:
    """The person, with methods at three PSPs, payments, a refund, a subscription with paid
    invoices (and a coupon), a manual invoice, and PSP webhooks about them; and a control
    customer who must not be touched."""
    clock = (
        await ok(
            api,
            'mutation { createTestClock(input: {frozenTime: "2026-01-01T00:00:00Z", '
            'name: "gdpr"}) { testClock { id } userErrors { code } } }',
        )
    )["testClock"]["id"]
    customer = (
        await ok(
            api,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) "
            "{ customer { id } userErrors { code } } }",
            i={
                "email": person.email,
                "name": person.name,
                "country": "GB",
                "locale": "en-GB",
                "metadata": person.metadata,
                "testClockId": clock,
            },
        )
    )["customer"]["id"]
    other = (
        await ok(
            api,
            'mutation { createCustomer(input: {email: "grace.hopper@example.org", '
            'name: "Grace Hopper", country: "US"}) { customer { id } userErrors { code } } }',
        )
    )["customer"]["id"]
    world = World(customer=customer, clock=clock, other=other)
    world.methods["sandbox"] = await attach(api, customer, "tok_visa", psp="SANDBOX", default=False)
    world.methods["stripe"] = await attach(
        api, customer, "pm_card_visa", psp="STRIPE", default=False
    )
    world.methods["paypal"] = await attach(
        api, customer, paypal.setup_token("PAYPAL"), psp="PAYPAL", default=False
    )
    other_method = await attach(api, other, "tok_mastercard", psp="SANDBOX", default=False)

    world.payments["sandbox"] = await paid_payment(
        api,
        customer,
        "40.00",
        paymentMethodId=world.methods["sandbox"],
        idempotencyKey=f"order-{person.email}-1",  # merchants do put emails in keys
        description=f"Order for {person.email}",
        metadata={"buyer": person.name},
    )
    world.payments["stripe"] = await paid_payment(
        api, customer, "15.00", paymentMethodId=world.methods["stripe"]
    )
    world.payments["paypal"] = await paid_payment(
        api, customer, "12.50", paymentMethodId=world.methods["paypal"]
    )
    await paid_payment(
        api,
        other,
        "9.99",
        paymentMethodId=other_method,
        description="Order for grace.hopper@example.org",
    )
    await ok(
        api,
        "mutation($i: CreateRefundInput!) { createRefund(input: $i) "
        "{ refund { id } userErrors { code message } } }",
        i={
            "idempotencyKey": key(),
            "paymentId": world.payments["sandbox"],
            "amount": {"amount": "5.00", "currency": "USD"},
        },
    )

    await ok(
        api,
        'mutation { createCoupon(input: {code: "WELCOME10", percentOff: "10", '
        "duration: ONCE}) { coupon { id } userErrors { code message } } }",
    )
    price = await monthly_price(api, "29.00")
    subscribed = await subscribe(api, customer, price, couponCode="WELCOME10")
    assert subscribed["userErrors"] == [], subscribed
    assert subscribed["subscription"]["status"] == "ACTIVE"
    world.subscription = subscribed["subscription"]["id"]
    await advance(api, clock, "2026-02-02T00:00:00Z")  # a renewal, paid

    await ok(
        api,
        "mutation($i: CreateInvoiceItemInput!) { createInvoiceItem(input: $i) "
        "{ userErrors { code message } } }",
        i={
            "idempotencyKey": key(),
            "customerId": customer,
            "amount": {"amount": "100.00", "currency": "USD"},
            "description": f"Consulting for {person.name}",
        },
    )
    invoice = (
        await ok(
            api,
            "mutation($c: ID!, $k: String!) { createInvoice(input: {customerId: $c, "
            'idempotencyKey: $k, currency: "USD"}) { invoice { id } '
            "userErrors { code message } } }",
            c=customer,
            k=key(),
        )
    )["invoice"]["id"]
    await ok(
        api,
        "mutation($i: ID!, $k: String!) { finalizeInvoice(input: {invoiceId: $i, "
        "idempotencyKey: $k}) { invoice { id } userErrors { code message } } }",
        i=invoice,
        k=key(),
    )
    paid = await ok(
        api,
        "mutation($i: PayInvoiceInput!) { payInvoice(input: $i) "
        "{ invoice { status } userErrors { code message } } }",
        i={"idempotencyKey": key(), "invoiceId": invoice},
    )
    assert paid["invoice"]["status"] == "PAID"
    await deliver_psp_webhooks(api, person, world, stripe, paypal)
    return world


def stripe_customer(person: Person, psp_customer_id: str) -> dict[str, Any]:
    """Stripe's customer object of her, as Stripe holds it (with an address we never had)."""
    customer = stripe_fixture("event_customer_created")["data"]["object"]
    customer.update(
        id=psp_customer_id,
        email=person.email,
        name=person.name,
        metadata={"paygate_customer": "x", **person.metadata},
        address={"line1": person.address, "city": "London", "postal_code": "SW1Y 4LE"},
    )
    return customer


async def stripe_event(api: Api, event_type: str, obj: dict[str, Any]) -> None:
    """Deliver a signed Stripe event about ``obj`` to the webhook endpoint."""
    envelope = stripe_fixture("event_payment_intent_succeeded")
    envelope.update(id=new_id("evt"), type=event_type, created=int(datetime.now(UTC).timestamp()))
    envelope["data"] = {"object": obj}
    body = json.dumps(envelope).encode()
    signature = sign(body, WEBHOOK_SECRET, datetime.now(UTC))
    response = await api.http.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
    )
    assert response.status_code == 200, response.text


async def deliver_psp_webhooks(
    api: Api, person: Person, world: World, stripe: StripeFake, paypal: PayPalFake
) -> None:
    """What Stripe and PayPal send about her (with data of hers we never had: an address,
    a payer id) and a Stripe event about someone else entirely."""
    document = await export(api, world.customer)
    psp_customer = {c["psp"]: c["pspCustomerId"] for c in document["pspCustomers"]}
    reference = {m["psp"]: m["pspReference"] for m in document["paymentMethods"]}
    payment_reference = {p["psp"]: p["pspReference"] for p in document["payments"]}

    customer = stripe_customer(person, psp_customer["stripe"])
    method = stripe_fixture("event_payment_method_attached")["data"]["object"]
    method.update(id=reference["stripe"], customer=psp_customer["stripe"])
    method["billing_details"].update(email=person.email, name=person.name)
    intent = stripe.get(payment_reference["stripe"])
    intent.update(receipt_email=person.email, status="succeeded")
    stranger = stripe_fixture("event_customer_created")["data"]["object"]
    stranger.update(id=new_id("cus"), email="grace.hopper@example.org", name="Grace Hopper")
    for event_type, obj in (
        ("customer.updated", customer),
        ("payment_method.attached", method),
        ("payment_intent.succeeded", intent),
        ("customer.created", stranger),
    ):
        await stripe_event(api, event_type, obj)

    token_event = paypal_fixture("webhook_payment_token_created")
    token_event["id"] = f"WH-{uuid.uuid4().hex[:17].upper()}"
    token_event["resource"]["id"] = reference["paypal"]
    token_event["resource"]["customer"]["merchant_customer_id"] = psp_customer["paypal"]
    payer = token_event["resource"]["payment_source"]["paypal"]
    payer["name"] = {"given_name": "Ada", "surname": "Byron-Lovelace", "full_name": person.name}
    now = api.runtime.clock.now()
    token_event["create_time"] = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    body = json.dumps(token_event, separators=(",", ":")).encode()
    response = await api.http.post(
        "/webhooks/paypal", content=body, headers=paypal.sign(body, at=now)
    )
    assert response.status_code == 200, response.text


async def text_columns(api: Api) -> list[tuple[str, str]]:
    """Every text and JSON column of every table, from the catalog."""
    async with api.engine.connect() as connection:
        rows = await connection.execute(
            sa.text(
                "SELECT c.table_name, c.column_name FROM information_schema.columns c "
                "JOIN information_schema.tables t ON t.table_schema = c.table_schema "
                "AND t.table_name = c.table_name "
                "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
                "AND c.data_type = ANY(:types) ORDER BY 1, 2"
            ),
            {"types": list(TEXT_TYPES)},
        )
        return [(table, column) for table, column in rows]


async def occurrences(api: Api, values: list[str]) -> dict[tuple[str, str, str], int]:
    """Where each value occurs (case-insensitively): {(table, column, value): rows}."""
    found: dict[tuple[str, str, str], int] = {}
    async with api.engine.connect() as connection:
        for table, column in await text_columns(api):
            for value in values:
                count = await connection.scalar(
                    sa.text(
                        f'SELECT count(*) FROM "{table}" '
                        f'WHERE strpos(lower("{column}"::text), lower(:value)) > 0'
                    ),
                    {"value": value},
                )
                if count:
                    found[(table, column, value)] = int(count)
    return found


async def fingerprint(api: Api) -> dict[str, str]:
    """A digest of every table's rows: equal fingerprints, nothing changed. The audit log
    is left out: recording the attempt is the one change every call makes."""
    async with api.engine.connect() as connection:
        tables = await connection.scalars(
            sa.text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        )
        digests = {}
        for table in list(tables):
            if table == "audit_events":
                continue
            digests[table] = await connection.scalar(
                sa.text(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f'FROM "{table}" t'
                )
            )
    return digests
