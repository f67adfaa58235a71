"""GDPR: erasing a customer's personal data and exporting all of it, through the API.

The app runs with the sandbox, Stripe and PayPal (their real SDKs against the local fakes),
so erasure is seen reaching each PSP, and PSP webhooks bring personal data in the way real
ones do.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from app.domain.clock import FrozenClock
from app.main import create_app
from app.schema.node import decode_gid, encode_gid
from app.services import erasure, idempotency
from app.settings import PayPalSettings, Settings, StripeSettings
from app.worker import Dependencies, delete_erased_psp_customers, use_dependencies
from tests.conftest import Api
from tests.factories import attach, key, monthly_price, paid_payment
from tests.psp.fake_server import serve_in_thread
from tests.psp.paypal_fake import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, PayPalFake
from tests.psp.stripe_fake import API_KEY, StripeFake
from tests.psp.stripe_harness import WEBHOOK_SECRET
from tests.security.gdpr_helpers import (
    Person,
    build_world,
    erase,
    export,
    fingerprint,
    gql,
    occurrences,
    ok,
    stripe_customer,
    stripe_event,
    text_columns,
)

Fakes = tuple[StripeFake, str, PayPalFake, str]


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    stripe, paypal = StripeFake(), PayPalFake(hang_seconds=3.0)
    with serve_in_thread(stripe.app) as stripe_url, serve_in_thread(paypal.app) as paypal_url:
        yield stripe, stripe_url, paypal, paypal_url


@pytest.fixture
def stripe(fakes: Fakes) -> StripeFake:
    fakes[0].reset()
    return fakes[0]


@pytest.fixture
def paypal(fakes: Fakes) -> PayPalFake:
    fakes[2].reset()
    return fakes[2]


@pytest.fixture
def settings(database_url: str, fakes: Fakes) -> Settings:
    _, stripe_url, _, paypal_url = fakes
    return Settings(
        database_url=database_url,
        migrate_on_start=False,
        seed_demo=False,
        enabled_psps=["sandbox", "stripe", "paypal"],
        stripe=StripeSettings(
            api_key=SecretStr(API_KEY),
            webhook_secret=SecretStr(WEBHOOK_SECRET),
            api_base=stripe_url,
            timeout_seconds=2,
        ),
        paypal=PayPalSettings(
            client_id=SecretStr(CLIENT_ID),
            client_secret=SecretStr(CLIENT_SECRET),
            webhook_id=WEBHOOK_ID,
            api_base=paypal_url,
            timeout_seconds=2,
        ),
    )


def deletes(fake: StripeFake | PayPalFake) -> list[str]:
    return [call.path for call in fake.calls() if call.method == "DELETE"]


def retained(document: dict[str, Any]) -> dict[str, Any]:
    """What legal retention keeps: amounts, numbers, statuses, dates, the tax country."""
    invoice_fields = (
        "id",
        "number",
        "status",
        "periodStart",
        "paidAt",
        "subtotal",
        "discount",
        "tax",
        "total",
        "amountPaid",
    )
    payment_fields = (
        "id",
        "psp",
        "pspReference",
        "status",
        "amount",
        "amountReceived",
        "amountRefunded",
        "invoiceId",
        "createdAt",
    )
    return {
        "country": document["customer"]["country"],
        "invoices": [
            {
                **{name: invoice[name] for name in invoice_fields},
                "lines": [(line["amount"], line["tax"]) for line in invoice["lines"]],
            }
            for invoice in document["invoices"]
        ],
        "payments": [
            {
                **{name: payment[name] for name in payment_fields},
                "events": [(e["type"], e["amount"], e["createdAt"]) for e in payment["events"]],
                "refunds": [(r["id"], r["status"], r["amount"]) for r in payment["refunds"]],
            }
            for payment in document["payments"]
        ],
        "coupons": document["couponsRedeemed"],
    }


async def test_erasure_removes_every_trace_and_keeps_the_financial_record(
    api: Api, stripe: StripeFake, paypal: PayPalFake
) -> None:
    # Given a customer whose data is in many places, at three PSPs, and in their webhooks
    person = Person()
    world = await build_world(api, person, stripe, paypal)
    before = await export(api, world.customer)
    text = json.dumps(before)
    assert all(value in text for value in [person.email, person.name, *person.metadata.values()])
    assert len(before["invoices"]) == 3 and {i["status"] for i in before["invoices"]} == {"PAID"}
    assert len(before["payments"]) == 6  # 3 one-off, 2 subscription invoices, 1 manual
    found = await occurrences(api, person.values)
    places = {(table, column) for table, column, _ in found}
    assert {  # the scan below is not vacuous: these held her data
        ("customers", "email"),
        ("customers", "metadata"),
        ("payment_methods", "email"),
        ("payments", "description"),
        ("payments", "metadata"),
        ("invoice_lines", "description"),
        ("webhook_events", "payload"),
        ("idempotency_keys", "key"),
    } <= places, places
    other_before = await export(api, world.other)
    stripe_customer = next(c for c in before["pspCustomers"] if c["psp"] == "stripe")
    paypal_token = next(m for m in before["paymentMethods"] if m["psp"] == "paypal")
    sandbox_customer = next(c for c in before["pspCustomers"] if c["psp"] == "sandbox")

    # When she is erased
    payload = await erase(api, world.customer, idempotencyKey=key())

    # Then the answer shows the erasure, complete at every PSP
    assert payload["userErrors"] == []
    assert payload["pendingPspDeletions"] == []
    customer = payload["customer"]
    assert customer["erasedAt"] is not None
    assert (customer["email"], customer["name"], customer["locale"], customer["metadata"]) == (
        None,
        None,
        None,
        {},
    )
    assert customer["country"] == "GB"  # the tax country stays
    assert customer["paymentMethods"] == []  # every method detached
    assert [s["status"] for s in customer["subscriptions"]] == ["CANCELED"]
    # ...the PSPs were asked to delete her
    assert deletes(stripe) == [f"/v1/customers/{stripe_customer['pspCustomerId']}"]
    assert deletes(paypal) == [f"/v3/vault/payment-tokens/{paypal_token['pspReference']}"]
    sandbox = api.runtime.psps.sandbox
    assert sandbox.deleted_customers == {sandbox_customer["pspCustomerId"]}
    # ...not one of her values is left in any text or JSON column of any table
    columns = await text_columns(api)
    assert {
        ("webhook_events", "payload"),
        ("idempotency_keys", "response"),
        ("payment_events", "data"),
        ("customers", "email"),
    } <= set(columns)
    assert await occurrences(api, person.values) == {}
    # ...the financial record is what it was
    after = await export(api, world.customer)
    assert retained(after) == retained(before)
    # ...and her export says so, without her data
    assert all(value not in json.dumps(after) for value in person.values)
    assert after["customer"]["erasedAt"] == customer["erasedAt"]
    assert all(c["deletedAt"] for c in after["pspCustomers"])
    assert all(m["detachedAt"] and not m["isDefault"] for m in after["paymentMethods"])
    assert {(m["brand"], m["last4"]) for m in after["paymentMethods"] if m["psp"] != "paypal"} == {
        ("visa", "4242"),
    }
    assert all(m["expMonth"] is None and m["fingerprint"] is None for m in after["paymentMethods"])
    assert all(p["description"] is None and p["metadata"] == {} for p in after["payments"])
    [manual] = [i for i in after["invoices"] if i["billingReason"] == "MANUAL"]
    assert manual["lines"][0]["description"] == "Consulting for [erased]"
    # ...and nobody else's data was touched
    assert await export(api, world.other) == other_before
    kept = await occurrences(api, ["grace.hopper@example.org"])
    assert {("customers", "email"), ("webhook_events", "payload")} <= {(t, c) for t, c, _ in kept}


async def test_an_erased_customer_is_never_charged_or_changed_again(
    api: Api, stripe: StripeFake, paypal: PayPalFake
) -> None:
    person = Person()
    world = await build_world(api, person, stripe, paypal)
    before = await export(api, world.customer)
    invoices = len(before["invoices"])
    stripe_customer_id = next(
        c["pspCustomerId"] for c in before["pspCustomers"] if c["psp"] == "stripe"
    )
    first = await erase(api, world.customer)
    assert first["userErrors"] == []
    calls = (len(stripe.calls()), len(paypal.calls()))
    snapshot = await fingerprint(api)

    # Erasing again: a no-op success
    again = await erase(api, world.customer)
    assert again["userErrors"] == [] and again["customer"] == first["customer"]
    assert (len(stripe.calls()), len(paypal.calls())) == calls
    assert await fingerprint(api) == snapshot

    # No charge, subscription, method or change any more
    refused = [
        await gql(
            api,
            "mutation($i: CreatePaymentInput!) { createPayment(input: $i) "
            "{ payment { id } userErrors { field code } } }",
            i={
                "idempotencyKey": key(),
                "customerId": world.customer,
                "amount": {"amount": "1.00", "currency": "USD"},
            },
        ),
        await gql(
            api,
            "mutation($i: AttachPaymentMethodInput!) { attachPaymentMethod(input: $i) "
            "{ paymentMethod { id } userErrors { field code } } }",
            i={"customerId": world.customer, "token": "tok_visa"},
        ),
        await gql(
            api,
            "mutation($i: UpdateCustomerInput!) { updateCustomer(input: $i) "
            "{ customer { id } userErrors { field code } } }",
            i={"id": world.customer, "email": person.email},
        ),
        await gql(
            api,
            "mutation($i: CreateInvoiceItemInput!) { createInvoiceItem(input: $i) "
            "{ userErrors { field code } } }",
            i={
                "idempotencyKey": str(uuid.uuid4()),
                "customerId": world.customer,
                "description": "x",
                "amount": {"amount": "1.00", "currency": "USD"},
            },
        ),
    ]
    for payload in refused:
        assert [e["code"] for e in payload["userErrors"]] == ["CUSTOMER_ERASED"], payload
    [subscription] = (await export(api, world.customer))["subscriptions"]
    subscribed = await gql(
        api,
        "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
        "{ subscription { id } userErrors { field code } } }",
        i={
            "idempotencyKey": key(),
            "customerId": world.customer,
            "items": [{"priceId": subscription["items"][0]["priceId"]}],
        },
    )
    assert [e["code"] for e in subscribed["userErrors"]] == ["CUSTOMER_ERASED"]
    # ...and time passing bills nothing: the subscription was canceled, without proration
    await ok(
        api,
        "mutation($c: ID!) { advanceTestClock(input: {testClockId: $c, "
        'frozenTime: "2026-06-01T00:00:00Z"}) { testClock { id } userErrors { code } } }',
        c=world.clock,
    )
    after = await export(api, world.customer)
    assert len(after["invoices"]) == invoices
    assert after["pendingInvoiceItems"] == []
    # ...and Stripe's customer.deleted event, which carries her as she was, is stored
    # without her data
    await stripe_event(api, "customer.deleted", stripe_customer(person, stripe_customer_id))
    assert await occurrences(api, person.values) == {}


async def test_a_psp_that_is_down_leaves_the_local_erasure_done_and_is_retried(
    api: Api, stripe: StripeFake, paypal: PayPalFake, clock: FrozenClock
) -> None:
    # Given Stripe down when she is erased
    person = Person()
    world = await build_world(api, person, stripe, paypal)
    stripe_customer = next(
        c["pspCustomerId"]
        for c in (await export(api, world.customer))["pspCustomers"]
        if c["psp"] == "stripe"
    )
    stripe.fail_next("unavailable")
    payload = await erase(api, world.customer)

    # Then the local erasure is complete, and Stripe's deletion is pending, not forgotten
    assert payload["userErrors"] == []
    assert payload["pendingPspDeletions"] == ["STRIPE"]
    assert payload["customer"]["erasedAt"] is not None
    assert await occurrences(api, person.values) == {}
    document = await export(api, world.customer)
    deletion = {c["psp"]: c["deletedAt"] for c in document["pspCustomers"]}
    assert deletion["stripe"] is None and deletion["sandbox"] and deletion["paypal"]

    # When the worker's job runs before the back-off is over: nothing is asked
    runtime = api.runtime
    with use_dependencies(Dependencies(runtime.settings, runtime.psps, clock)):
        assert await delete_erased_psp_customers() == {"deleted": 0, "pending": 1}
        # ...and after it: Stripe deletes her
        clock.advance(timedelta(minutes=2))
        assert await delete_erased_psp_customers() == {"deleted": 1, "pending": 0}
    assert deletes(stripe)[-1] == f"/v1/customers/{stripe_customer}"
    assert all(c["deletedAt"] for c in (await export(api, world.customer))["pspCustomers"])


async def test_erasing_again_retries_a_pending_psp_deletion(
    api: Api, stripe: StripeFake, paypal: PayPalFake
) -> None:
    person = Person()
    world = await build_world(api, person, stripe, paypal)
    paypal.fail_next(
        "unavailable",
        path="/payment-tokens/"
        + (
            next(
                m["pspReference"]
                for m in (await export(api, world.customer))["paymentMethods"]
                if m["psp"] == "paypal"
            )
        ),
    )
    assert (await erase(api, world.customer))["pendingPspDeletions"] == ["PAYPAL"]
    assert (await erase(api, world.customer))["pendingPspDeletions"] == []
    assert len(deletes(paypal)) == 2


async def test_the_export_is_complete_and_documented(
    api: Api, stripe: StripeFake, paypal: PayPalFake
) -> None:
    person = Person()
    world = await build_world(api, person, stripe, paypal)
    document = await export(api, world.customer)
    assert document["format"] == "paygate-customer-export/v1"
    assert set(document) == {
        "format",
        "exportedAt",
        "customer",
        "testClock",
        "pspCustomers",
        "paymentMethods",
        "payments",
        "subscriptions",
        "invoices",
        "pendingInvoiceItems",
        "couponsRedeemed",
    }
    customer = document["customer"]
    assert customer["id"] == world.customer
    assert (customer["email"], customer["name"], customer["metadata"]) == (
        person.email,
        person.name,
        person.metadata,
    )
    assert document["testClock"]["id"] == world.clock
    assert document["exportedAt"] == "2026-01-15T12:00:00+00:00"  # the app's clock
    assert customer["createdAt"].endswith("+00:00")
    assert {m["id"] for m in document["paymentMethods"]} == set(world.methods.values())
    payments = {p["id"]: p for p in document["payments"]}
    assert set(world.payments.values()) <= set(payments)
    sandbox = payments[world.payments["sandbox"]]
    assert sandbox["amount"] == {"amount": "40.00", "amountMinor": "4000", "currency": "USD"}
    assert sandbox["amountRefunded"]["amount"] == "5.00"
    assert [r["amount"]["amount"] for r in sandbox["refunds"]] == ["5.00"]
    types = {e["type"] for e in sandbox["events"]}
    assert {"payment.created", "payment.succeeded", "refund.created"} <= types
    [subscription] = document["subscriptions"]
    assert subscription["id"] == world.subscription
    assert subscription["items"][0]["unitAmount"]["amount"] == "29.00"
    assert [c["code"] for c in document["couponsRedeemed"]] == ["WELCOME10"]
    first = document["invoices"][0]
    assert first["number"].startswith("PG-")
    assert first["discount"]["amount"] == "2.90" and first["total"]["amount"] == "26.10"
    assert first["lines"] and first["subscriptionId"] == world.subscription
    # The export changes nothing
    snapshot = await fingerprint(api)
    await export(api, world.customer)
    assert await fingerprint(api) == snapshot


@pytest.mark.parametrize("mutation", ["eraseCustomer", "exportCustomerData"])
async def test_bad_ids_are_typed_user_errors_and_change_nothing(
    api: Api, stripe: StripeFake, paypal: PayPalFake, mutation: str
) -> None:
    customer = (
        await ok(
            api,
            'mutation { createCustomer(input: {email: "x@example.com"}) '
            "{ customer { id } userErrors { code } } }",
        )
    )["customer"]["id"]
    method = await attach(api, customer, "tok_visa", psp="SANDBOX", default=False)
    payment = await paid_payment(api, customer, "3.00", paymentMethodId=method)
    snapshot = await fingerprint(api)
    cases = {
        "not-a-global-id": "INVALID_ID",
        payment: "WRONG_ID_TYPE",  # a payment's ID, not a customer's
        str(encode_gid("Customer", uuid.uuid4())): "NOT_FOUND",
    }
    input_type = "EraseCustomerInput" if mutation == "eraseCustomer" else "ExportCustomerDataInput"
    for given, code in cases.items():
        payload = await gql(
            api,
            f"mutation($i: {input_type}!) {{ {mutation}(input: $i) "
            "{ userErrors { field code message } } }",
            i={"customerId": given},
        )
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            (["input", "customerId"], code)
        ], payload
    assert await fingerprint(api) == snapshot
    assert deletes(stripe) == [] and deletes(paypal) == []


async def test_an_idempotency_key_replays_and_refuses_another_customer(
    api: Api, stripe: StripeFake, paypal: PayPalFake
) -> None:
    ids = [
        (
            await ok(
                api,
                'mutation { createCustomer(input: {name: "Someone Else"}) '
                "{ customer { id } userErrors { code } } }",
            )
        )["customer"]["id"]
        for _ in range(2)
    ]
    erasure_key = key()
    first = await erase(api, ids[0], idempotencyKey=erasure_key)
    assert first["userErrors"] == []
    assert await erase(api, ids[0], idempotencyKey=erasure_key) == first
    reused = await erase(api, ids[1], idempotencyKey=erasure_key)
    assert [e["code"] for e in reused["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert (await export(api, ids[1]))["customer"]["erasedAt"] is None


@pytest.mark.parametrize("mutation", ["createPayment", "createSubscription", "attachPaymentMethod"])
async def test_an_erasure_committing_mid_request_refuses_its_write(
    api: Api,
    stripe: StripeFake,
    paypal: PayPalFake,
    monkeypatch: pytest.MonkeyPatch,
    mutation: str,
) -> None:
    """The erasure commits after a request checked the customer and before it writes: the
    check inside the writing transaction refuses it, and nothing of it is kept."""
    customer = (
        await ok(
            api,
            'mutation { createCustomer(input: {name: "Racer"}) { customer { id } '
            "userErrors { code } } }",
        )
    )["customer"]["id"]
    await attach(api, customer, "tok_visa", psp="SANDBOX", default=False)
    price = await monthly_price(api)
    runtime = api.runtime

    async def erase_now() -> None:
        async with runtime.sessions() as session:
            await erasure.erase_customer(
                session,
                psps=runtime.psps,
                clock=runtime.clock,
                principal="support",
                customer_id=decode_gid(customer)[1],
            )

    claim, attach_at_psp = idempotency.claim, runtime.psps.sandbox.attach_payment_method

    async def claim_after_erasure(session: Any, **arguments: Any) -> Any:
        await erase_now()
        return await claim(session, **arguments)

    async def attach_after_erasure(request: Any) -> Any:
        details = await attach_at_psp(request)
        await erase_now()
        return details

    monkeypatch.setattr(idempotency, "claim", claim_after_erasure)
    monkeypatch.setattr(runtime.psps.sandbox, "attach_payment_method", attach_after_erasure)
    documents = {
        "createPayment": (
            "mutation($i: CreatePaymentInput!) { createPayment(input: $i) "
            "{ payment { id } userErrors { field code } } }",
            {
                "idempotencyKey": key(),
                "customerId": customer,
                "amount": {"amount": "1.00", "currency": "USD"},
            },
        ),
        "createSubscription": (
            "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
            "{ subscription { id } userErrors { field code } } }",
            {"idempotencyKey": key(), "customerId": customer, "items": [{"priceId": price}]},
        ),
        "attachPaymentMethod": (
            "mutation($i: AttachPaymentMethodInput!) { attachPaymentMethod(input: $i) "
            "{ paymentMethod { id } userErrors { field code } } }",
            {"customerId": customer, "token": "tok_mastercard"},
        ),
    }
    document, fields = documents[mutation]
    payload = await gql(api, document, i=fields)
    assert [e["code"] for e in payload["userErrors"]] == ["CUSTOMER_ERASED"], payload
    after = await export(api, customer)
    assert after["customer"]["erasedAt"] is not None
    assert (after["payments"], after["subscriptions"]) == ([], [])
    assert [m["last4"] for m in after["paymentMethods"]] == ["4242"]
    async with api.engine.connect() as connection:
        keys = await connection.scalar(sa.text("SELECT count(*) FROM idempotency_keys"))
    assert keys == 0  # the refused request kept no key


async def test_erasure_and_export_work_in_the_embedded_sqlite_mode(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'e.db'}"))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
    ):

        async def run(query: str, **variables: Any) -> dict[str, Any]:
            body = await http.post("/graphql", json={"query": query, "variables": variables})
            result: dict[str, Any] = body.json()
            assert "errors" not in result, result
            return result["data"]

        person = Person()
        customer = (
            await run(
                "mutation($e: String!, $n: String!, $m: Metadata!) { createCustomer(input: "
                "{email: $e, name: $n, metadata: $m}) { customer { id } } }",
                e=person.email,
                n=person.name,
                m=person.metadata,
            )
        )["createCustomer"]["customer"]["id"]
        await run(
            "mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, token: "
            '"tok_visa"}) { userErrors { code } } }',
            c=customer,
        )
        await run(
            "mutation($c: ID!, $k: String!, $d: String!) { createPayment(input: "
            '{idempotencyKey: $k, customerId: $c, amount: {amount: "5.00", currency: "EUR"}, '
            "description: $d}) { userErrors { code } } }",
            c=customer,
            k=f"order-{person.email}",
            d=f"for {person.name}",
        )
        erased = await run(
            "mutation($c: ID!) { eraseCustomer(input: {customerId: $c}) "
            "{ customer { email erasedAt } pendingPspDeletions userErrors { code } } }",
            c=customer,
        )
        assert erased["eraseCustomer"]["pendingPspDeletions"] == []
        assert erased["eraseCustomer"]["customer"]["email"] is None
        exported = await run(
            "mutation($c: ID!) { exportCustomerData(input: {customerId: $c}) { data } }",
            c=customer,
        )
    document = exported["exportCustomerData"]["data"]
    assert document["payments"][0]["amount"]["amount"] == "5.00"
    rows = _live_rows(tmp_path / "e.db")
    for value in (person.email, person.name, *person.metadata.values()):
        assert value.encode() not in rows
    assert b"erased-" in rows  # the idempotency key that held her email


def _live_rows(path: Path) -> bytes:
    """Every value of every row of the SQLite file (freed pages may keep old bytes)."""
    with sqlite3.connect(path) as connection:
        tables = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return repr([list(connection.execute(f'SELECT * FROM "{t}"')) for t in tables]).encode()
