"""Helpers of the metering tests: meters, usage prices and usage sent as a client does."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api


async def create_meter(api: Api, key: str, aggregation: str = "COUNT", **extra: Any) -> str:
    created = (
        await api.data(
            "mutation($i: CreateMeterInput!) { createMeter(input: $i) { meter { id key } "
            "userErrors { field code message } } }",
            {
                "i": {
                    "key": key,
                    "name": key.replace("_", " ").title(),
                    "aggregation": aggregation,
                    **extra,
                }
            },
        )
    )["createMeter"]
    assert created["userErrors"] == [], created
    return str(created["meter"]["id"])


async def usage_price(api: Api, meter: str, **model: Any) -> str:
    """A monthly USD price of a new product that bills ``meter``'s usage."""
    product = (
        await api.data('mutation { createProduct(input: {name: "API"}) { product { id } } }')
    )["createProduct"]["product"]["id"]
    fields = {
        "productId": product,
        "unitAmount": {"amount": "0", "currency": "USD"},
        "recurring": {"interval": "MONTH"},
        "meterId": meter,
        **model,
    }
    created = (
        await api.data(
            "mutation($i: CreatePriceInput!) { createPrice(input: $i) { price { id model "
            "unitAmountDecimal tiers { upTo unitAmount flatAmount { amount } } packageSize "
            "meter { key } } userErrors { field code message } } }",
            {"i": fields},
        )
    )["createPrice"]
    assert created["userErrors"] == [], created
    return str(created["price"]["id"])


async def post_usage(api: Api, events: list[dict[str, Any]], **headers: str) -> dict[str, Any]:
    """``POST /usage`` as curl would send it; the JSON answer."""
    response = await api.http.post("/usage", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def send_usage(api: Api, events: list[dict[str, Any]], **headers: str) -> dict[str, Any]:
    """``post_usage``, none refused."""
    body = await post_usage(api, events, **headers)
    assert body["refused"] == 0, body
    return body


INVOICE_LINES = """
invoices {
  number status billingReason periodStart periodEnd
  total { amountMinor }
  lines { description amount { amountMinor } usageQuantity usageAdjustment
          periodStart periodEnd }
}
"""


async def invoices(api: Api, subscription: str) -> list[dict[str, Any]]:
    found = await api.data(
        f"query($id: ID!) {{ subscription(id: $id) {{ {INVOICE_LINES} }} }}", {"id": subscription}
    )
    result: list[dict[str, Any]] = found["subscription"]["invoices"]
    return result
