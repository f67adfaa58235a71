"""What each role may do, through the API: the README's role table, asserted."""

from __future__ import annotations

import uuid
from typing import Any

from tests.factories import customer_with, monthly_price, pay
from tests.security.conftest import Secure

REFUND = """
mutation($p: ID!, $amount: MoneyInput) {
  createRefund(input: {paymentId: $p, idempotencyKey: "%s", amount: $amount}) {
    refund { id amount { amount } } payment { amountRefunded { amount } }
    userErrors { field code message }
  }
}
"""
OPEN_INVOICE_STEPS = (
    "mutation($c: ID!, $k: String!) { createInvoiceItem(input: {customerId: $c, "
    'idempotencyKey: $k, description: "Setup", amount: {amount: "49.99", currency: "EUR"}}) '
    "{ userErrors { code } } }",
    "mutation($c: ID!, $k: String!) { createInvoice(input: {customerId: $c, idempotencyKey: $k, "
    'currency: "EUR"}) { invoice { id } userErrors { code } } }',
)
VOID = (
    "mutation($i: ID!) { voidInvoice(input: {invoiceId: $i}) "
    "{ invoice { status } userErrors { code } } }"
)


def code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors")
    return errors[0]["extensions"]["code"] if errors else None


async def setup(secure: Secure) -> dict[str, str]:
    admin = await secure.key("admin")
    secure.api.http.headers["authorization"] = f"Bearer {admin}"
    customer = await customer_with(secure.api)
    payment = (await pay(secure.api, customer, "400.00"))["payment"]["id"]
    await secure.api.data(OPEN_INVOICE_STEPS[0], {"c": customer, "k": str(uuid.uuid4())})
    invoice = (
        await secure.api.data(OPEN_INVOICE_STEPS[1], {"c": customer, "k": str(uuid.uuid4())})
    )["createInvoice"]
    invoice_id = invoice["invoice"]["id"]
    await secure.api.data(
        "mutation($i: ID!, $k: String!) { finalizeInvoice(input: {invoiceId: $i, "
        "idempotencyKey: $k}) { userErrors { code } } }",
        {"i": invoice_id, "k": str(uuid.uuid4())},
    )
    del secure.api.http.headers["authorization"]
    keys = {role: await secure.key(role) for role in ("support", "finance", "growth", "readonly")}
    return {"admin": admin, **keys, "customer": customer, "payment": payment, "invoice": invoice_id}


async def test_support_refunds_up_to_its_limit_and_no_more(secure: Secure) -> None:
    world = await setup(secure)
    support = world["support"]

    def refund(amount: str | None) -> tuple[str, dict[str, Any]]:
        money = None if amount is None else {"amount": amount, "currency": "USD"}
        return REFUND % uuid.uuid4(), {"p": world["payment"], "amount": money}

    over = (await secure.data(support, *refund("250.01")))["createRefund"]
    assert [e["code"] for e in over["userErrors"]] == ["REFUND_LIMIT_EXCEEDED"]
    assert "250 USD" in over["userErrors"][0]["message"] and over["refund"] is None
    everything = (await secure.data(support, *refund(None)))["createRefund"]  # 400.00 left
    assert [e["code"] for e in everything["userErrors"]] == ["REFUND_LIMIT_EXCEEDED"]
    within = (await secure.data(support, *refund("250.00")))["createRefund"]
    assert within["userErrors"] == [] and within["refund"]["amount"] == {"amount": "250.00"}
    # The rest (150.00) is now within the limit; the admin has no limit at all.
    rest = (await secure.data(support, *refund(None)))["createRefund"]
    assert rest["payment"]["amountRefunded"] == {"amount": "400.00"}
    for role in ("finance", "growth", "readonly"):
        assert code(await secure.body(world[role], *refund("1.00"))) == "FORBIDDEN"


