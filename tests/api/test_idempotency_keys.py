"""Idempotency keys on every mutation: the schema takes one everywhere (required where money
moves or a billable record is made), a repeat replays the first payload, another input
under the same key changes nothing, concurrent duplicates make one effect (PostgreSQL and
the embedded SQLite), and a secret shown once is never stored for a replay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from graphql import GraphQLInputObjectType, get_named_type
from pydantic import SecretStr
from strawberry.types.base import StrawberryList, StrawberryOptional

from app.domain.clock import FrozenClock
from app.graphql.schema import schema
from app.main import create_app
from app.resolvers.keyed import _REREAD, MODES, RERUN, SERVICE_KEYED
from app.schema.idempotency import SECRET_MARK
from app.services import psp_calls
from app.services.billing import invoice_actions
from app.settings import AuthSettings, Settings
from tests.conftest import Api, StatementLog, make_settings
from tests.factories import (
    advance,
    clock_and_customer,
    key,
    monthly_price,
    new_customer,
    subscribe,
    subscription,
)

# Mutations that move money or create a billable record: their key is `String!`.
REQUIRED = {
    "createPayment",
    "confirmPayment",
    "capturePayment",
    "cancelPayment",
    "createRefund",
    "createSubscription",
    "updateSubscription",
    "payInvoice",
    "createInvoiceItem",
    "createInvoice",
    "finalizeInvoice",
    "resumeSubscription",
    "createCreditNote",  # refunds, credits a balance, takes a number
}
# Mutations that cannot take a key, each with its reason. None.
WITHOUT_KEY: dict[str, str] = {
    "recordUsage": "each usage event carries its own idempotency key",
}

JWT_SECRET = "test-only-secret-of-at-least-32-bytes!"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, auth=AuthSettings(jwt_secret=SecretStr(JWT_SECRET)))


@pytest.fixture
async def sqlite_api(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    """The embedded default: a SQLite file, migrated on start."""
    app = create_app(
        make_settings(f"sqlite+aiosqlite:///{tmp_path / 'paygate.db'}", migrate_on_start=True),
        clock=clock,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield Api(http=http, sql=StatementLog(), app=app)


@pytest.fixture(params=["postgresql", "sqlite"])
def any_api(request: pytest.FixtureRequest) -> Api:
    name = "api" if request.param == "postgresql" else "sqlite_api"
    found: Api = request.getfixturevalue(name)
    return found


async def rows(api: Api, table: str) -> int:
    async with api.engine.connect() as connection:
        return int(await connection.scalar(sa.text(f"SELECT count(*) FROM {table}")))


async def stored_keys(api: Api) -> str:
    """Everything the idempotency key table holds, as text."""
    async with api.engine.connect() as connection:
        found = await connection.execute(sa.text("SELECT * FROM idempotency_keys"))
        return repr([tuple(row) for row in found])


ITEM = """
mutation($i: CreateInvoiceItemInput!) {
  createInvoiceItem(input: $i) {
    invoiceItem { description quantity amount { amount currency } proration }
    userErrors { field code message }
  }
}
"""
INVOICE = """
mutation($i: CreateInvoiceInput!) {
  createInvoice(input: $i) {
    invoice { id status number total { amount } lines { description } }
    userErrors { field code message }
  }
}
"""
FINALIZE = """
mutation($i: FinalizeInvoiceInput!) {
  finalizeInvoice(input: $i) { invoice { id status number } userErrors { field code } }
}
"""
CUSTOMER = """
mutation($i: CreateCustomerInput!) {
  createCustomer(input: $i) { customer { id name email } userErrors { field code message } }
}
"""


def item_input(customer: str, idempotency_key: str, amount: str = "49.99") -> dict[str, Any]:
    return {
        "idempotencyKey": idempotency_key,
        "customerId": customer,
        "description": "Setup",
        "amount": {"amount": amount, "currency": "EUR"},
    }


# -- the schema --------------------------------------------------------------------------


def test_every_mutation_takes_an_idempotency_key() -> None:
    mutations = schema._schema.mutation_type
    assert mutations is not None
    missing, wrong = [], []
    for name, field in mutations.fields.items():
        if name in WITHOUT_KEY:
            continue
        argument = field.args.get("input")
        given = None if argument is None else get_named_type(argument.type)
        key_field = (
            given.fields.get("idempotencyKey")
            if isinstance(given, GraphQLInputObjectType)
            else None
        )
        if key_field is None:
            missing.append(name)
            continue
        expected = "String!" if name in REQUIRED else "String"
        if str(key_field.type) != expected:
            wrong.append(f"{name}: {key_field.type}, expected {expected}")
    assert missing == []
    assert wrong == []
    assert set(REQUIRED) | set(WITHOUT_KEY) <= set(mutations.fields)


def test_every_mutation_says_how_it_runs_under_its_key() -> None:
    mutations = schema._schema.mutation_type
    assert mutations is not None
    assert set(MODES) | SERVICE_KEYED == set(mutations.fields)
    assert not set(MODES) & SERVICE_KEYED


def _inner(type_: Any) -> Any:
    while isinstance(type_, StrawberryOptional | StrawberryList):
        type_ = type_.of_type
    return type_


def test_every_payload_can_be_replayed_and_its_secrets_are_marked() -> None:
    """What a keyed mutation stores is made from its payload: each field must be an object
    that can be read again, a plain value, user errors, or a secret (never stored). A field
    that looks like a secret must be marked as one."""
    mutations = schema._schema.mutation_type
    assert mutations is not None
    problems = []
    for name, field in mutations.fields.items():
        if name in SERVICE_KEYED or MODES[name] is RERUN:
            continue  # their own services store ids; a rerun stores nothing
        payload = schema.get_type_by_name(get_named_type(field.type).name)
        for payload_field in payload.fields:  # type: ignore[union-attr]
            label = f"{name}.{payload_field.python_name}"
            secretish = any(w in payload_field.python_name for w in ("secret", "token"))
            marked = bool(payload_field.metadata.get(SECRET_MARK))
            if secretish and not marked:
                problems.append(f"{label} looks like a secret but is not marked")
            if marked or payload_field.python_name == "user_errors":
                continue
            inner = _inner(payload_field.type)
            if not (
                inner in (datetime, str, int, bool) or getattr(inner, "__name__", "") in _REREAD
            ):
                problems.append(f"{label}: a {inner} cannot be stored for a replay")
    assert problems == []


async def test_a_required_key_cannot_be_left_out(api: Api) -> None:
    customer = await new_customer(api)
    given = item_input(customer, key())
    del given["idempotencyKey"]
    body = await api.graphql(ITEM, {"i": given})
    assert "idempotencyKey" in body["errors"][0]["message"]
    assert await rows(api, "invoice_lines") == 0


# -- replays -----------------------------------------------------------------------------


async def test_a_retried_invoice_item_adds_the_money_once(api: Api) -> None:
    customer = await new_customer(api)
    same = key()
    first = (await api.data(ITEM, {"i": item_input(customer, same)}))["createInvoiceItem"]
    again = (await api.data(ITEM, {"i": item_input(customer, same)}))["createInvoiceItem"]
    assert first["userErrors"] == []
    assert again == first
    assert await rows(api, "invoice_lines") == 1

    invoice_key = key()
    made = {"i": {"idempotencyKey": invoice_key, "customerId": customer, "currency": "EUR"}}
    draft = (await api.data(INVOICE, made))["createInvoice"]
    assert draft["invoice"]["total"] == {"amount": "49.99"}  # the item, once
    assert (await api.data(INVOICE, made))["createInvoice"] == draft
    assert await rows(api, "invoices") == 1

    finalize = {"i": {"idempotencyKey": key(), "invoiceId": draft["invoice"]["id"]}}
    opened = (await api.data(FINALIZE, finalize))["finalizeInvoice"]
    assert opened["invoice"]["status"] == "OPEN"
    # A replay, not an INVALID_STATE for finalizing an open invoice; the same number.
    assert (await api.data(FINALIZE, finalize))["finalizeInvoice"] == opened


async def test_replays_of_other_mutations_are_the_same_payload(api: Api) -> None:
    documents = {
        "createProduct": (
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id name "
            "features active createdAt } userErrors { code } } }",
            {"name": "Team", "features": ["exports"]},
        ),
        "createCoupon": (
            "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id code "
            "percentOff duration } userErrors { code } } }",
            {"code": "HALF", "percentOff": "50", "duration": "ONCE"},
        ),
        "createTaxRate": (
            "mutation($i: CreateTaxRateInput!) { createTaxRate(input: $i) { taxRate { id "
            "displayName percentage } userErrors { code } } }",
            {"displayName": "VAT", "percentage": "20", "inclusive": False, "country": "FR"},
        ),
        "createTestClock": (
            "mutation($i: CreateTestClockInput!) { createTestClock(input: $i) { testClock "
            "{ id name frozenTime } userErrors { code } } }",
            {"name": "t", "frozenTime": "2026-01-01T00:00:00Z"},
        ),
        "createCustomer": (CUSTOMER, {"name": "Ada", "email": "ada@example.com"}),
    }
    for mutation, (document, given) in documents.items():
        variables = {"i": {"idempotencyKey": key(), **given}}
        first = (await api.data(document, variables))[mutation]
        assert first["userErrors"] == [], (mutation, first)
        assert (await api.data(document, variables))[mutation] == first, mutation
    for table in ("products", "coupons", "tax_rates", "test_clocks", "customers"):
        assert await rows(api, table) == 1, table

    customer = await new_customer(api)  # and one that calls the PSP (run in phases)
    attach = (
        "mutation($i: AttachPaymentMethodInput!) { attachPaymentMethod(input: $i) "
        "{ paymentMethod { id last4 isDefault } userErrors { code } } }"
    )
    variables = {"i": {"idempotencyKey": key(), "customerId": customer, "token": "tok_visa"}}
    attached = (await api.data(attach, variables))["attachPaymentMethod"]
    assert attached["paymentMethod"]["last4"] == "4242"
    assert (await api.data(attach, variables))["attachPaymentMethod"] == attached
    assert await rows(api, "payment_methods") == 1


async def test_the_same_key_with_another_input_changes_nothing(api: Api) -> None:
    customer = await new_customer(api)
    same = key()
    await api.data(ITEM, {"i": item_input(customer, same, "10.00")})
    other = await api.data(ITEM, {"i": item_input(customer, same, "11.00")})
    assert other["createInvoiceItem"] == {
        "invoiceItem": None,
        "userErrors": [
            {
                "field": ["input", "idempotencyKey"],
                "code": "IDEMPOTENCY_KEY_REUSED",
                "message": other["createInvoiceItem"]["userErrors"][0]["message"],
            }
        ],
    }
    elsewhere = await api.data(CUSTOMER, {"i": {"idempotencyKey": same, "name": "X"}})
    assert [e["code"] for e in elsewhere["createCustomer"]["userErrors"]] == [
        "IDEMPOTENCY_KEY_REUSED"
    ]
    assert await rows(api, "invoice_lines") == 1
    assert await rows(api, "customers") == 1


async def test_a_refused_input_does_not_burn_the_key(api: Api) -> None:
    document = (
        "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { code } "
        "userErrors { code } } }"
    )
    same = key()
    refused = await api.data(
        document, {"i": {"idempotencyKey": same, "code": "BIG", "percentOff": "150"}}
    )
    assert refused["createCoupon"]["coupon"] is None
    assert await rows(api, "idempotency_keys") == 0
    fixed = await api.data(
        document, {"i": {"idempotencyKey": same, "code": "BIG", "percentOff": "15"}}
    )
    assert fixed["createCoupon"] == {"coupon": {"code": "BIG"}, "userErrors": []}


async def test_a_crash_after_the_effect_keeps_neither(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key, the effect and the stored result are one transaction: a request that dies
    after its effect leaves nothing, and its retry runs once."""
    customer = await new_customer(api)
    original = invoice_actions.create_invoice_item

    async def crash_after_adding(session: Any, **arguments: Any) -> Any:
        await original(session, **arguments)
        raise RuntimeError("the process died after adding the item")

    monkeypatch.setattr(invoice_actions, "create_invoice_item", crash_after_adding)
    same = key()
    crashed = await api.graphql(ITEM, {"i": item_input(customer, same)})
    assert crashed["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"
    assert await rows(api, "invoice_lines") == 0
    assert await rows(api, "idempotency_keys") == 0

    monkeypatch.setattr(invoice_actions, "create_invoice_item", original)
    retried = (await api.data(ITEM, {"i": item_input(customer, same)}))["createInvoiceItem"]
    assert retried["userErrors"] == []
    assert await rows(api, "invoice_lines") == 1


async def test_resume_bills_once_under_a_key(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    sub = (await subscribe(api, customer, await monthly_price(api, "15.00")))["subscription"]
    action = (
        "mutation($i: {kind}!) {{ {name}(input: $i) {{ subscription {{ id status "
        "currentPeriodStart }} userErrors {{ code }} }} }}"
    )
    pause = action.format(kind="SubscriptionActionInput", name="pauseSubscription")
    await api.data(pause, {"i": {"subscriptionId": sub["id"]}})
    await advance(api, clock, "2026-04-10T00:00:00Z")  # paused: nothing billed
    resume = action.format(kind="ResumeSubscriptionInput", name="resumeSubscription")
    variables = {"i": {"subscriptionId": sub["id"], "idempotencyKey": key()}}
    answers = await asyncio.gather(*(api.data(resume, variables) for _ in range(5)))
    payloads = [a["resumeSubscription"] for a in answers]
    assert payloads[0]["subscription"]["status"] == "ACTIVE"
    assert all(p == payloads[0] for p in payloads)  # one resume, replayed four times
    later = (await api.data(resume, variables))["resumeSubscription"]
    assert later == payloads[0]  # not INVALID_STATE: a replay
    invoices = (await subscription(api, sub["id"]))["invoices"]
    assert [i["status"] for i in invoices] == ["PAID", "PAID"]  # the first, and one resume
    assert await rows(api, "payments") == 2


# -- concurrent duplicates, on both databases --------------------------------------------


async def test_concurrent_duplicates_make_one_effect(any_api: Api) -> None:
    api = any_api
    customer = await new_customer(api)
    variables = {"i": item_input(customer, key())}
    answers = await asyncio.gather(*(api.data(ITEM, variables) for _ in range(8)))
    payloads = [a["createInvoiceItem"] for a in answers]
    assert payloads[0]["userErrors"] == []
    assert all(p == payloads[0] for p in payloads)
    assert await rows(api, "invoice_lines") == 1

    made = {"i": {"idempotencyKey": key(), "name": "Racer", "email": "racer@example.com"}}
    answers = await asyncio.gather(*(api.data(CUSTOMER, made) for _ in range(8)))
    assert len({a["createCustomer"]["customer"]["id"] for a in answers}) == 1
    assert all(a["createCustomer"]["userErrors"] == [] for a in answers)
    assert await rows(api, "customers") == 2
    assert await rows(api, "idempotency_keys") == 2


# -- secrets shown once ------------------------------------------------------------------


async def test_an_api_key_secret_is_shown_once_and_never_stored(api: Api) -> None:
    document = (
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id name "
        "prefix } secret userErrors { field code message } } }"
    )
    variables = {"i": {"idempotencyKey": key(), "name": "server", "role": "ADMIN"}}
    first = (await api.data(document, variables))["createApiKey"]
    secret = first["secret"]
    assert secret.startswith("pgk_") and first["userErrors"] == []
    again = (await api.data(document, variables))["createApiKey"]
    assert again["apiKey"] == first["apiKey"]
    assert again["secret"] is None
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [
        (["input", "idempotencyKey"], "SECRET_NOT_REPLAYED")
    ]
    assert await rows(api, "api_keys") == 1
    stored = await stored_keys(api)
    assert "createApiKey" in stored
    assert secret not in stored and secret.rsplit("_", 1)[-1] not in stored


async def test_a_customer_token_is_shown_once_and_never_stored(api: Api) -> None:
    customer = await new_customer(api)
    document = (
        "mutation($i: CreateCustomerSessionInput!) { createCustomerSession(input: $i) "
        "{ token expiresAt userErrors { field code } } }"
    )
    variables = {"i": {"idempotencyKey": key(), "customerId": customer}}
    first = (await api.data(document, variables))["createCustomerSession"]
    token = first["token"]
    assert token and first["userErrors"] == []
    again = (await api.data(document, variables))["createCustomerSession"]
    assert again == {
        "token": None,
        "expiresAt": first["expiresAt"],
        "userErrors": [{"field": ["input", "idempotencyKey"], "code": "SECRET_NOT_REPLAYED"}],
    }
    stored = await stored_keys(api)
    assert "createCustomerSession" in stored
    assert token not in stored and token.split(".")[-1] not in stored


async def test_a_setup_is_answered_again_by_the_psp_not_from_storage(api: Api) -> None:
    customer = await new_customer(api)
    document = (
        "mutation($i: StartPaymentMethodSetupInput!) { startPaymentMethodSetup(input: $i) "
        "{ setup { psp kind reference clientSecret token } userErrors { code } } }"
    )
    variables = {"i": {"idempotencyKey": key(), "customerId": customer}}
    first = (await api.data(document, variables))["startPaymentMethodSetup"]
    assert first["userErrors"] == []
    assert (await api.data(document, variables))["startPaymentMethodSetup"] == first
    fresh = {"i": {"customerId": customer}}  # without a key: a new set-up each time
    assert (await api.data(document, fresh))["startPaymentMethodSetup"] != first
    assert first["setup"]["reference"] not in await stored_keys(api)


async def test_an_export_is_read_afresh_and_never_stored(api: Api) -> None:
    customer = await new_customer(api, email="private.person@example.com")
    document = (
        "mutation($i: ExportCustomerDataInput!) { exportCustomerData(input: $i) "
        "{ data userErrors { code } } }"
    )
    variables = {"i": {"idempotencyKey": key(), "customerId": customer}}
    first = (await api.data(document, variables))["exportCustomerData"]
    again = (await api.data(document, variables))["exportCustomerData"]
    assert again["data"]["customer"] == first["data"]["customer"]
    assert "private.person@example.com" in str(first["data"])
    assert "private.person" not in await stored_keys(api)


def test_an_atomic_operation_cannot_reach_a_psp(api: Api) -> None:
    with psp_calls.forbidden("createProduct"), pytest.raises(RuntimeError, match="PHASED"):
        psp_calls.gateway(api.runtime.psps, None)
    assert psp_calls.gateway(api.runtime.psps, None) is not None
