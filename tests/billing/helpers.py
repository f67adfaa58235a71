"""Steps of the billing tests: a test clock, a customer on it, a monthly price."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Api

SUBSCRIPTION_FIELDS = """
  id status currentPeriodStart currentPeriodEnd trialEnd cancelAtPeriodEnd endedAt nextRetryAt
  items { quantity unitAmount { amount } price { lookupKey } }
  latestInvoice { number status }
  invoices {
    number status billingReason periodStart periodEnd attemptCount
    subtotal { amountMinor } discount { amountMinor } tax { amountMinor }
    total { amountMinor } amountPaid { amountMinor } amountRemaining { amountMinor }
    lines { description amount { amountMinor } }
    payments { status offSession nextAction { redirectUrl } decline { code } }
  }
"""


async def clock_and_customer(
    api: Api, token: str | None, at: str = "2026-01-01T00:00:00Z"
) -> tuple[str, str]:
    clock = (
        await api.data(
            'mutation($t: DateTime!) { createTestClock(input: {frozenTime: $t, name: "t"}) '
            "{ testClock { id frozenTime } userErrors { code } } }",
            {"t": at},
        )
    )["createTestClock"]["testClock"]["id"]
    customer = (
        await api.data(
            'mutation($c: ID!) { createCustomer(input: {name: "Sub", testClockId: $c}) '
            "{ customer { id testClockId } userErrors { code } } }",
            {"c": clock},
        )
    )["createCustomer"]["customer"]
    assert customer["testClockId"] == clock
    if token:
        attached = await api.data(
            "mutation($c: ID!, $t: String!) { attachPaymentMethod(input: "
            "{customerId: $c, token: $t}) { userErrors { code } } }",
            {"c": customer["id"], "t": token},
        )
        assert attached["attachPaymentMethod"]["userErrors"] == []
    return clock, customer["id"]


async def monthly_price(api: Api, amount: str = "29.00", trial_days: int | None = None) -> str:
    product = (
        await api.data('mutation { createProduct(input: {name: "Pro"}) { product { id } } }')
    )["createProduct"]["product"]["id"]
    fields: dict[str, Any] = {
        "productId": product,
        "unitAmount": {"amount": amount, "currency": "USD"},
        "recurring": {"interval": "MONTH"},
    }
    if trial_days:
        fields["trialPeriodDays"] = trial_days
    price = (
        await api.data(
            "mutation($i: CreatePriceInput!) { createPrice(input: $i) { price { id } "
            "userErrors { code } } }",
            {"i": fields},
        )
    )["createPrice"]["price"]["id"]
    return str(price)


async def subscribe(api: Api, customer: str, price: str, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.data(
            "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
            f"{{ subscription {{ {SUBSCRIPTION_FIELDS} }} "
            "userErrors { field code message } } }",
            {
                "i": {
                    "idempotencyKey": str(uuid.uuid4()),
                    "customerId": customer,
                    "items": [{"priceId": price, "quantity": extra.pop("quantity", 1)}],
                    **extra,
                }
            },
        )
    )["createSubscription"]
    return result


async def advance(api: Api, clock: str, to: str) -> None:
    result = await api.data(
        "mutation($c: ID!, $t: DateTime!) { advanceTestClock(input: {testClockId: $c, "
        "frozenTime: $t}) { testClock { frozenTime } userErrors { code message } } }",
        {"c": clock, "t": to},
    )
    assert result["advanceTestClock"]["userErrors"] == [], result


async def subscription(api: Api, subscription_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (
        await api.data(
            f"query($id: ID!) {{ subscription(id: $id) {{ {SUBSCRIPTION_FIELDS} }} }}",
            {"id": subscription_id},
        )
    )["subscription"]
    return found
