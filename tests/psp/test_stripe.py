"""The Stripe adapter, driven through the real ``stripe`` SDK over HTTP against the fake
Stripe of ``stripe_fake`` (which answers with Stripe's documented JSON)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
import stripe
from pydantic import SecretStr

from app.domain.declines import DeclineCode, RetryAdvice
from app.domain.money import Money
from app.domain.payment_methods import SetupKind
from app.domain.payments import (
    CaptureMethod,
    DisputeStatus,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)
from app.psp.base import (
    AttachRequest,
    CancelRequest,
    CaptureRequest,
    ConfirmRequest,
    CustomerRequest,
    DeleteCustomerRequest,
    DetachRequest,
    EventKind,
    NextActionKind,
    Operation,
    PaymentRequest,
    PaymentResult,
    RefundRequest,
    SetupRequest,
)
from app.psp.errors import (
    PspAuthError,
    PspBadResponse,
    PspError,
    PspInvalidRequest,
    PspOutcomeUnknown,
    PspRateLimited,
    PspUnavailable,
    WebhookVerificationError,
)
from app.psp.stripe import StripeGateway, mappers
from app.settings import StripeSettings
from tests.psp.fake_server import free_port
from tests.psp.harness import RecordedCall, Scenario
from tests.psp.stripe_fake import API_KEY, fixture, new_id
from tests.psp.stripe_harness import WEBHOOK_SECRET, StripeHarness, sign, stripe_harness

USD_19_99 = Money(1999, "USD")


@pytest.fixture(scope="module")
async def harness() -> AsyncIterator[StripeHarness]:
    with stripe_harness() as started:
        yield started
        await started.aclose()


@asynccontextmanager
async def other_gateway(**settings: Any) -> AsyncIterator[StripeGateway]:
    """A gateway with other settings (closed afterwards)."""
    gateway = StripeGateway(StripeSettings(**settings))
    try:
        yield gateway
    finally:
        await gateway.aclose()


@pytest.fixture(autouse=True)
def _fresh(harness: StripeHarness) -> None:
    harness.fake.reset()


@pytest.fixture
def gateway(harness: StripeHarness) -> StripeGateway:
    return harness.gateway


def idem() -> str:
    return f"idem-{uuid4()}"


def payment(
    token: str | None,
    *,
    amount: Money = USD_19_99,
    capture: CaptureMethod = CaptureMethod.AUTOMATIC,
    off_session: bool = False,
    return_url: str | None = None,
    customer: str | None = None,
    key: str | None = None,
    metadata: dict[str, str] | None = None,
) -> PaymentRequest:
    return PaymentRequest(
        amount=amount,
        psp_customer_id=customer,
        payment_method=token,
        capture_method=capture,
        off_session=off_session,
        return_url=return_url,
        idempotency_key=key or idem(),
        metadata=metadata or {},
    )


def last_post(harness: StripeHarness) -> RecordedCall:
    return [call for call in harness.calls() if call.method == "POST"][-1]


async def new_customer(gateway: StripeGateway) -> str:
    created = await gateway.create_customer(CustomerRequest("cust_1", None, None, idem()))
    return created.psp_customer_id


def seeded(harness: StripeHarness, name: str, **fields: Any) -> dict[str, Any]:
    """A fixture object stored in the fake under a fresh id."""
    obj = fixture(name)
    obj.update(id=new_id(obj["id"].split("_")[0]), **fields)
    return harness.fake.put(obj)


# --- what the SDK sends -------------------------------------------------------------------


async def test_create_payment_sends_stripe_parameters_and_our_idempotency_key(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    # given a customer with a saved card
    customer = await new_customer(gateway)
    card = await gateway.attach_payment_method(AttachRequest(customer, "pm_card_visa", idem()))
    key = idem()
    # when an off-session manual-capture payment is made
    request = payment(
        card.psp_reference,
        capture=CaptureMethod.MANUAL,
        off_session=True,
        customer=customer,
        key=key,
        metadata={"paygate_payment": "pay_1"},
    )
    result = await gateway.create_payment(request)
    # then Stripe got exactly these form parameters, with our key
    call = last_post(harness)
    assert (call.path, call.headers["idempotency-key"]) == ("/v1/payment_intents", key)
    assert call.headers["authorization"] == f"Bearer {API_KEY}"
    assert call.body == {
        "amount": "1999",
        "currency": "usd",
        "capture_method": "manual",
        "allowed_payment_method_types": ["card"],
        "metadata": {"paygate_payment": "pay_1"},
        "customer": customer,
        "payment_method": card.psp_reference,
        "confirm": "true",
        "off_session": "true",
    }
    assert result.status is PaymentStatus.REQUIRES_CAPTURE
    assert result.amount_capturable == USD_19_99


async def test_on_session_payment_sends_return_url_and_not_off_session(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    await gateway.create_payment(payment("pm_card_visa", return_url="https://shop.example/r"))
    body = last_post(harness).body
    assert body["return_url"] == "https://shop.example/r"
    assert body["capture_method"] == "automatic"
    assert "off_session" not in body


async def test_every_post_carries_the_callers_idempotency_key(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    customer = await new_customer(gateway)
    keys = [idem() for _ in range(6)]
    await gateway.start_setup(SetupRequest(customer, None, None, keys[0]))
    card = await gateway.attach_payment_method(AttachRequest(customer, "pm_card_visa", keys[1]))
    paid = await gateway.create_payment(
        payment(card.psp_reference, customer=customer, key=keys[2], capture=CaptureMethod.MANUAL)
    )
    await gateway.capture_payment(CaptureRequest(paid.psp_reference, None, keys[3]))
    await gateway.refund(
        RefundRequest(paid.psp_reference, USD_19_99, RefundReason.DUPLICATE, keys[4])
    )
    await gateway.detach_payment_method(DetachRequest(card.psp_reference, keys[5]))
    posts = [call for call in harness.calls() if call.method == "POST"][1:]
    assert [call.headers["idempotency-key"] for call in posts] == keys


async def test_partial_capture_sends_amount_to_capture(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    held = await gateway.create_payment(payment("pm_card_visa", capture=CaptureMethod.MANUAL))
    captured = await gateway.capture_payment(
        CaptureRequest(held.psp_reference, Money(1500, "USD"), idem())
    )
    call = last_post(harness)
    assert call.path == f"/v1/payment_intents/{held.psp_reference}/capture"
    assert call.body == {"amount_to_capture": "1500"}
    assert captured.status is PaymentStatus.SUCCEEDED
    assert captured.amount_received == Money(1500, "USD")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (RefundReason.REQUESTED_BY_CUSTOMER, {"reason": "requested_by_customer"}),
        (RefundReason.DUPLICATE, {"reason": "duplicate"}),
        (RefundReason.FRAUDULENT, {"reason": "fraudulent"}),
        (RefundReason.OTHER, {"metadata": {"paygate_refund_reason": "other"}}),
    ],
)
async def test_refund_sends_stripe_reason_or_our_reason_in_metadata(
    harness: StripeHarness,
    gateway: StripeGateway,
    reason: RefundReason,
    expected: dict[str, Any],
) -> None:
    paid = await gateway.create_payment(payment("pm_card_visa"))
    refund = await gateway.refund(
        RefundRequest(paid.psp_reference, Money(500, "USD"), reason, idem())
    )
    call = last_post(harness)
    assert call.body == {"payment_intent": paid.psp_reference, "amount": "500", **expected}
    assert (refund.payment_reference, refund.amount) == (paid.psp_reference, Money(500, "USD"))
    assert refund.status is RefundStatus.SUCCEEDED
    assert await gateway.retrieve_refund(refund.psp_reference) == refund


async def test_customers_carry_our_customer_key_and_updates_clear_missing_fields(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    created = await gateway.create_customer(
        CustomerRequest("cust_42", "ada@example.com", "Ada Lovelace", idem())
    )
    assert last_post(harness).body == {
        "metadata": {"paygate_customer": "cust_42"},
        "email": "ada@example.com",
        "name": "Ada Lovelace",
    }
    updated = await gateway.update_customer(
        created.psp_customer_id, CustomerRequest("cust_42", None, "Ada King", idem())
    )
    assert updated == created
    assert last_post(harness).body["email"] == ""
    assert harness.fake.get(created.psp_customer_id)["email"] is None


async def test_setup_is_an_off_session_setup_intent_confirmed_in_the_browser(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    customer = await new_customer(gateway)
    setup = await gateway.start_setup(
        SetupRequest(customer, "https://shop.example/r", None, idem())
    )
    assert last_post(harness).body == {
        "customer": customer,
        "usage": "off_session",
        "allowed_payment_method_types": ["card"],
    }
    assert setup.kind is SetupKind.CLIENT_SECRET
    assert setup.reference.startswith("seti_")
    assert setup.client_secret and setup.client_secret.startswith(f"{setup.reference}_secret_")


async def test_attach_pm_token_returns_the_safe_card_details(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    customer = await new_customer(gateway)
    card = await gateway.attach_payment_method(AttachRequest(customer, "pm_card_visa", idem()))
    call = last_post(harness)
    assert (call.path, call.body) == (
        "/v1/payment_methods/pm_card_visa/attach",
        {"customer": customer},
    )
    assert card.psp_reference.startswith("pm_") and card.psp_reference != "pm_card_visa"
    assert (card.type, card.brand, card.last4) == ("card", "visa", "4242")
    assert (card.exp_month, card.exp_year, card.wallet) == (8, 2031, None)
    assert card.fingerprint == "mToisGZ01V71BCos"


async def test_attach_legacy_card_token_makes_a_payment_method_first(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    customer, key = await new_customer(gateway), idem()
    card = await gateway.attach_payment_method(AttachRequest(customer, "tok_visa", key))
    create, attach = [call for call in harness.calls() if call.method == "POST"][-2:]
    assert (create.path, create.body) == (
        "/v1/payment_methods",
        {"type": "card", "card": {"token": "tok_visa"}},
    )
    assert create.headers["idempotency-key"] == f"{key}:payment_method"
    assert attach.path == f"/v1/payment_methods/{card.psp_reference}/attach"
    assert attach.headers["idempotency-key"] == key
    # and a replay of the whole attach finds the same payment method
    again = await gateway.attach_payment_method(AttachRequest(customer, "tok_visa", key))
    assert again == card


@pytest.mark.parametrize("token", ["7WK55271NE316153P", "src_1Ab", "card_1Ab", "", "sandbox_tok"])
async def test_tokens_of_other_kinds_are_refused_without_calling_stripe(
    harness: StripeHarness, gateway: StripeGateway, token: str
) -> None:
    with pytest.raises(PspInvalidRequest) as refused:
        await gateway.attach_payment_method(AttachRequest("cus_1", token, idem()))
    assert refused.value.code == "token_not_recognised"
    with pytest.raises(PspInvalidRequest):
        await gateway.create_payment(payment(token))
    assert harness.calls() == []


async def test_attach_wallet_card_reports_the_wallet(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    customer = await new_customer(gateway)
    wallet = seeded(harness, "payment_method_card_wallet")
    card = await gateway.attach_payment_method(AttachRequest(customer, wallet["id"], idem()))
    assert (card.brand, card.last4, card.wallet) == ("mastercard", "4444", "apple_pay")
    assert (card.exp_month, card.exp_year) == (12, 2030)
    assert card.email == "jenny.rosen@example.com"


async def test_detach_removes_the_payment_method_from_the_customer(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    customer = await new_customer(gateway)
    card = await gateway.attach_payment_method(AttachRequest(customer, "pm_card_visa", idem()))
    await gateway.detach_payment_method(DetachRequest(card.psp_reference, idem()))
    assert last_post(harness).path == f"/v1/payment_methods/{card.psp_reference}/detach"
    assert harness.fake.get(card.psp_reference)["customer"] is None
    with pytest.raises(PspInvalidRequest) as again:
        await gateway.detach_payment_method(DetachRequest(card.psp_reference, idem()))
    assert again.value.code == "payment_method_unexpected_state"


async def test_delete_customer_deletes_it_with_its_methods_and_is_idempotent(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    customer = await new_customer(gateway)
    card = await gateway.attach_payment_method(AttachRequest(customer, "pm_card_visa", idem()))
    harness.fake.reset()
    await gateway.delete_customer(DeleteCustomerRequest(customer, (card.psp_reference,)))
    [call] = harness.calls()
    assert (call.method, call.path) == ("DELETE", f"/v1/customers/{customer}")
    assert "idempotency-key" not in call.headers  # Stripe takes none for a DELETE
    assert harness.fake.get(card.psp_reference)["customer"] is None  # detached with it
    await gateway.delete_customer(DeleteCustomerRequest(customer))  # 404 resource_missing: gone
    await gateway.delete_customer(DeleteCustomerRequest("cus_neverexisted"))
    assert [c.method for c in harness.calls()] == ["DELETE", "DELETE", "DELETE"]


@pytest.mark.parametrize("fault", ["unavailable", "timeout", "server_error"])
async def test_a_failed_delete_is_a_retryable_fault(
    harness: StripeHarness, gateway: StripeGateway, fault: str
) -> None:
    """A DELETE is idempotent: whatever went wrong, the answer is "retry" (never an
    unknown outcome), and the retry succeeds."""
    customer = await new_customer(gateway)
    harness.fake.fail_next(fault)
    with pytest.raises(PspUnavailable):
        await gateway.delete_customer(DeleteCustomerRequest(customer))
    await gateway.delete_customer(DeleteCustomerRequest(customer))


@pytest.mark.parametrize("reference", ["paygate-cus-1", "sbxcus_0123", "", "cus_a/../b"])
async def test_delete_refuses_what_is_not_a_stripe_customer_without_a_call(
    harness: StripeHarness, gateway: StripeGateway, reference: str
) -> None:
    with pytest.raises(PspInvalidRequest):
        await gateway.delete_customer(DeleteCustomerRequest(reference))
    assert harness.calls() == []


async def test_payment_without_a_method_waits_for_the_browser(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    result = await gateway.create_payment(payment(None))
    assert "confirm" not in last_post(harness).body
    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.next_action is not None
    assert result.next_action.kind is NextActionKind.USE_SDK
    assert result.next_action.client_secret


# --- flows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "code", "provider_code"),
    [
        ("pm_card_chargeDeclined", DeclineCode.CARD_DECLINED, "generic_decline"),
        (
            "pm_card_visa_chargeDeclinedInsufficientFunds",
            DeclineCode.INSUFFICIENT_FUNDS,
            "insufficient_funds",
        ),
        ("tok_chargeDeclined", DeclineCode.CARD_DECLINED, "generic_decline"),
    ],
)
async def test_a_402_decline_is_a_failed_result_not_an_exception(
    gateway: StripeGateway, token: str, code: DeclineCode, provider_code: str
) -> None:
    result = await gateway.create_payment(payment(token))
    assert result.status is PaymentStatus.FAILED
    assert result.raw_status == "requires_payment_method"
    assert result.decline is not None
    assert (result.decline.code, result.decline.provider_code) == (code, provider_code)
    assert result.amount_received == Money(0, "USD")
    assert await gateway.retrieve_payment(result.psp_reference) == result


async def test_3ds_without_return_url_is_finished_with_stripe_js(gateway: StripeGateway) -> None:
    result = await gateway.create_payment(payment("pm_card_threeDSecure2Required"))
    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.next_action is not None
    assert result.next_action.kind is NextActionKind.USE_SDK
    assert result.next_action.client_secret
    assert result.next_action.client_secret.startswith(f"{result.psp_reference}_secret_")


async def test_3ds_with_return_url_redirects(gateway: StripeGateway) -> None:
    result = await gateway.create_payment(
        payment("pm_card_threeDSecure2Required", return_url="https://shop.example/r")
    )
    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.next_action is not None
    assert result.next_action.kind is NextActionKind.REDIRECT
    assert result.next_action.redirect_url
    assert result.next_action.redirect_url.startswith("https://hooks.stripe.com/")


@pytest.mark.parametrize(
    ("succeed", "capture", "status"),
    [
        (True, CaptureMethod.AUTOMATIC, PaymentStatus.SUCCEEDED),
        (True, CaptureMethod.MANUAL, PaymentStatus.REQUIRES_CAPTURE),
        (False, CaptureMethod.AUTOMATIC, PaymentStatus.FAILED),
    ],
)
async def test_the_customer_finishing_3ds_settles_the_payment(
    harness: StripeHarness,
    gateway: StripeGateway,
    succeed: bool,
    capture: CaptureMethod,
    status: PaymentStatus,
) -> None:
    started = await gateway.create_payment(
        payment(harness.token(Scenario.ACTION_REQUIRED), capture=capture)
    )
    await harness.complete_action(started.psp_reference, succeed=succeed)
    result = await gateway.retrieve_payment(started.psp_reference)
    assert result.status is status
    if not succeed:
        assert result.decline is not None
        assert result.decline.code is DeclineCode.AUTHENTICATION_FAILED


async def test_off_session_3ds_card_is_declined_authentication_required(
    gateway: StripeGateway,
) -> None:
    result = await gateway.create_payment(
        payment("pm_card_threeDSecure2Required", off_session=True)
    )
    assert result.status is PaymentStatus.FAILED
    assert result.decline is not None
    assert result.decline.code is DeclineCode.AUTHENTICATION_REQUIRED
    assert result.decline.advice is RetryAdvice.CUSTOMER_ACTION_REQUIRED


async def test_confirm_payment_confirms_a_payment_awaiting_confirmation(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    customer = await new_customer(gateway)
    card = await gateway.attach_payment_method(AttachRequest(customer, "pm_card_visa", idem()))
    waiting = seeded(
        harness,
        "payment_intent_requires_confirmation",
        payment_method=card.psp_reference,
        customer=customer,
    )
    result = await gateway.confirm_payment(
        ConfirmRequest(waiting["id"], idem(), "https://shop.example/r")
    )
    assert last_post(harness).body == {"return_url": "https://shop.example/r"}
    assert result.status is PaymentStatus.SUCCEEDED
    assert result.amount_received == Money(2000, "USD")


@pytest.mark.parametrize(
    ("token", "status"),
    [
        ("pm_card_visa", PaymentStatus.SUCCEEDED),
        ("pm_card_chargeDeclined", PaymentStatus.FAILED),
        ("pm_card_threeDSecure2Required", PaymentStatus.REQUIRES_ACTION),
    ],
)
async def test_confirm_payment_leaves_a_payment_past_confirmation_as_it_is(
    harness: StripeHarness, gateway: StripeGateway, token: str, status: PaymentStatus
) -> None:
    created = await gateway.create_payment(payment(token))
    harness.fake.reset()
    confirmed = await gateway.confirm_payment(ConfirmRequest(created.psp_reference, idem()))
    assert confirmed == created
    assert confirmed.status is status
    assert [call.method for call in harness.calls()] == ["GET"]  # Stripe refuses a 2nd confirm


async def test_confirm_after_3ds_returns_the_settled_payment(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    pending = await gateway.create_payment(payment("pm_card_threeDSecure2Required"))
    await harness.complete_action(pending.psp_reference, succeed=True)
    confirmed = await gateway.confirm_payment(ConfirmRequest(pending.psp_reference, idem()))
    assert confirmed.status is PaymentStatus.SUCCEEDED
    assert confirmed.amount_received == USD_19_99


async def test_cancel_releases_an_authorisation_and_then_capture_is_refused(
    gateway: StripeGateway,
) -> None:
    held = await gateway.create_payment(payment("pm_card_visa", capture=CaptureMethod.MANUAL))
    canceled = await gateway.cancel_payment(CancelRequest(held.psp_reference, idem()))
    assert canceled.status is PaymentStatus.CANCELED
    assert canceled.amount_capturable == Money(0, "USD")
    with pytest.raises(PspInvalidRequest) as refused:
        await gateway.capture_payment(CaptureRequest(held.psp_reference, None, idem()))
    assert refused.value.code == "payment_intent_unexpected_state"


async def test_unknown_payment_is_an_invalid_request(gateway: StripeGateway) -> None:
    with pytest.raises(PspInvalidRequest) as missing:
        await gateway.retrieve_payment("pi_does_not_exist")
    assert missing.value.code == "resource_missing"


async def test_refunding_more_than_was_paid_is_refused(gateway: StripeGateway) -> None:
    paid = await gateway.create_payment(payment("pm_card_visa"))
    with pytest.raises(PspInvalidRequest) as refused:
        await gateway.refund(
            RefundRequest(paid.psp_reference, Money(2000, "USD"), RefundReason.OTHER, idem())
        )
    assert refused.value.code == "amount_too_large"


# --- idempotency ------------------------------------------------------------------------


async def test_same_key_same_request_replays_the_first_answer(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    request = payment("pm_card_visa")
    first = await gateway.create_payment(request)
    second = await gateway.create_payment(request)
    assert second == first
    intents = [obj for obj in harness.fake.objects.values() if obj["object"] == "payment_intent"]
    assert sum(1 for obj in intents if obj["id"] == first.psp_reference) == 1
    assert len(harness.calls()) == 2  # both reached Stripe; only one PaymentIntent exists


async def test_same_key_same_declined_request_replays_the_decline(
    gateway: StripeGateway,
) -> None:
    request = payment("pm_card_chargeDeclined")
    assert await gateway.create_payment(request) == await gateway.create_payment(request)


async def test_same_key_different_request_is_refused(gateway: StripeGateway) -> None:
    key = idem()
    await gateway.create_payment(payment("pm_card_visa", key=key))
    with pytest.raises(PspInvalidRequest) as refused:
        await gateway.create_payment(payment("pm_card_visa", key=key, amount=Money(1, "USD")))
    assert refused.value.code == "idempotency_key_reused"


async def test_a_timed_out_payment_is_reconciled_by_replaying_its_key(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    request = payment("pm_card_visa")
    harness.fail_next("timeout")
    with pytest.raises(PspOutcomeUnknown) as unknown:
        await gateway.create_payment(request)
    assert unknown.value.retryable and unknown.value.psp_reference is None
    replayed = await gateway.create_payment(request)  # Stripe had done it
    assert replayed.status is PaymentStatus.SUCCEEDED


# --- mappings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "action"),
    [
        ("payment_intent_requires_payment_method", PaymentStatus.REQUIRES_ACTION, "use_sdk"),
        ("payment_intent_requires_confirmation", PaymentStatus.REQUIRES_ACTION, "use_sdk"),
        ("payment_intent_requires_action_redirect", PaymentStatus.REQUIRES_ACTION, "redirect"),
        ("payment_intent_requires_action_sdk", PaymentStatus.REQUIRES_ACTION, "use_sdk"),
        ("payment_intent_processing", PaymentStatus.PROCESSING, None),
        ("payment_intent_requires_capture", PaymentStatus.REQUIRES_CAPTURE, None),
        ("payment_intent_canceled", PaymentStatus.CANCELED, None),
        ("payment_intent_succeeded", PaymentStatus.SUCCEEDED, None),
        ("payment_intent_failed", PaymentStatus.FAILED, None),
    ],
)
async def test_every_payment_intent_status_maps(
    harness: StripeHarness,
    gateway: StripeGateway,
    name: str,
    status: PaymentStatus,
    action: str | None,
) -> None:
    intent = seeded(harness, name)
    result = await gateway.retrieve_payment(intent["id"])
    assert (result.status, result.raw_status) == (status, intent["status"])
    assert result.amount == Money(2000, "USD")
    assert result.amount_capturable == Money(intent["amount_capturable"], "USD")
    assert result.amount_received == Money(intent["amount_received"], "USD")
    assert (result.next_action.kind.value if result.next_action else None) == action
    if action == "redirect":
        assert (
            result.next_action
            and result.next_action.redirect_url == (intent["next_action"]["redirect_to_url"]["url"])
        )
    if action == "use_sdk":
        assert result.next_action and result.next_action.client_secret == intent["client_secret"]
    assert (result.decline is not None) == (status is PaymentStatus.FAILED)


async def test_unknown_payment_intent_status_is_a_bad_response(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    intent = seeded(harness, "payment_intent_succeeded", status="requires_reauthorization")
    with pytest.raises(PspBadResponse):
        await gateway.retrieve_payment(intent["id"])


# --- declines: Stripe's documented codes, and the code of ours each one means ------------------
#
# Written from Stripe's documentation, not from the mapper: every row of the card decline codes
# table of https://docs.stripe.com/declines/codes (50, two of them deprecated), with what Stripe
# says of it, and the DeclineCode whose meaning (and retry advice) fits. Stripe sends them as
# ``decline_code`` beside ``code: card_declined``.
STRIPE_DECLINE_CODES: dict[str, DeclineCode] = {
    # "requires authentication such as 3D Secure"; "you tried to proceed without performing
    # the required authentication"; "tap your mobile device again"
    "authentication_required": DeclineCode.AUTHENTICATION_REQUIRED,
    "authentication_not_handled": DeclineCode.AUTHENTICATION_REQUIRED,
    "mobile_device_authentication_required": DeclineCode.AUTHENTICATION_REQUIRED,
    # card readers: "requires a PIN" (cardholder verification), "the PIN entered is
    # incorrect", "the allowable number of PIN tries was exceeded: use another card"
    "offline_pin_required": DeclineCode.AUTHENTICATION_REQUIRED,
    "online_or_offline_pin_required": DeclineCode.AUTHENTICATION_REQUIRED,
    "incorrect_pin": DeclineCode.AUTHENTICATION_FAILED,
    "invalid_pin": DeclineCode.AUTHENTICATION_FAILED,
    "pin_try_exceeded": DeclineCode.AUTHENTICATION_FAILED,
    # "can't be authorised: attempt the payment again"; (deprecated) "ask the customer to
    # attempt the payment again": the issuer asks for a later attempt (Visa category 2)
    "approve_with_id": DeclineCode.TRY_AGAIN_LATER,
    "reenter_transaction": DeclineCode.TRY_AGAIN_LATER,
    "try_again_later": DeclineCode.TRY_AGAIN_LATER,
    # "the issuer couldn't be reached" (Visa 91, category 2)
    "issuer_not_available": DeclineCode.ISSUER_UNAVAILABLE,
    # "an error occurred while processing the card"
    "processing_error": DeclineCode.PROCESSING_ERROR,
    # "a transaction with identical amount and card was submitted very recently": not the
    # card's fault, a later attempt may pass (a generic decline)
    "duplicate_transaction": DeclineCode.CARD_DECLINED,
    # "declined for an unknown reason: the customer needs to contact their card issuer"
    # (Visa 05 "do not honor", category 4: may be retried within the caps)
    "call_issuer": DeclineCode.DO_NOT_HONOR,
    "do_not_honor": DeclineCode.DO_NOT_HONOR,
    "security_violation": DeclineCode.DO_NOT_HONOR,
    "no_action_taken": DeclineCode.CARD_DECLINED,
    # (deprecated) "declined for an unknown reason" under a name that says it all: never again
    "do_not_try_again": DeclineCode.DO_NOT_TRY_AGAIN,
    # the cardholder stopped this payment or every payment to the merchant (Visa R0, R1, R3:
    # category 1, never retried)
    "revocation_of_all_authorizations": DeclineCode.PAYMENT_STOPPED,
    "revocation_of_authorization": DeclineCode.PAYMENT_STOPPED,
    "stop_payment_order": DeclineCode.PAYMENT_STOPPED,
    # "declined for an unknown reason, or Radar or Adaptive Acceptance blocked the payment"
    "generic_decline": DeclineCode.CARD_DECLINED,
    # "doesn't support this type of purchase"; "isn't permitted"; "unknown reason" for the
    # two whose names say the issuer does not allow this transaction or service on the card
    "card_not_supported": DeclineCode.CARD_NOT_SUPPORTED,
    "not_permitted": DeclineCode.CARD_NOT_SUPPORTED,
    "service_not_allowed": DeclineCode.CARD_NOT_SUPPORTED,
    "transaction_not_allowed": DeclineCode.CARD_NOT_SUPPORTED,
    "currency_not_supported": DeclineCode.CURRENCY_NOT_SUPPORTED,
    # "exceeded the balance, credit limit, or transaction amount limit"; "exceeded the
    # balance or credit limit"; "the amount exceeds the amount that's allowed"
    "card_velocity_exceeded": DeclineCode.LIMIT_EXCEEDED,
    "withdrawal_count_limit_exceeded": DeclineCode.LIMIT_EXCEEDED,
    "invalid_amount": DeclineCode.LIMIT_EXCEEDED,
    "insufficient_funds": DeclineCode.INSUFFICIENT_FUNDS,
    # "the card has expired"; "the expiry month/year is invalid: try again with the correct
    # expiry date"
    "expired_card": DeclineCode.EXPIRED_CARD,
    "invalid_expiry_month": DeclineCode.EXPIRED_CARD,
    "invalid_expiry_year": DeclineCode.EXPIRED_CARD,
    "incorrect_cvc": DeclineCode.INCORRECT_CVC,
    "invalid_cvc": DeclineCode.INCORRECT_CVC,
    # "the card number is incorrect"; "a Stripe test card number was used: a genuine card
    # must be used"
    "incorrect_number": DeclineCode.INCORRECT_NUMBER,
    "invalid_number": DeclineCode.INCORRECT_NUMBER,
    "testmode_decline": DeclineCode.INCORRECT_NUMBER,
    # "the card, or account the card is connected to, is invalid"; the issuer has new details
    # of the card (a replaced card): the card on file will not be approved again
    "invalid_account": DeclineCode.INVALID_ACCOUNT,
    "new_account_information_available": DeclineCode.INVALID_ACCOUNT,
    # "the postal code / address is incorrect: try again using the correct one"
    "incorrect_zip": DeclineCode.PAYER_ACTION_REQUIRED,
    "incorrect_address": DeclineCode.PAYER_ACTION_REQUIRED,
    # "suspects that it's fraudulent"; "matches a value on the Stripe user's block list"
    "fraudulent": DeclineCode.FRAUDULENT,
    "merchant_blacklist": DeclineCode.FRAUDULENT,
    # "reported lost"; "reported stolen"; "can't use this card (it's possible it was reported
    # lost or stolen)" for pickup_card (Visa 04, category 1) and restricted_card (Visa 62,
    # category 2: a restriction that may be lifted)
    "lost_card": DeclineCode.LOST_CARD,
    "stolen_card": DeclineCode.STOLEN_CARD,
    "pickup_card": DeclineCode.PICKUP_CARD,
    "restricted_card": DeclineCode.RESTRICTED_CARD,
}
# The card errors of https://docs.stripe.com/error-codes that a failed PaymentIntent carries
# as its ``code`` without a ``decline_code``; those named like a decline code mean the same.
STRIPE_CARD_ERROR_CODES: dict[str, DeclineCode] = {
    "card_declined": DeclineCode.CARD_DECLINED,  # "the card has been declined"
    # "this card has been declined too many times: try again after 24 hours"
    "card_decline_rate_limit_exceeded": DeclineCode.LIMIT_EXCEEDED,
    # "the provided payment method has failed authentication"
    "payment_intent_authentication_failure": DeclineCode.AUTHENTICATION_FAILED,
    **{
        code: STRIPE_DECLINE_CODES[code]
        for code in (
            "authentication_required", "expired_card", "incorrect_address", "incorrect_cvc",
            "incorrect_number", "incorrect_zip", "insufficient_funds", "invalid_cvc",
            "invalid_expiry_month", "invalid_expiry_year", "invalid_number", "processing_error",
        )
    },
}  # fmt: skip


def test_stripe_documents_fifty_card_decline_codes() -> None:
    assert len(STRIPE_DECLINE_CODES) == 50


def test_every_documented_code_is_mapped_and_nothing_else() -> None:
    """A code Stripe documents that the mapper lacks would fall back to CARD_DECLINED (or
    UNKNOWN) unnoticed; one the mapper has that Stripe does not document is untested."""
    assert mappers.DECLINE_CODES == STRIPE_DECLINE_CODES | STRIPE_CARD_ERROR_CODES


@pytest.mark.parametrize(("stripe_code", "ours"), sorted(STRIPE_DECLINE_CODES.items()))
async def test_every_decline_code_maps(
    harness: StripeHarness, gateway: StripeGateway, stripe_code: str, ours: DeclineCode
) -> None:
    # Through the adapter: a failed PaymentIntent as Stripe sends it.
    error = fixture("payment_intent_failed")["last_payment_error"]
    error.update(code="card_declined", decline_code=stripe_code)
    intent = seeded(harness, "payment_intent_failed", last_payment_error=error)
    result = await gateway.retrieve_payment(intent["id"])
    assert result.decline is not None
    assert (result.decline.code, result.decline.provider_code) == (ours, stripe_code)
    assert result.decline.message == error["message"]


@pytest.mark.parametrize(("stripe_code", "ours"), sorted(STRIPE_CARD_ERROR_CODES.items()))
async def test_every_card_error_code_maps(
    harness: StripeHarness, gateway: StripeGateway, stripe_code: str, ours: DeclineCode
) -> None:
    error = fixture("payment_intent_failed")["last_payment_error"]
    error.update(code=stripe_code, decline_code=None)
    intent = seeded(harness, "payment_intent_failed", last_payment_error=error)
    result = await gateway.retrieve_payment(intent["id"])
    assert result.decline is not None
    assert (result.decline.code, result.decline.provider_code) == (ours, stripe_code)


@pytest.mark.parametrize(
    ("code", "decline_code", "ours", "kept"),
    [
        ("card_declined", "something_new", DeclineCode.CARD_DECLINED, "something_new"),
        ("something_else", None, DeclineCode.UNKNOWN, "something_else"),
        (None, None, DeclineCode.UNKNOWN, None),
    ],
)
async def test_unknown_decline_codes_fall_back_and_keep_stripes_code(
    harness: StripeHarness,
    gateway: StripeGateway,
    code: str | None,
    decline_code: str | None,
    ours: DeclineCode,
    kept: str | None,
) -> None:
    error = {"type": "card_error", "code": code, "decline_code": decline_code, "message": "No."}
    intent = seeded(harness, "payment_intent_failed", last_payment_error=error)
    result = await gateway.retrieve_payment(intent["id"])
    assert result.decline is not None
    assert (result.decline.code, result.decline.provider_code) == (ours, kept)


# The Refund object's ``status`` (Stripe's API reference): pending, requires_action ("only
# refunds for payment methods that require customer action", who must give their refund
# details: no money back yet), succeeded, failed, canceled.
STRIPE_REFUND_STATUSES = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.CANCELED,
}
# The Dispute object's ``status`` (Stripe's API reference): the inquiries (warning_*), the
# chargebacks, their appeals once lost, the outcomes, and ``prevented`` (closed before it
# became a chargeback, e.g. refunded through Visa RDR: like an inquiry closed without one).
STRIPE_DISPUTE_STATUSES = {
    "warning_needs_response": DisputeStatus.NEEDS_RESPONSE,
    "warning_under_review": DisputeStatus.UNDER_REVIEW,
    "warning_closed": DisputeStatus.WARNING_CLOSED,
    "needs_response": DisputeStatus.NEEDS_RESPONSE,
    "under_review": DisputeStatus.UNDER_REVIEW,
    "appeal_needs_response": DisputeStatus.NEEDS_RESPONSE,
    "appeal_under_review": DisputeStatus.UNDER_REVIEW,
    "won": DisputeStatus.WON,
    "lost": DisputeStatus.LOST,
    "prevented": DisputeStatus.WARNING_CLOSED,
}
# Older API versions' statuses the mapper still reads: ``charge_refunded``, a disputed charge
# that was refunded (changelog 2014-08-20; reported as ``won`` since 2014-11-20).
LEGACY_DISPUTE_STATUSES = {"charge_refunded": DisputeStatus.WARNING_CLOSED}


def test_every_documented_refund_and_dispute_status_is_mapped() -> None:
    assert mappers.REFUND_STATUSES == STRIPE_REFUND_STATUSES
    assert mappers.DISPUTE_STATUSES == STRIPE_DISPUTE_STATUSES | LEGACY_DISPUTE_STATUSES


@pytest.mark.parametrize(("stripe_status", "ours"), sorted(STRIPE_REFUND_STATUSES.items()))
async def test_every_refund_status_maps(
    harness: StripeHarness, gateway: StripeGateway, stripe_status: str, ours: RefundStatus
) -> None:
    reason = "expired_or_canceled_card" if stripe_status == "failed" else None
    refund = seeded(harness, "refund", status=stripe_status, failure_reason=reason)
    result = await gateway.retrieve_refund(refund["id"])
    assert (result.status, result.raw_status, result.failure_reason) == (
        ours,
        stripe_status,
        reason,
    )
    assert result.payment_reference == refund["payment_intent"]
    assert result.amount == Money(1000, "USD")


async def test_unknown_refund_status_is_a_bad_response(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    refund = seeded(harness, "refund", status="reversed")
    with pytest.raises(PspBadResponse):
        await gateway.retrieve_refund(refund["id"])


@pytest.mark.parametrize(
    ("stripe_status", "ours"),
    sorted((STRIPE_DISPUTE_STATUSES | LEGACY_DISPUTE_STATUSES).items()),
)
async def test_every_dispute_status_maps(
    harness: StripeHarness, gateway: StripeGateway, stripe_status: str, ours: DisputeStatus
) -> None:
    now = datetime.now(UTC)
    dispute = fixture("dispute") | {"status": stripe_status}
    headers, body = harness.event("charge.dispute.updated", dispute, at=now)
    event = await gateway.parse_webhook(headers, body, now=now)
    assert event.kind is EventKind.DISPUTE and event.dispute is not None
    assert (event.dispute.status, event.dispute.raw_status) == (ours, stripe_status)
    assert event.dispute.payment_reference == dispute["payment_intent"]
    assert event.dispute.amount == Money(1000, "USD")
    assert event.dispute.reason == "general"
    assert event.dispute.evidence_due_by == datetime(2023, 4, 23, 23, 59, 59, tzinfo=UTC)


# --- money: Stripe's units ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "sent_amount", "sent_currency"),
    [
        (Money(1999, "USD"), "1999", "usd"),
        (Money(1000, "JPY"), "1000", "jpy"),  # zero-decimal at ISO and Stripe
        (Money(12340, "KWD"), "12340", "kwd"),  # three-decimal at both
        (Money(1999, "HUF"), "1999", "huf"),  # two-decimal charges (zero only for payouts)
        (Money(1999, "TWD"), "1999", "twd"),  # likewise
        (Money(5000, "UGX"), "5000", "ugx"),  # zero-decimal at both
        (Money(500, "ISK"), "50000", "isk"),  # ISO 0; Stripe's API keeps two decimals
        (Money(30000, "MGA"), "300", "mga"),  # ISO 2; Stripe zero-decimal
    ],
)
async def test_amounts_are_sent_in_stripes_unit_and_read_back_exactly(
    harness: StripeHarness,
    gateway: StripeGateway,
    money: Money,
    sent_amount: str,
    sent_currency: str,
) -> None:
    result = await gateway.create_payment(payment("pm_card_visa", amount=money))
    body = last_post(harness).body
    assert (body["amount"], body["currency"]) == (sent_amount, sent_currency)
    assert result.amount == result.amount_received == money
    refund = await gateway.refund(
        RefundRequest(result.psp_reference, money, RefundReason.DUPLICATE, idem())
    )
    assert last_post(harness).body["amount"] == sent_amount
    assert refund.amount == money


async def test_an_amount_stripe_cannot_express_is_refused_before_calling(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    with pytest.raises(PspInvalidRequest) as refused:
        await gateway.create_payment(payment("pm_card_visa", amount=Money(30050, "MGA")))
    assert refused.value.code == "amount_not_whole_units"
    assert harness.calls() == []


async def test_a_fractional_krona_from_stripe_is_a_bad_response(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    intent = seeded(harness, "payment_intent_succeeded", currency="isk", amount=150)
    with pytest.raises(PspBadResponse):
        await gateway.retrieve_payment(intent["id"])


# --- webhooks ---------------------------------------------------------------------------


async def test_a_signed_payment_event_becomes_a_payment_snapshot(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    paid = await gateway.create_payment(payment("pm_card_visa"))
    now = datetime.now(UTC).replace(microsecond=0)
    headers, body = harness.payment_webhook(paid.psp_reference, at=now)
    event = await gateway.parse_webhook(headers, body, now=now)
    assert (event.psp, event.kind, event.type) == (
        "stripe",
        EventKind.PAYMENT,
        "payment_intent.succeeded",
    )
    assert event.event_id == json.loads(body)["id"]
    assert event.occurred_at == now
    assert event.payment == paid


def _tampered(body: bytes) -> bytes:
    return body.replace(b'"amount": 1999', b'"amount": 1')


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda h, b: (h, _tampered(b)), id="tampered-body"),
        pytest.param(lambda h, b: ({}, b), id="missing-header"),
        pytest.param(lambda h, b: ({"Stripe-Signature": ""}, b), id="empty-header"),
        pytest.param(lambda h, b: ({"Stripe-Signature": "t=abc,v1=00"}, b), id="malformed"),
        pytest.param(
            lambda h, b: ({"Stripe-Signature": h["Stripe-Signature"].replace("v1=", "v0=")}, b),
            id="wrong-scheme",
        ),
    ],
)
async def test_forged_webhooks_are_refused(
    harness: StripeHarness, gateway: StripeGateway, forge: Any
) -> None:
    paid = await gateway.create_payment(payment("pm_card_visa"))
    now = datetime.now(UTC)
    headers, body = forge(*harness.payment_webhook(paid.psp_reference, at=now))
    with pytest.raises(WebhookVerificationError):
        await gateway.parse_webhook(headers, body, now=now)


async def test_a_webhook_signed_with_another_secret_is_refused(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    now = datetime.now(UTC)
    headers, body = harness.payment_webhook("pi_1", at=now, secret_ok=False)
    with pytest.raises(WebhookVerificationError):
        await gateway.parse_webhook(headers, body, now=now)


@pytest.mark.parametrize(("age", "accepted"), [(250, True), (310, False), (3600, False)])
async def test_webhooks_older_than_five_minutes_are_refused(
    harness: StripeHarness, gateway: StripeGateway, age: int, accepted: bool
) -> None:
    now = datetime.now(UTC)
    headers, body = harness.payment_webhook("pi_1", at=now - timedelta(seconds=age))
    if accepted:
        assert (await gateway.parse_webhook(headers, body, now=now)).kind is EventKind.PAYMENT
    else:
        with pytest.raises(WebhookVerificationError):
            await gateway.parse_webhook(headers, body, now=now)


async def test_the_signature_header_name_is_case_insensitive(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    now = datetime.now(UTC)
    headers, body = harness.payment_webhook("pi_1", at=now)
    lowered = {"stripe-signature": headers["Stripe-Signature"]}
    assert (await gateway.parse_webhook(lowered, body, now=now)).kind is EventKind.PAYMENT


async def test_without_a_webhook_secret_every_webhook_is_refused(harness: StripeHarness) -> None:
    now = datetime.now(UTC)
    headers, body = harness.payment_webhook("pi_1", at=now)
    async with other_gateway(api_key=SecretStr(API_KEY), api_base=harness.base_url) as bare:
        with pytest.raises(WebhookVerificationError):
            await bare.parse_webhook(headers, body, now=now)


async def test_a_signed_body_that_is_not_an_event_is_a_bad_response(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    now = datetime.now(UTC)
    body = b"not json"
    headers = {"Stripe-Signature": sign(body, WEBHOOK_SECRET, now)}
    with pytest.raises(PspBadResponse):
        await gateway.parse_webhook(headers, body, now=now)


@pytest.mark.parametrize(
    ("event_type", "name", "kind"),
    [
        ("payment_intent.payment_failed", "payment_intent_failed", EventKind.PAYMENT),
        ("payment_intent.requires_action", "payment_intent_requires_action_sdk", EventKind.PAYMENT),
        ("payment_intent.canceled", "payment_intent_canceled", EventKind.PAYMENT),
        ("charge.refund.updated", "refund", EventKind.REFUND),
        ("refund.created", "refund", EventKind.REFUND),
        ("refund.updated", "refund", EventKind.REFUND),
        ("refund.failed", "refund", EventKind.REFUND),
        ("charge.dispute.created", "dispute", EventKind.DISPUTE),
        ("charge.dispute.updated", "dispute", EventKind.DISPUTE),
        ("charge.dispute.closed", "dispute", EventKind.DISPUTE),
        ("charge.dispute.funds_withdrawn", "dispute", EventKind.DISPUTE),
        ("charge.dispute.funds_reinstated", "dispute", EventKind.DISPUTE),
        ("payment_method.attached", "payment_method_card", EventKind.PAYMENT_METHOD),
        ("payment_method.detached", "payment_method_card", EventKind.PAYMENT_METHOD),
        ("customer.created", "customer", EventKind.OTHER),
        ("invoice.paid", "customer", EventKind.OTHER),
    ],
)
async def test_event_types_map_to_kinds_with_snapshots(
    harness: StripeHarness, gateway: StripeGateway, event_type: str, name: str, kind: EventKind
) -> None:
    now = datetime.now(UTC)
    headers, body = harness.event(event_type, fixture(name), at=now)
    event = await gateway.parse_webhook(headers, body, now=now)
    assert (event.kind, event.type) == (kind, event_type)
    assert (event.payment is not None) == (kind is EventKind.PAYMENT)
    assert (event.refund is not None) == (kind is EventKind.REFUND)
    assert (event.dispute is not None) == (kind is EventKind.DISPUTE)


@pytest.mark.parametrize(
    "name",
    [
        "event_payment_intent_succeeded",
        "event_payment_intent_payment_failed",
        "event_charge_refund_updated",
        "event_charge_dispute_created",
        "event_payment_method_attached",
        "event_customer_created",
    ],
)
async def test_documented_event_envelopes_parse(
    harness: StripeHarness, gateway: StripeGateway, name: str
) -> None:
    now = datetime.now(UTC)
    body = json.dumps(fixture(name)).encode()
    event = await gateway.parse_webhook(
        {"Stripe-Signature": sign(body, WEBHOOK_SECRET, now)}, body, now=now
    )
    assert event.event_id == fixture(name)["id"]
    assert event.occurred_at == datetime.fromtimestamp(1686089970, UTC)


# --- faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "retryable"),
    [
        ("unavailable", PspUnavailable, True),
        ("rate_limited", PspRateLimited, True),
        ("auth", PspAuthError, False),
        ("timeout", PspOutcomeUnknown, True),
        ("server_error", PspOutcomeUnknown, True),  # a POST: Stripe may have acted
        ("garbage", PspBadResponse, False),
    ],
)
async def test_faults_on_a_payment_become_the_right_error(
    harness: StripeHarness,
    gateway: StripeGateway,
    fault: str,
    error: type[PspError],
    retryable: bool,
) -> None:
    harness.fail_next(fault)
    with pytest.raises(error) as raised:
        await gateway.create_payment(payment("pm_card_visa"))
    assert type(raised.value) is error
    assert raised.value.retryable is retryable
    assert raised.value.psp == "stripe"
    assert isinstance(raised.value.__cause__, stripe.StripeError)


@pytest.mark.parametrize("fault", ["timeout", "server_error", "unavailable"])
async def test_faults_on_a_read_are_unavailable_not_unknown(
    harness: StripeHarness, gateway: StripeGateway, fault: str
) -> None:
    paid = await gateway.create_payment(payment("pm_card_visa"))
    harness.fail_next(fault)
    with pytest.raises(PspUnavailable):
        await gateway.retrieve_payment(paid.psp_reference)


async def test_a_capture_that_times_out_names_the_payment_to_reconcile(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    held = await gateway.create_payment(payment("pm_card_visa", capture=CaptureMethod.MANUAL))
    harness.fail_next("timeout")
    with pytest.raises(PspOutcomeUnknown) as unknown:
        await gateway.capture_payment(CaptureRequest(held.psp_reference, None, idem()))
    assert unknown.value.psp_reference == held.psp_reference
    assert (await gateway.retrieve_payment(held.psp_reference)).status is PaymentStatus.SUCCEEDED


async def test_stripe_unreachable_is_unavailable_even_for_a_payment() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with other_gateway(api_key=SecretStr(API_KEY), api_base=nowhere) as gateway:
        with pytest.raises(PspUnavailable) as raised:
            await gateway.create_payment(payment("pm_card_visa"))
    assert type(raised.value) is PspUnavailable  # nothing was sent: not an unknown outcome


async def test_no_api_key_is_an_auth_error_without_calling_stripe(harness: StripeHarness) -> None:
    async with other_gateway(api_base=harness.base_url) as unconfigured:
        with pytest.raises(PspAuthError):
            await unconfigured.retrieve_payment("pi_1")
    assert harness.calls() == []


def _leaks(error: BaseException, *secrets_: str) -> bool:
    shown = " ".join([str(error), repr(error), *map(str, error.args)])
    return any(secret in shown for secret in secrets_)


async def test_a_refused_api_key_never_appears_in_the_error(harness: StripeHarness) -> None:
    wrong_key = "sk_test_51WrongKeyThatMustNeverBeLogged0000"
    async with other_gateway(api_key=SecretStr(wrong_key), api_base=harness.base_url) as wrong:
        with pytest.raises(PspAuthError) as refused:
            await wrong.create_payment(payment("pm_card_visa"))
    assert "Invalid API Key provided: " + wrong_key in str(refused.value.__cause__)  # the fake
    assert not _leaks(refused.value, wrong_key, "sk_test_51")


async def test_stripe_messages_are_scrubbed_of_keys_and_card_numbers(
    harness: StripeHarness, gateway: StripeGateway
) -> None:
    harness.fail_next("leak")
    with pytest.raises(PspInvalidRequest) as refused:
        await gateway.create_payment(payment("pm_card_visa"))
    assert not _leaks(refused.value, API_KEY, "4242 4242 4242 4242", "4242424242424242")


# --- the harness, as the contract suite will use it ------------------------------------------


async def test_harness_smoke(harness: StripeHarness) -> None:
    gateway = harness.gateway
    assert harness.name == gateway.name == "stripe"
    assert gateway.capabilities.operations == frozenset(Operation)
    assert gateway.capabilities.capture_methods == frozenset(CaptureMethod)
    outcomes: dict[Scenario, PaymentResult] = {}
    for scenario in Scenario:
        outcomes[scenario] = await gateway.create_payment(payment(harness.token(scenario)))
    assert outcomes[Scenario.SUCCESS].status is PaymentStatus.SUCCEEDED
    assert outcomes[Scenario.DECLINED].status is PaymentStatus.FAILED
    assert outcomes[Scenario.INSUFFICIENT_FUNDS].status is PaymentStatus.FAILED
    assert outcomes[Scenario.ACTION_REQUIRED].status is PaymentStatus.REQUIRES_ACTION
    posts = [call for call in harness.calls() if call.method == "POST"]
    assert len(posts) == 4
    assert all(harness.idempotency_header in call.headers for call in posts)
    with pytest.raises(PspInvalidRequest):
        await gateway.attach_payment_method(AttachRequest("cus_1", harness.foreign_token(), idem()))
    assert len(harness.calls()) == 4
