"""Real objects for the fuzzer to hit: one of each kind the API has, made through the API,
and their global IDs and other strings (coupon code, lookup key, cursors) collected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.conftest import Api
from tests.factories import key


@dataclass
class Seeded:
    """What the fuzzer may pick instead of a random value."""

    ids: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    # Each seeding document with the data it answered: schemathesis's resource pool reads
    # the IDs of each type from them.
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def add(self, *ids: str | None) -> None:
        self.ids.extend(i for i in ids if i and i not in self.ids)


async def _one(
    api: Api, seeded: Seeded, document: str, variables: dict[str, Any] | None = None
) -> Any:
    data = await api.data(document, variables)
    seeded.responses.append((document, data))
    (payload,) = data.values()
    if isinstance(payload, dict) and payload.get("userErrors"):
        raise AssertionError(f"seeding failed: {payload['userErrors']}")
    return payload


async def seed(api: Api) -> Seeded:
    """A customer on a test clock with a card, a product with a monthly and a one-off price, a
    coupon, a tax rate, a subscription (its paid first invoice), a draft manual invoice, a
    captured payment with a refund, a disputed payment and an authorised one."""
    seeded = Seeded()
    clock = (
        await _one(
            api,
            seeded,
            'mutation { createTestClock(input: {frozenTime: "2026-01-15T12:00:00Z", name: "f"}) '
            "{ testClock { id } userErrors { code } } }",
        )
    )["testClock"]["id"]
    customer = (
        await _one(
            api,
            seeded,
            'mutation($c: ID!) { createCustomer(input: {name: "Fuzz", email: "f@example.com", '
            'metadata: {crm: "A-1"}, testClockId: $c}) { customer { id } userErrors { code } } }',
            {"c": clock},
        )
    )["customer"]["id"]
    plain = (
        await _one(
            api,
            seeded,
            'mutation { createCustomer(input: {name: "Plain"}) { customer { id } '
            "userErrors { code } } }",
        )
    )["customer"]["id"]
    methods = []
    for owner in (customer, plain):
        attached = await _one(
            api,
            seeded,
            "mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, token: "
            '"tok_visa"}) { paymentMethod { id } userErrors { code } } }',
            {"c": owner},
        )
        methods.append(attached["paymentMethod"]["id"])
    product = (
        await _one(
            api,
            seeded,
            'mutation { createProduct(input: {name: "Pro", features: ["exports"]}) '
            "{ product { id } userErrors { code } } }",
        )
    )["product"]["id"]
    monthly = (
        await _one(
            api,
            seeded,
            "mutation($p: ID!) { createPrice(input: {productId: $p, unitAmount: "
            '{amount: "29.00", currency: "USD"}, recurring: {interval: MONTH}, '
            'lookupKey: "pro_monthly"}) { price { id } userErrors { code } } }',
            {"p": product},
        )
    )["price"]["id"]
    yearly = (
        await _one(
            api,
            seeded,
            "mutation($p: ID!) { createPrice(input: {productId: $p, unitAmount: "
            '{amount: "290.00", currency: "USD"}, recurring: {interval: YEAR}}) '
            "{ price { id } userErrors { code } } }",
            {"p": product},
        )
    )["price"]["id"]
    one_off = (
        await _one(
            api,
            seeded,
            "mutation($p: ID!) { createPrice(input: {productId: $p, unitAmount: "
            '{amount: "5", currency: "JPY"}}) { price { id } userErrors { code } } }',
            {"p": product},
        )
    )["price"]["id"]
    coupon = (
        await _one(
            api,
            seeded,
            'mutation { createCoupon(input: {code: "FUZZ10", percentOff: "10", '
            "duration: FOREVER}) { coupon { id code } userErrors { code } } }",
        )
    )["coupon"]
    tax = (
        await _one(
            api,
            seeded,
            'mutation { createTaxRate(input: {displayName: "VAT", percentage: "19", '
            'inclusive: false, country: "DE"}) { taxRate { id } userErrors { code } } }',
        )
    )["taxRate"]["id"]
    subscription = (
        await _one(
            api,
            seeded,
            "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
            "{ subscription { id latestInvoice { id } } userErrors { code } } }",
            {
                "i": {
                    "idempotencyKey": key(),
                    "customerId": customer,
                    "items": [{"priceId": monthly, "quantity": 2}],
                    "couponCode": "FUZZ10",
                }
            },
        )
    )["subscription"]
    await _one(
        api,
        seeded,
        "mutation($c: ID!, $k: String!) { createInvoiceItem(input: {customerId: $c, "
        'idempotencyKey: $k, amount: {amount: "7.50", currency: "USD"}, description: "Setup"}) '
        "{ userErrors { code } } }",
        {"c": plain, "k": key()},
    )
    draft = (
        await _one(
            api,
            seeded,
            "mutation($c: ID!, $k: String!) { createInvoice(input: {customerId: $c, "
            'idempotencyKey: $k, currency: "USD"}) { invoice { id } userErrors { code } } }',
            {"c": plain, "k": key()},
        )
    )["invoice"]["id"]
    payments = {}
    for token, capture in (("tok_visa", "AUTOMATIC"), ("tok_visa", "MANUAL")):
        payments[capture] = (
            await _one(
                api,
                seeded,
                "mutation($i: CreatePaymentInput!) { createPayment(input: $i) "
                "{ payment { id } userErrors { code } } }",
                {
                    "i": {
                        "idempotencyKey": key(),
                        "customerId": plain,
                        "amount": {"amount": "20.00", "currency": "USD"},
                        "captureMethod": capture,
                        "description": f"fuzz {token}",
                    }
                },
            )
        )["payment"]["id"]
    refund = (
        await _one(
            api,
            seeded,
            "mutation($i: CreateRefundInput!) { createRefund(input: $i) "
            "{ refund { id } userErrors { code } } }",
            {
                "i": {
                    "idempotencyKey": key(),
                    "paymentId": payments["AUTOMATIC"],
                    "amount": {"amount": "5.00", "currency": "USD"},
                }
            },
        )
    )["refund"]["id"]
    disputed_customer = (
        await _one(
            api,
            seeded,
            'mutation { createCustomer(input: {name: "Disputer"}) { customer { id } '
            "userErrors { code } } }",
        )
    )["customer"]["id"]
    await _one(
        api,
        seeded,
        "mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, token: "
        '"tok_disputed"}) { userErrors { code } } }',
        {"c": disputed_customer},
    )
    disputed = (
        await _one(
            api,
            seeded,
            "mutation($i: CreatePaymentInput!) { createPayment(input: $i) "
            "{ payment { id disputes { id } } userErrors { code } } }",
            {
                "i": {
                    "idempotencyKey": key(),
                    "customerId": disputed_customer,
                    "amount": {"amount": "12.00", "currency": "EUR"},
                }
            },
        )
    )["payment"]
    found_query = (
        "query($p: ID!) { payment(id: $p) { disputes { id } } "
        "customers(first: 2) { edges { cursor } } }"
    )
    found = await api.data(found_query, {"p": disputed["id"]})
    seeded.responses.append((found_query, found))
    disputes = [d["id"] for d in found["payment"]["disputes"]]
    seeded.add(
        customer, plain, disputed_customer, clock, *methods, product, monthly, yearly, one_off,
        coupon["id"], tax, subscription["id"], subscription["latestInvoice"]["id"], draft,
        *payments.values(), refund, disputed["id"], *disputes,
    )  # fmt: skip
    seeded.strings.extend(
        ["FUZZ10", "pro_monthly", *(e["cursor"] for e in found["customers"]["edges"])]
    )
    return seeded