async def test_only_finance_and_admin_void_invoices(secure: Secure) -> None:
    world = await setup(secure)
    for role in ("support", "growth", "readonly"):
        body = await secure.body(world[role], VOID, {"i": world["invoice"]})
        assert code(body) == "FORBIDDEN", role
        assert body["errors"][0]["extensions"]["fields"] == ["Mutation.voidInvoice"]
    token = secure.token(world["customer"])
    assert code(await secure.body(token, VOID, {"i": world["invoice"]})) == "FORBIDDEN"
    voided = await secure.data(world["finance"], VOID, {"i": world["invoice"]})
    assert voided["voidInvoice"]["invoice"]["status"] == "VOID"


async def test_growth_works_on_aggregates_not_personal_data(secure: Secure) -> None:
    world = await setup(secure)
    growth = world["growth"]
    listed = await secure.data(growth, "{ customers { totalCount edges { node { id country } } } }")
    assert listed["customers"]["totalCount"] == 1
    body = await secure.body(growth, "{ customers { edges { node { email name } } } }")
    assert code(body) == "FORBIDDEN"
    assert body["errors"][0]["extensions"]["fields"] == ["Customer.email", "Customer.name"]
    coupon = await secure.data(
        growth,
        'mutation { createCoupon(input: {code: "GROW10", percentOff: "10", duration: ONCE}) '
        "{ coupon { code } userErrors { code } } }",
    )
    assert coupon["createCoupon"]["coupon"] == {"code": "GROW10"}
    product = 'mutation { createProduct(input: {name: "X"}) { product { id } } }'
    assert code(await secure.body(growth, product)) == "FORBIDDEN"


async def test_readonly_reads_everything_and_changes_nothing(secure: Secure) -> None:
    world = await setup(secure)
    readonly = world["readonly"]
    seen = await secure.data(
        readonly,
        "query($id: ID!) { customer(id: $id) "
        "{ email payments { totalCount } invoices { status } } }",
        {"id": world["customer"]},
    )
    assert seen["customer"]["payments"]["totalCount"] == 1
    for document in (
        'mutation { createCustomer(input: {name: "X"}) { customer { id } } }',
        'mutation { createProduct(input: {name: "X"}) { product { id } } }',
        'mutation { createApiKey(input: {name: "X", role: ADMIN}) { secret } }',
    ):
        assert code(await secure.body(readonly, document)) == "FORBIDDEN"
    assert code(await secure.body(readonly, "{ auditEvents { totalCount } }")) == "FORBIDDEN"


async def test_customers_serve_themselves(secure: Secure) -> None:
    world = await setup(secure)
    admin = world["admin"]
    secure.api.http.headers["authorization"] = f"Bearer {admin}"
    price = await monthly_price(secure.api)
    del secure.api.http.headers["authorization"]
    token = secure.token(world["customer"])
    subscribed = await secure.data(
        token,
        "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
        "{ subscription { id status } userErrors { code } } }",
        {
            "i": {
                "idempotencyKey": str(uuid.uuid4()),
                "customerId": world["customer"],
                "items": [{"priceId": price, "quantity": 1}],
            }
        },
    )
    subscription = subscribed["createSubscription"]["subscription"]
    assert subscription["status"] == "ACTIVE"
    canceled = await secure.data(
        token,
        "mutation($s: ID!) { cancelSubscription(input: {subscriptionId: $s}) "
        "{ subscription { status } userErrors { code } } }",
        {"s": subscription["id"]},
    )
    assert canceled["cancelSubscription"]["subscription"]["status"] == "CANCELED"
    for document in (
        'mutation { createCustomer(input: {name: "X"}) { customer { id } } }',
        'mutation($p: ID!) { createRefund(input: {paymentId: $p, idempotencyKey: "r"}) '
        "{ userErrors { code } } }",
    ):
        body = await secure.body(
            token, document, {"p": world["payment"]} if "$p" in document else None
        )
        assert code(body) == "FORBIDDEN"
