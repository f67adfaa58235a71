"""Steps of the dunning tests: what a billing team looks at after a failed renewal."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

STOP = "collectionStop { reason customerAction message stoppedAt }"
DUNNING_FIELDS = f"""
  id status nextRetryAt {STOP}
  invoices {{
    id number status attemptCount {STOP}
    payments {{
      status createdAt
      decline {{ code retryAdvice providerCode networkDeclineCode networkAdviceCode }}
    }}
  }}
"""


async def dunning_view(api: Api, subscription_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (
        await api.data(
            f"query($id: ID!) {{ subscription(id: $id) {{ {DUNNING_FIELDS} }} }}",
            {"id": subscription_id},
        )
    )["subscription"]
    return found


async def attach(api: Api, customer: str, token: str, *, default: bool = True) -> str:
    result = (
        await api.data(
            "mutation($c: ID!, $t: String!, $d: Boolean!) { attachPaymentMethod(input: "
            "{customerId: $c, token: $t, setAsDefault: $d}) { paymentMethod { id } "
            "userErrors { code message } } }",
            {"c": customer, "t": token, "d": default},
        )
    )["attachPaymentMethod"]
    assert result["userErrors"] == [], result
    method: str = result["paymentMethod"]["id"]
    return method


async def set_default(api: Api, customer: str, method: str) -> None:
    result = (
        await api.data(
            "mutation($c: ID!, $m: ID!) { setDefaultPaymentMethod(input: "
            "{customerId: $c, paymentMethodId: $m}) { userErrors { code message } } }",
            {"c": customer, "m": method},
        )
    )["setDefaultPaymentMethod"]
    assert result["userErrors"] == [], result


async def pay_invoice(api: Api, invoice: str, key: str) -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.data(
            "mutation($i: ID!, $k: String!) { payInvoice(input: {invoiceId: $i, "
            "idempotencyKey: $k}) { invoice { status attemptCount } "
            "userErrors { field code message } } }",
            {"i": invoice, "k": key},
        )
    )["payInvoice"]
    return result
