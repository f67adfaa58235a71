"""The builders of the tests: the objects a test needs before its story starts.

Most are made as a client makes them, through GraphQL over HTTP (``Api``): a customer with a
card, a payment, a refund, a test clock, a monthly price, a subscription, an API key. Where a
test needs thousands of objects, or a credential on a gateway that refuses anonymous callers,
the builders of the last section call the services directly, as the CLI and the worker do.

The services are imported here, at the top, and nowhere else in the builders: when a service
moves, this is the one place of the builders to follow it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.resolvers.common import key_of
from app.security.principals import Role
from app.services import api_keys, customers, payment_methods, test_clocks
from app.services.billing import subscriptions
from tests.conftest import Api


def key() -> str:
    """A fresh idempotency key."""
    return str(uuid.uuid4())


# --- customers and payment methods --------------------------------------------------------


async def new_customer(
    api: Api, token: str | None = None, *, name: str = "Payer", **fields: Any
) -> str:
    """A new customer (``fields``: more of ``CreateCustomerInput``), with ``token`` attached
    as its default payment method if given: its global ID."""
    created = (
        await api.data(
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) "
            "{ customer { id } userErrors { field code message } } }",
            {"i": {"name": name, **fields}},
        )
    )["createCustomer"]
    assert created["userErrors"] == [], created
    customer_id: str = created["customer"]["id"]
    if token:
        attached = await api.data(
            "mutation($c: ID!, $t: String!) { attachPaymentMethod(input: "
            "{customerId: $c, token: $t}) { userErrors { code } } }",
            {"c": customer_id, "t": token},
        )
        assert attached["attachPaymentMethod"]["userErrors"] == []
    return customer_id


async def customer_with(api: Api, token: str = "tok_visa") -> str:
    """A new customer paying with ``token``."""
    return await new_customer(api, token)


async def attach(api: Api, customer: str, token: str, *, default: bool = True, **extra: Any) -> str:
    """Attach ``token`` to ``customer`` (as its default method unless ``default=False``;
    ``extra``: more of ``AttachPaymentMethodInput``): the payment method's global ID."""
    fields = {"customerId": customer, "token": token, "setAsDefault": default, **extra}
    result = (
        await api.data(
            "mutation($i: AttachPaymentMethodInput!) { attachPaymentMethod(input: $i) "
            "{ paymentMethod { id } userErrors { field code message } } }",
            {"i": fields},
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


# --- payments and refunds -----------------------------------------------------------------

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


async def pay(
    api: Api, customer: str, amount: str = "20.00", currency: str = "USD", **extra: Any
) -> dict[str, Any]:
    """``createPayment``'s payload (``extra``: more of ``CreatePaymentInput``)."""
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


async def paid_payment(api: Api, customer: str, amount: str = "20.00", **extra: Any) -> str:
    """A payment that succeeded (``extra``: more of ``CreatePaymentInput``): its global ID."""
    payload = await pay(api, customer, amount, **extra)
    assert payload["userErrors"] == [] and payload["payment"]["status"] == "SUCCEEDED", payload
    payment: str = payload["payment"]["id"]
    return payment


async def refund(
    api: Api, payment: str, amount: str | None = None, idempotency_key: str | None = None
) -> dict[str, Any]:
    """``createRefund``'s payload: of ``amount`` USD, or of what is left."""
    fields: dict[str, Any] = {"idempotencyKey": idempotency_key or key(), "paymentId": payment}
    if amount is not None:
        fields["amount"] = {"amount": amount, "currency": "USD"}
    result: dict[str, Any] = (await api.data(REFUND, {"input": fields}))["createRefund"]
    return result


async def get_payment(api: Api, payment: str) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(GET_PAYMENT, {"id": payment}))["payment"]
    return result


# --- billing: test clocks, prices, subscriptions, invoices --------------------------------

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


async def clock_and_customer(
    api: Api, token: str | None, at: str = "2026-01-01T00:00:00Z"
) -> tuple[str, str]:
    """A test clock frozen ``at``, and a customer on it paying with ``token`` (none if
    ``None``): their global IDs."""
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
    """A monthly USD price of a new product: its global ID."""
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
    """``createSubscription``'s payload (``extra``: ``quantity`` and more of its input)."""
    result: dict[str, Any] = (
        await api.data(
            "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
            f"{{ subscription {{ {SUBSCRIPTION_FIELDS} }} "
            "userErrors { field code message } } }",
            {
                "i": {
                    "idempotencyKey": key(),
                    "customerId": customer,
                    "items": [{"priceId": price, "quantity": extra.pop("quantity", 1)}],
                    **extra,
                }
            },
        )
    )["createSubscription"]
    return result


async def advance(api: Api, clock: str, to: str) -> None:
    """Move a test clock to ``to``; billing runs up to there."""
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


async def dunning_view(api: Api, subscription_id: str) -> dict[str, Any]:
    """What a billing team looks at after a failed renewal."""
    found: dict[str, Any] = (
        await api.data(
            f"query($id: ID!) {{ subscription(id: $id) {{ {DUNNING_FIELDS} }} }}",
            {"id": subscription_id},
        )
    )["subscription"]
    return found


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


# --- credentials ----------------------------------------------------------------------------


async def api_key(api: Api, role: str, name: str | None = None) -> str:
    """A new key of ``role``, made through the API by the development profile's anonymous
    admin: its secret."""
    data = await api.data(
        "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) "
        "{ apiKey { id role prefix } secret userErrors { code } } }",
        {"input": {"name": name or f"{role} key", "role": role}},
    )
    secret: str = data["createApiKey"]["secret"]
    return secret


# --- through the services: credentials without a caller, objects by the thousand ----------


async def staff_key(runtime: Any, role: Role | str, name: str) -> str:
    """A new API key of ``role``, made as ``paygate create-api-key`` makes it (a gateway
    that refuses anonymous callers needs one before its first request): its secret."""
    async with runtime.sessions() as session:
        created = await api_keys.create_key(
            session, clock=runtime.clock, name=name, role=Role(role)
        )
    return created.secret


async def service_test_clock(
    session: AsyncSession, runtime: Any, name: str, at: datetime
) -> uuid.UUID:
    """A test clock frozen ``at``: its key."""
    made = await test_clocks.create_test_clock(
        session, clock=runtime.clock, name=name, frozen_time=at
    )
    return made.id


async def service_subscriber(
    session: AsyncSession,
    runtime: Any,
    *,
    at: Clock,
    test_clock_id: uuid.UUID,
    name: str,
    token: str,
    price: str,
    idempotency_key: str,
) -> uuid.UUID:
    """A customer on a test clock paying with ``token``, subscribed to ``price`` (a global
    ID; its trial if it has one), all at ``at``: the subscription's key."""
    customer = await customers.create_customer(
        session, clock=at, email=None, name=name, country=None, locale=None,
        metadata=None, test_clock_id=test_clock_id,
    )  # fmt: skip
    method = await payment_methods.attach(
        session, registry=runtime.psps, clock=at, customer_id=customer.id, psp=None,
        token=token, set_default=True,
    )  # fmt: skip
    made = await subscriptions.create_subscription(
        session, psps=runtime.psps, clock=at, principal="test",
        idempotency_key=idempotency_key, customer_id=customer.id,
        items=[subscriptions.ItemRequest(key_of(price, "Price"))], trial_period_days=None,
        payment_method_id=method.id,
    )  # fmt: skip
    return made.id


async def service_move_clock(
    session: AsyncSession, runtime: Any, test_clock_id: uuid.UUID, to: datetime
) -> None:
    """Move a test clock without running billing (the engines under test do that)."""
    await test_clocks.move(session, clock=runtime.clock, clock_id=test_clock_id, to=to)
