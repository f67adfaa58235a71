"""Shared steps of the payment tests: customers with methods, charges, refunds."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Api

PAYMENT_FIELDS = """
  id status psp pspReference outcomeUnknown captureMethod offSession
  amount { amount currency } amountCapturable { amount } amountReceived { amount }
  amountRefunded { amount }
  decline { code message retryAdvice providerCode }
  nextAction { redirectUrl clientSecret }
  refunds { id status amount { amount } }
  disputes { id status reason outcome amount { amount } }
  events { type source amount { amount } }
"""
CREATE_PAYMENT = f"""
mutation($input: CreatePaymentInput!) {{
  createPayment(input: $input) {{
    payment {{ {PAYMENT_FIELDS} }}
    userErrors {{ field code message }}
  }}
}}
"""
CONFIRM = f"""
mutation($input: PaymentActionInput!) {{
  confirmPayment(input: $input) {{ payment {{ {PAYMENT_FIELDS} }} userErrors {{ field code }} }}
}}
"""
CAPTURE = f"""
mutation($input: CapturePaymentInput!) {{
  capturePayment(input: $input) {{ payment {{ {PAYMENT_FIELDS} }} userErrors {{ field code }} }}
}}
"""
CANCEL = f"""
mutation($input: PaymentActionInput!) {{
  cancelPayment(input: $input) {{ payment {{ {PAYMENT_FIELDS} }} userErrors {{ field code }} }}
}}
"""
REFUND = """
mutation($input: CreateRefundInput!) {
  createRefund(input: $input) {
    refund { id status amount { amount } reason }
    payment { id amountRefunded { amount } }
    userErrors { field code message }
  }
}
"""
GET_PAYMENT = f"query($id: ID!) {{ payment(id: $id) {{ {PAYMENT_FIELDS} }} }}"


def key() -> str:
    return str(uuid.uuid4())


async def customer_with(api: Api, token: str = "tok_visa") -> str:
    data = await api.data('mutation { createCustomer(input: {name: "Payer"}) { customer { id } } }')
    customer: str = data["createCustomer"]["customer"]["id"]
    attached = await api.data(
        "mutation($c: ID!, $t: String!) { attachPaymentMethod(input: "
        "{customerId: $c, token: $t}) { userErrors { code } } }",
        {"c": customer, "t": token},
    )
    assert attached["attachPaymentMethod"]["userErrors"] == []
    return customer


async def pay(
    api: Api, customer: str, amount: str = "20.00", currency: str = "USD", **extra: Any
) -> dict[str, Any]:
    variables = {
        "input": {
            "idempotencyKey": extra.pop("idempotencyKey", key()),
            "customerId": customer,
            "amount": {"amount": amount, "currency": currency},
            **extra,
        }
    }
    result: dict[str, Any] = (await api.data(CREATE_PAYMENT, variables))["createPayment"]
    return result


async def refund(
    api: Api, payment: str, amount: str | None = None, idempotency_key: str | None = None
) -> dict[str, Any]:
    fields: dict[str, Any] = {"idempotencyKey": idempotency_key or key(), "paymentId": payment}
    if amount is not None:
        fields["amount"] = {"amount": amount, "currency": "USD"}
    result: dict[str, Any] = (await api.data(REFUND, {"input": fields}))["createRefund"]
    return result


async def get_payment(api: Api, payment: str) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(GET_PAYMENT, {"id": payment}))["payment"]
    return result
