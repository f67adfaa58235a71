"""The PayPal adapter: PayPal's documented JSON mapped case by case, and the real
paypal-server-sdk driven over HTTP against the fake PayPal (``paypal_fake``): the requests
it sends, the results it returns, webhook verification and every fault."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
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
    Gateway,
    NextActionKind,
    Operation,
    PaymentMethodDetails,
    PaymentRequest,
    PaymentResult,
    RefundRequest,
    SetupRequest,
)
from app.psp.errors import (
    OperationNotSupported,
    PspAuthError,
    PspBadResponse,
    PspError,
    PspInvalidRequest,
    PspOutcomeUnknown,
    PspRateLimited,
    PspUnavailable,
    WebhookVerificationError,
)
from app.psp.paypal import PayPalGateway, mappers, webhooks
from app.psp.paypal import declines as paypal_declines
from app.settings import PayPalSettings
from tests.factories import key
from tests.psp.fake_server import free_port
from tests.psp.harness import RecordedCall
from tests.psp.paypal_fake import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, fixture
from tests.psp.paypal_harness import PayPalHarness, paypal_harness

USD = Money(1230, "USD")
RETURN = "https://shop.example/paypal/return"
ORDER = "5O190127TN364715T"  # the order of the fixtures
SECRETS = (CLIENT_ID, CLIENT_SECRET, base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()))


@pytest.fixture(scope="module")
def harness() -> Iterator[PayPalHarness]:
    with paypal_harness(timeout_seconds=1.0) as built:
        yield built


@pytest.fixture(autouse=True)
def _fresh(harness: PayPalHarness) -> None:
    harness.fake.reset()


def posts(harness: PayPalHarness, suffix: str) -> list[RecordedCall]:
    return [c for c in harness.calls() if c.method == "POST" and c.path.endswith(suffix)]


def orders_of(harness: PayPalHarness, idempotency_key: str) -> list[str]:
    """The fake's orders created with this key (it is their custom_id)."""
    return [
        order["id"]
        for order in harness.fake.orders.values()
        if order["purchase_units"][0].get("custom_id") == idempotency_key
    ]


def assert_no_secrets(error: BaseException) -> None:
    text = f"{error} {error!r} {error.args!r}"
    for secret in SECRETS:
        assert str(secret) not in text and (
            not isinstance(secret, bytes) or secret.decode() not in text
        )


async def attach(harness: PayPalHarness, behaviour: str) -> PaymentMethodDetails:
    return await harness.gateway.attach_payment_method(
        AttachRequest("paygate-cus-1", harness.fake.setup_token(behaviour), key())
    )


async def pay(
    harness: PayPalHarness,
    behaviour: str | None,
    *,
    amount: Money = USD,
    capture: CaptureMethod = CaptureMethod.AUTOMATIC,
    off_session: bool = False,
    return_url: str | None = RETURN,
    idempotency_key: str | None = None,
) -> PaymentResult:
    method = (await attach(harness, behaviour)).psp_reference if behaviour else None
    return await harness.gateway.create_payment(
        PaymentRequest(
            amount=amount,
            psp_customer_id="paygate-cus-1",
            payment_method=method,
            capture_method=capture,
            off_session=off_session,
            return_url=return_url,
            idempotency_key=idempotency_key or key(),
            description="Annual plan",
        )
    )


def order_with(template: str, kind: str, status: str, **changes: Any) -> dict[str, Any]:
    order = fixture(template)
    transaction = order["purchase_units"][0]["payments"][kind][0]
    transaction["status"] = status
    transaction.update(changes)
    return order


# --- the gateway ---------------------------------------------------------------------------


def test_paypal_declares_what_it_supports(harness: PayPalHarness) -> None:
    gateway = harness.gateway
    assert isinstance(gateway, Gateway)
    assert gateway.name == "paypal"
    assert gateway.capabilities.supports(Operation.PARTIAL_CAPTURE)
    assert gateway.capabilities.capture_methods == frozenset(CaptureMethod)
    assert gateway.capabilities.payment_method_types == {"paypal", "card"}
    assert all(map(gateway.capabilities.supports_currency, ("USD", "EUR", "JPY", "HUF")))
    assert not gateway.capabilities.supports_currency("KWD")


# --- order, capture and authorization statuses (documented JSON) ---------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("CREATED", PaymentStatus.REQUIRES_ACTION),
        ("SAVED", PaymentStatus.REQUIRES_ACTION),
        ("APPROVED", PaymentStatus.REQUIRES_ACTION),
        ("PAYER_ACTION_REQUIRED", PaymentStatus.REQUIRES_ACTION),
        ("VOIDED", PaymentStatus.CANCELED),
    ],
)
def test_order_statuses(status: str, expected: PaymentStatus) -> None:
    order = fixture("order_created")
    order["status"] = status
    result = mappers.payment_from_order(order)
    assert (result.psp_reference, result.status, result.raw_status) == (ORDER, expected, status)
    assert result.amount == Money(10000, "USD")
    assert result.amount_received == Money(0, "USD")


def test_every_order_status_is_covered() -> None:
    assert set(mappers.ORDER_STATUS) == {
        "CREATED", "SAVED", "APPROVED", "PAYER_ACTION_REQUIRED", "VOIDED", "COMPLETED"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("template", "rel"),
    [("order_payer_action_required", "payer-action"), ("order_created", "approve")],
)
def test_the_payer_is_sent_to_the_payer_action_or_approve_link(template: str, rel: str) -> None:
    order = fixture(template)
    result = mappers.payment_from_order(order)
    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.next_action is not None
    assert result.next_action.kind is NextActionKind.REDIRECT
    assert result.next_action.redirect_url == mappers.link(order, rel)
    assert "checkoutnow?token=" in str(result.next_action.redirect_url)


@pytest.mark.parametrize(
    ("status", "expected", "received"),
    [
        ("COMPLETED", PaymentStatus.SUCCEEDED, 10000),
        ("PENDING", PaymentStatus.PROCESSING, 0),
        ("DECLINED", PaymentStatus.FAILED, 0),
        ("REFUNDED", PaymentStatus.SUCCEEDED, 10000),
        ("PARTIALLY_REFUNDED", PaymentStatus.SUCCEEDED, 10000),
        ("FAILED", PaymentStatus.FAILED, 0),
    ],
)
def test_capture_statuses(status: str, expected: PaymentStatus, received: int) -> None:
    result = mappers.payment_from_order(order_with("order_completed_capture", "captures", status))
    assert result.status is expected
    assert result.raw_status == f"COMPLETED/{status}"
    assert result.amount_received == Money(received, "USD")
    assert result.amount_capturable == Money(0, "USD")
    assert (result.decline is not None) == (expected is PaymentStatus.FAILED)
    assert set(mappers.CAPTURE_STATUS) >= {status}


def test_every_capture_and_authorization_status_is_covered() -> None:
    assert set(mappers.CAPTURE_STATUS) == {
        "COMPLETED", "PENDING", "DECLINED", "REFUNDED", "PARTIALLY_REFUNDED", "FAILED"
    }  # fmt: skip
    assert set(mappers.AUTHORIZATION_STATUS) == {
        "CREATED", "CAPTURED", "PARTIALLY_CAPTURED", "VOIDED", "DENIED", "PENDING", "EXPIRED"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("status", "expected", "capturable"),
    [
        ("CREATED", PaymentStatus.REQUIRES_CAPTURE, 10000),
        ("CAPTURED", PaymentStatus.SUCCEEDED, 0),
        ("PARTIALLY_CAPTURED", PaymentStatus.SUCCEEDED, 10000),
        ("VOIDED", PaymentStatus.CANCELED, 0),
        ("DENIED", PaymentStatus.FAILED, 0),
        ("PENDING", PaymentStatus.PROCESSING, 0),
        ("EXPIRED", PaymentStatus.CANCELED, 0),
    ],
)
def test_authorization_statuses(status: str, expected: PaymentStatus, capturable: int) -> None:
    order = order_with("order_completed_authorize", "authorizations", status)
    result = mappers.payment_from_order(order)
    assert (result.status, result.raw_status) == (expected, f"COMPLETED/{status}")
    assert result.amount_capturable == Money(capturable, "USD")
    assert result.amount_received == Money(0, "USD")


def test_a_declined_card_capture_carries_the_processor_code() -> None:
    result = mappers.payment_from_order(fixture("order_completed_card_declined"))
    assert result.status is PaymentStatus.FAILED
    assert result.decline is not None
    assert (result.decline.code, result.decline.provider_code) == (
        DeclineCode.CARD_DECLINED,
        "5100",
    )


@pytest.mark.parametrize(
    ("brand", "advice_code", "advice"),
    [
        # Mastercard's 02: cannot approve now, retry 72 hours later
        ("MASTERCARD", "02", RetryAdvice.RETRY_LATER),
        # Visa's 02: the cardholder stopped this one payment: never resubmit it
        ("VISA", "02", RetryAdvice.DO_NOT_RETRY),
        ("MASTERCARD", "03", RetryAdvice.DO_NOT_RETRY),
        ("VISA", "21", RetryAdvice.DO_NOT_RETRY),
        ("MASTERCARD", "01", RetryAdvice.CUSTOMER_ACTION_REQUIRED),
        ("MASTERCARD", "40", RetryAdvice.RETRY_LATER),  # product information: the code decides
    ],
)
def test_the_networks_payment_advice_code_refines_the_advice(
    brand: str, advice_code: str, advice: RetryAdvice
) -> None:
    order = fixture("order_completed_card_declined")
    order["payment_source"]["card"]["brand"] = brand
    capture = order["purchase_units"][0]["payments"]["captures"][0]
    capture["processor_response"]["payment_advice_code"] = advice_code
    decline = mappers.payment_from_order(order).decline
    assert decline is not None
    assert (decline.code, decline.network, decline.network_advice_code) == (
        DeclineCode.CARD_DECLINED,  # 5100, generic: retried on its own
        brand.lower(),
        advice_code,
    )
    assert decline.advice is advice


def test_a_denied_authorization_carries_the_processor_code() -> None:
    result = mappers.payment_from_order(fixture("order_completed_authorization_denied"))
    assert result.status is PaymentStatus.FAILED
    assert result.decline is not None
    assert (result.decline.code, result.decline.provider_code) == (DeclineCode.DO_NOT_HONOR, "0500")


@pytest.mark.parametrize(
    "broken",
    [
        lambda o: o.update(status="ON_HOLD"),
        lambda o: o["purchase_units"][0]["payments"]["captures"][0].update(status="REVERSED"),
        lambda o: o["purchase_units"][0]["payments"].update(captures=[]),
        lambda o: o["purchase_units"][0].update(amount={"currency_code": "USD", "value": 12.3}),
        lambda o: o["purchase_units"][0].update(amount={"currency_code": "USD", "value": "1e3"}),
        lambda o: o["purchase_units"][0].update(amount={"currency_code": "XXX", "value": "1"}),
        lambda o: o.pop("purchase_units"),
        lambda o: o.pop("id"),
    ],
    ids=[
        "order-status",
        "capture-status",
        "no-capture",
        "float",
        "exponent",
        "currency",
        "no-unit",
        "no-id",
    ],
)
def test_what_we_do_not_know_is_a_bad_response(broken: Any) -> None:
    order = fixture("order_completed_capture")
    broken(order)
    with pytest.raises(PspBadResponse):
        mappers.payment_from_order(order)


def test_authorization_unknown_status_is_a_bad_response() -> None:
    order = order_with("order_completed_authorize", "authorizations", "REAUTHORIZED")
    with pytest.raises(PspBadResponse):
        mappers.payment_from_order(order)


# --- declines ---------------------------------------------------------------------------------

# PayPal's processor response codes (paypal-server-sdk ProcessorResponseCode: the meaning
# after each code) and what they mean for us.
D = DeclineCode
PROCESSOR_CODES = {
    "00N7": D.INCORRECT_CVC,  # CVV2_FAILURE_POSSIBLE_RETRY_WITH_CVV
    "0100": D.DO_NOT_HONOR,  # REFERRAL
    "0390": D.INVALID_ACCOUNT,  # ACCOUNT_NOT_FOUND
    "0500": D.DO_NOT_HONOR,  # DO_NOT_HONOR
    "0580": D.DO_NOT_HONOR,  # UNAUTHORIZED_TRANSACTION
    "0880": D.PROCESSING_ERROR,  # CRYPTOGRAPHIC_FAILURE
    "0960": D.ISSUER_UNAVAILABLE,  # SYSTEM_MALFUNCTION (Visa 96)
    "10BR": D.CARD_DECLINED,  # ISSUER_REJECTED
    "1312": D.CARD_NOT_SUPPORTED,  # INVALID_TRANSACTION_CARD_ISSUER_ACQUIRER
    "1320": D.CURRENCY_NOT_SUPPORTED,  # INVALID_CURRENCY_CODE
    "1330": D.INVALID_ACCOUNT,  # INVALID_ACCOUNT
    "1335": D.INVALID_ACCOUNT,  # INVALID_ACCOUNT_RECURRING
    "1352": D.RESTRICTED_CARD,  # RESTRICTED_OR_INACTIVE_ACCOUNT
    "1380": D.EXPIRED_CARD,  # INVALID_EXPIRATION
    "1382": D.INCORRECT_CVC,  # INVALID_CARD_VERIFICATION_VALUE
    "1393": D.CARD_DECLINED,  # TRANSACTION_CANNOT_BE_COMPLETED
    "5100": D.CARD_DECLINED,  # GENERIC_DECLINE
    "5110": D.INCORRECT_CVC,  # CVV2_FAILURE
    "5120": D.INSUFFICIENT_FUNDS,  # INSUFFICIENT_FUNDS
    "5140": D.INVALID_ACCOUNT,  # CARD_CLOSED
    "5150": D.PICKUP_CARD,  # PICKUP_CARD_SPECIAL_CONDITIONS: do not retry the same card
    "5160": D.DO_NOT_HONOR,  # UNAUTHORIZED_USER
    "5180": D.INVALID_ACCOUNT,  # INVALID_OR_RESTRICTED_CARD: do not retry the same card
    "5210": D.CARD_NOT_SUPPORTED,  # INVALID_TRANSACTION (Visa 12)
    "5400": D.EXPIRED_CARD,  # EXPIRED_CARD
    "5650": D.AUTHENTICATION_REQUIRED,  # DECLINED_SCA_REQUIRED
    "5700": D.CARD_NOT_SUPPORTED,  # TRANSACTION_NOT_PERMITTED (Visa 57)
    "5710": D.LIMIT_EXCEEDED,  # TX_ATTEMPTS_EXCEED_LIMIT
    "5910": D.DO_NOT_TRY_AGAIN,  # ISSUER_NOT_AVAILABLE_NOT_RETRIABLE
    "5920": D.ISSUER_UNAVAILABLE,  # ISSUER_NOT_AVAILABLE_RETRIABLE
    "5930": D.CARD_DECLINED,  # CARD_NOT_ACTIVATED
    "5950": D.INVALID_ACCOUNT,  # DECLINED_DUE_TO_UPDATED_ACCOUNT
    "6300": D.INVALID_ACCOUNT,  # ACCOUNT_NOT_ON_FILE
    "7700": D.AUTHENTICATION_FAILED,  # ERROR_3DS
    "7710": D.AUTHENTICATION_FAILED,  # AUTHENTICATION_FAILED
    "7800": D.CARD_NOT_SUPPORTED,  # BIN_ERROR
    "8000": D.PROCESSING_ERROR,  # PROCESSOR_SYSTEM_ERROR
    "8110": D.PROCESSING_ERROR,  # RETRIABLE_COMMUNICATION_ERROR
    "8220": D.PROCESSING_ERROR,  # SYSTEM_UNAVAILABLE
    "9100": D.TRY_AGAIN_LATER,  # DECLINED_PLEASE_RETRY
    "9500": D.FRAUDULENT,  # SUSPECTED_FRAUD: do not retry the same card
    "9510": D.FRAUDULENT,  # SECURITY_VIOLATION
    "9520": D.LOST_OR_STOLEN,  # LOST_OR_STOLEN: do not retry the same card
    "9530": D.DO_NOT_HONOR,  # HOLD_CALL_CENTER
    "9540": D.CARD_DECLINED,  # REFUSED_CARD
    "PCVV": D.INCORRECT_CVC,  # CVV_FAILURE
    "PPC2": D.INCORRECT_CVC,  # ARC_CVV
    "PPAB": D.RESTRICTED_CARD,  # ACCOUNT_BLOCKED_BY_ISSUER
    "PPAX": D.LIMIT_EXCEEDED,  # AMOUNT_EXCEEDED
    "PPCT": D.CARD_NOT_SUPPORTED,  # CARD_TYPE_UNSUPPORTED
    "PPCU": D.CURRENCY_NOT_SUPPORTED,  # CURRENCY_USED_INVALID
    "PPUC": D.CURRENCY_NOT_SUPPORTED,  # CURRENCY_CODE_UNSUPPORTED
    "PPD3": D.AUTHENTICATION_FAILED,  # SECURE_ERROR_3DS
    "PPEX": D.EXPIRED_CARD,  # EXPIRY_DATE
    "PPEF": D.EXPIRED_CARD,  # EXPIRED_FUNDING_INSTRUMENT
    "PPEL": D.LIMIT_EXCEEDED,  # EXCEEDS_FREQUENCY_LIMIT
    "PPNL": D.DO_NOT_TRY_AGAIN,  # EXCEEDS_NETWORK_FREQUENCY_LIMIT
    "PP06": D.INVALID_ACCOUNT,  # ACCOUNT_CLOSED
    "PPRN": D.DO_NOT_TRY_AGAIN,  # REATTEMPT_NOT_PERMITTED
}
ISSUES = {
    "INSTRUMENT_DECLINED": D.INSTRUMENT_DECLINED,
    "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING": D.INSTRUMENT_DECLINED,
    "PAYER_ACTION_REQUIRED": D.PAYER_ACTION_REQUIRED,
    "TRANSACTION_REFUSED": D.CARD_DECLINED,
    "PAYER_CANNOT_PAY": D.CARD_NOT_SUPPORTED,
    "PAYER_ACCOUNT_LOCKED_OR_CLOSED": D.INVALID_ACCOUNT,
    "PAYER_ACCOUNT_RESTRICTED": D.RESTRICTED_CARD,
    "CARD_EXPIRED": D.EXPIRED_CARD,
    "TRANSACTION_BLOCKED_BY_PAYEE": D.FRAUDULENT,
    "TRANSACTION_LIMIT_EXCEEDED": D.LIMIT_EXCEEDED,
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED": D.LIMIT_EXCEEDED,
}


def test_every_decline_table_entry_is_tested() -> None:
    assert paypal_declines.PROCESSOR_DECLINES == PROCESSOR_CODES
    assert paypal_declines.ISSUE_DECLINES == ISSUES


@pytest.mark.parametrize(("code", "expected"), sorted(PROCESSOR_CODES.items()))
def test_processor_response_codes(code: str, expected: DeclineCode) -> None:
    order = fixture("order_completed_card_declined")
    capture = order["purchase_units"][0]["payments"]["captures"][0]
    capture["processor_response"]["response_code"] = code
    decline = mappers.payment_from_order(order).decline
    assert decline is not None
    assert (decline.code, decline.provider_code) == (expected, code)


@pytest.mark.parametrize(("issue", "expected"), sorted(ISSUES.items()))
def test_issue_codes(issue: str, expected: DeclineCode) -> None:
    decline = paypal_declines.decline(issue, "PayPal's description")
    assert (decline.code, decline.provider_code, decline.message) == (
        expected,
        issue,
        "PayPal's description",
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [("DECLINED", DeclineCode.CARD_DECLINED), ("FAILED", DeclineCode.PROCESSING_ERROR)],
)
def test_a_failed_capture_without_processor_code(status: str, expected: DeclineCode) -> None:
    order = order_with("order_completed_capture", "captures", status)
    decline = mappers.payment_from_order(order).decline
    assert decline is not None and (decline.code, decline.provider_code) == (expected, status)


def test_an_unknown_processor_code_is_unknown_with_the_code_kept() -> None:
    order = fixture("order_completed_card_declined")
    order["purchase_units"][0]["payments"]["captures"][0]["processor_response"]["response_code"] = (
        "PPZZ"
    )
    decline = mappers.payment_from_order(order).decline
    assert decline is not None
    assert (decline.code, decline.provider_code) == (DeclineCode.UNKNOWN, "PPZZ")
    # an unmapped code could be Visa category 1: never retried blindly, the customer acts
    assert decline.advice is RetryAdvice.CUSTOMER_ACTION_REQUIRED


# --- refunds, disputes, payment tokens, money -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("COMPLETED", RefundStatus.SUCCEEDED),
        ("PENDING", RefundStatus.PENDING),
        ("FAILED", RefundStatus.FAILED),
        ("CANCELLED", RefundStatus.CANCELED),
    ],
)
def test_refund_statuses(status: str, expected: RefundStatus) -> None:
    refund = fixture("refund")
    refund["status"] = status
    result = mappers.refund_from(refund, ORDER)
    assert (result.status, result.raw_status, result.payment_reference) == (expected, status, ORDER)
    assert (result.psp_reference, result.amount) == ("1JU08902781691411", Money(400, "USD"))
    assert mappers.refund_capture_id(refund) == "2GG279541U471931P"
    assert set(mappers.REFUND_STATUS) == {"COMPLETED", "PENDING", "FAILED", "CANCELLED"}


def test_refund_pending_reason_is_kept_and_unknown_status_refused() -> None:
    refund = fixture("refund")
    refund.update(status="PENDING", status_details={"reason": "ECHECK"})
    assert mappers.refund_from(refund, ORDER).failure_reason == "ECHECK"
    refund["status"] = "REVERSED"
    with pytest.raises(PspBadResponse):
        mappers.refund_from(refund, ORDER)


def dispute(status: str, outcome: str | None = None, stage: str = "CHARGEBACK") -> dict[str, Any]:
    resource: dict[str, Any] = fixture("webhook_dispute_created")["resource"]
    resource.update(status=status, dispute_life_cycle_stage=stage)
    if outcome:
        resource["dispute_outcome"] = {"outcome_code": outcome}
    return resource


@pytest.mark.parametrize(
    ("status", "outcome", "stage", "expected"),
    [
        ("OPEN", None, "INQUIRY", DisputeStatus.NEEDS_RESPONSE),
        ("WAITING_FOR_SELLER_RESPONSE", None, "CHARGEBACK", DisputeStatus.NEEDS_RESPONSE),
        ("WAITING_FOR_BUYER_RESPONSE", None, "INQUIRY", DisputeStatus.UNDER_REVIEW),
        ("UNDER_REVIEW", None, "CHARGEBACK", DisputeStatus.UNDER_REVIEW),
        ("OTHER", None, "CHARGEBACK", DisputeStatus.UNDER_REVIEW),
        ("RESOLVED", "RESOLVED_BUYER_FAVOUR", "CHARGEBACK", DisputeStatus.LOST),
        ("RESOLVED", "ACCEPTED", "CHARGEBACK", DisputeStatus.LOST),
        ("RESOLVED", "RESOLVED_SELLER_FAVOUR", "CHARGEBACK", DisputeStatus.WON),
        ("RESOLVED", "DENIED", "CHARGEBACK", DisputeStatus.WON),
        ("RESOLVED", "CANCELED_BY_BUYER", "CHARGEBACK", DisputeStatus.WON),
        ("RESOLVED", "RESOLVED_WITH_PAYOUT", "CHARGEBACK", DisputeStatus.WON),
        ("RESOLVED", "RESOLVED_SELLER_FAVOUR", "INQUIRY", DisputeStatus.WARNING_CLOSED),
        ("RESOLVED", "CANCELED_BY_BUYER", "INQUIRY", DisputeStatus.WARNING_CLOSED),
    ],
)
def test_dispute_statuses(
    status: str, outcome: str | None, stage: str, expected: DisputeStatus
) -> None:
    result = webhooks.dispute_from(dispute(status, outcome, stage), ORDER)
    assert result.status is expected
    assert (result.psp_reference, result.payment_reference) == ("PP-D-27803", ORDER)
    assert (result.amount, result.reason) == (
        Money(1000, "USD"),
        "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
    )
    assert result.evidence_due_by == datetime(2026, 11, 13, 4, 18, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome"), [("ESCALATED", None), ("RESOLVED", None), ("RESOLVED", "NONE")]
)
def test_unknown_dispute_states_are_bad_responses(status: str, outcome: str | None) -> None:
    with pytest.raises(PspBadResponse):
        webhooks.dispute_from(dispute(status, outcome), ORDER)


def test_a_vaulted_paypal_account_shows_its_email() -> None:
    details = mappers.payment_method_from(fixture("payment_token_paypal"))
    assert details == PaymentMethodDetails(
        psp_reference="4j4mb9b3",
        type="paypal",
        email="customer@example.com",
        fingerprint="QYR5Z8XDVJNXQ",
    )


def test_a_vaulted_card_shows_brand_last_digits_and_expiry() -> None:
    details = mappers.payment_method_from(fixture("payment_token_card"))
    assert details == PaymentMethodDetails(
        psp_reference="8kk8451t",
        type="card",
        brand="visa",
        last4="1111",
        exp_month=2,
        exp_year=2027,
    )


def test_a_payment_token_of_unknown_type_is_a_bad_response() -> None:
    token = fixture("payment_token_card")
    token["payment_source"] = {"bank": {}}
    with pytest.raises(PspBadResponse):
        mappers.payment_method_from(token)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ({"currency_code": "USD", "value": "12.30"}, Money(1230, "USD")),
        ({"currency_code": "USD", "value": "0.01"}, Money(1, "USD")),
        ({"currency_code": "JPY", "value": "1200"}, Money(1200, "JPY")),
        ({"currency_code": "HUF", "value": "1000"}, Money(100000, "HUF")),
        ({"currency_code": "EUR", "value": "92233720368547758.07"}, Money(2**63 - 1, "EUR")),
    ],
)
def test_amounts_are_read_exactly(amount: dict[str, str], expected: Money) -> None:
    assert mappers.money(amount) == expected


@pytest.mark.parametrize(
    ("money", "expected"),
    [
        (Money(1230, "USD"), {"currency_code": "USD", "value": "12.30"}),
        (Money(5, "EUR"), {"currency_code": "EUR", "value": "0.05"}),
        (Money(1200, "JPY"), {"currency_code": "JPY", "value": "1200"}),
        (Money(100000, "HUF"), {"currency_code": "HUF", "value": "1000"}),
        (Money(250000, "TWD"), {"currency_code": "TWD", "value": "2500"}),
    ],
)
def test_amounts_are_written_as_decimal_strings(money: Money, expected: dict[str, str]) -> None:
    assert mappers.amount_json(money) == expected


def test_amounts_paypal_cannot_take_are_refused() -> None:
    with pytest.raises(PspInvalidRequest) as too_precise:
        mappers.amount_json(Money(100050, "HUF"))
    assert too_precise.value.code == "amount_precision"
    with pytest.raises(OperationNotSupported):
        mappers.amount_json(Money(1000, "KWD"))


# --- webhook events (documented JSON) ---------------------------------------------------------


async def map_fixture(name: str) -> Any:
    async def order_of(capture_id: str) -> str:
        assert capture_id == "2GG279541U471931P"
        return ORDER

    return await webhooks.map_event(json.dumps(fixture(name)).encode(), order_of)


@pytest.mark.parametrize(
    ("name", "status", "received", "capturable"),
    [
        ("webhook_capture_completed", PaymentStatus.SUCCEEDED, 10000, 0),
        ("webhook_capture_denied", PaymentStatus.FAILED, 0, 0),
        ("webhook_capture_pending", PaymentStatus.PROCESSING, 0, 0),
        ("webhook_authorization_created", PaymentStatus.REQUIRES_CAPTURE, 0, 10000),
        ("webhook_authorization_voided", PaymentStatus.CANCELED, 0, 0),
        ("webhook_order_approved", PaymentStatus.REQUIRES_ACTION, 0, 0),
    ],
)
async def test_payment_events(
    name: str, status: PaymentStatus, received: int, capturable: int
) -> None:
    event = await map_fixture(name)
    source = fixture(name)
    assert (event.kind, event.psp, event.event_id, event.type) == (
        EventKind.PAYMENT,
        "paypal",
        source["id"],
        source["event_type"],
    )
    assert event.occurred_at == datetime.fromisoformat(source["create_time"])
    assert event.payment is not None
    assert (event.payment.psp_reference, event.payment.status) == (ORDER, status)
    assert event.payment.amount_received == Money(received, "USD")
    assert event.payment.amount_capturable == Money(capturable, "USD")
    if status is PaymentStatus.FAILED:
        assert event.payment.decline is not None
        assert event.payment.decline.code is DeclineCode.CARD_DECLINED


@pytest.mark.parametrize(
    ("name", "amount"), [("webhook_capture_refunded", 400), ("webhook_capture_reversed", 1000)]
)
async def test_refund_events_name_the_order(name: str, amount: int) -> None:
    event = await map_fixture(name)
    assert event.kind is EventKind.REFUND
    assert event.refund is not None
    assert event.refund.payment_reference == ORDER
    assert (event.refund.status, event.refund.amount) == (
        RefundStatus.SUCCEEDED,
        Money(amount, "USD"),
    )


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("webhook_dispute_created", DisputeStatus.NEEDS_RESPONSE),
        ("webhook_dispute_updated", DisputeStatus.UNDER_REVIEW),
        ("webhook_dispute_resolved", DisputeStatus.LOST),
    ],
)
async def test_dispute_events(name: str, status: DisputeStatus) -> None:
    event = await map_fixture(name)
    assert event.kind is EventKind.DISPUTE
    assert event.dispute is not None
    assert (event.dispute.status, event.dispute.payment_reference) == (status, ORDER)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("webhook_payment_token_created", EventKind.PAYMENT_METHOD),
        ("webhook_payment_token_deleted", EventKind.PAYMENT_METHOD),
        ("webhook_other", EventKind.OTHER),
    ],
)
async def test_other_events(name: str, kind: EventKind) -> None:
    event = await map_fixture(name)
    assert (event.kind, event.payment, event.refund, event.dispute) == (kind, None, None, None)


# --- customers and payment methods, through the SDK ----------------------------------------------


async def test_customers_check_credentials_once_and_get_a_stable_id(
    harness: PayPalHarness,
) -> None:
    gateway = harness.gateway
    first = await gateway.create_customer(CustomerRequest("cus-42", None, None, key()))
    again = await gateway.create_customer(CustomerRequest("cus-42", None, None, key()))
    odd = await gateway.create_customer(CustomerRequest("cus 42/ü", None, None, key()))
    assert first.psp_customer_id == again.psp_customer_id == "paygate-cus-42"
    assert odd.psp_customer_id.startswith("paygate-") and " " not in odd.psp_customer_id
    updated = await gateway.update_customer(
        "paygate-cus-42", CustomerRequest("cus-42", "a@b.c", "A", key())
    )
    assert updated.psp_customer_id == "paygate-cus-42"
    # the module's gateway fetched its token before (or here): never once per call
    assert len(posts(harness, "/v1/oauth2/token")) <= 1


async def test_setup_creates_a_vault_setup_token_to_approve_then_attach(
    harness: PayPalHarness,
) -> None:
    idempotency_key = key()
    setup = await harness.gateway.start_setup(
        SetupRequest("paygate-cus-42", RETURN, "https://shop.example/cancel", idempotency_key)
    )
    assert setup.kind is SetupKind.REDIRECT
    assert setup.approval_url == (
        f"{harness.base_url}/agreements/approve?approval_session_id={setup.reference}"
    )
    (call,) = posts(harness, "/v3/vault/setup-tokens")
    assert call.headers["paypal-request-id"] == idempotency_key
    assert call.body == {
        "customer": {"merchant_customer_id": "paygate-cus-42"},
        "payment_source": {
            "paypal": {
                "usage_type": "MERCHANT",
                "customer_type": "CONSUMER",
                "permit_multiple_payment_tokens": False,
                "experience_context": {
                    "return_url": RETURN,
                    "cancel_url": "https://shop.example/cancel",
                    "shipping_preference": "NO_SHIPPING",
                },
            }
        },
    }
    with pytest.raises(PspInvalidRequest) as not_yet:  # the payer has not approved
        await harness.gateway.attach_payment_method(
            AttachRequest("paygate-cus-42", setup.reference, key())
        )
    assert not_yet.value.code == "PAYER_ACTION_REQUIRED"
    async with httpx.AsyncClient() as browser:
        (await browser.get(f"{setup.approval_url}&action=approve")).raise_for_status()
    attach_key = key()
    details = await harness.gateway.attach_payment_method(
        AttachRequest("paygate-cus-42", setup.reference, attach_key)
    )
    assert (details.type, details.email) == ("paypal", "customer@example.com")
    (created,) = posts(harness, "/v3/vault/payment-tokens")[-1:]
    assert created.headers["paypal-request-id"] == attach_key
    assert created.body == {
        "payment_source": {"token": {"id": setup.reference, "type": "SETUP_TOKEN"}}
    }
    replay = await harness.gateway.attach_payment_method(
        AttachRequest("paygate-cus-42", setup.reference, attach_key)
    )
    assert replay == details  # the same PayPal-Request-Id: the same payment token


async def test_setup_needs_a_return_url(harness: PayPalHarness) -> None:
    with pytest.raises(PspInvalidRequest) as refused:
        await harness.gateway.start_setup(SetupRequest("paygate-cus-42", None, None, key()))
    assert refused.value.code == "return_url_required"
    assert harness.calls() == []


async def test_an_attached_card_shows_safe_details(harness: PayPalHarness) -> None:
    details = await attach(harness, "CARD")
    assert (details.type, details.brand, details.last4) == ("card", "visa", "1111")
    assert (details.exp_month, details.exp_year) == (2, 2027)


@pytest.mark.parametrize(
    "token", ["tok_visa", "pm_card_visa", "sbxpm_1f2e3d", "seti_123", "4242424242424242", ""]
)
async def test_tokens_that_are_not_paypal_setup_tokens_are_refused_without_a_call(
    harness: PayPalHarness, token: str
) -> None:
    with pytest.raises(PspInvalidRequest) as refused:
        await harness.gateway.attach_payment_method(AttachRequest("paygate-cus-1", token, key()))
    assert refused.value.code == "token_not_recognised"
    assert "4242" not in str(refused.value)
    assert harness.calls() == []


async def test_an_unknown_setup_token_is_an_invalid_request(harness: PayPalHarness) -> None:
    with pytest.raises(PspInvalidRequest) as refused:
        await harness.gateway.attach_payment_method(
            AttachRequest("paygate-cus-1", "9XK12345AB6789012", key())
        )
    assert refused.value.code == "INVALID_RESOURCE_ID"


async def test_delete_customer_deletes_every_vaulted_token(harness: PayPalHarness) -> None:
    wallet, card = await attach(harness, "PAYPAL"), await attach(harness, "CARD")
    references = (wallet.psp_reference, card.psp_reference, wallet.psp_reference)
    harness.fake.reset()
    await harness.gateway.delete_customer(DeleteCustomerRequest("paygate-cus-1", references))
    deletes = [c.path for c in harness.calls() if c.method == "DELETE"]
    assert deletes == [
        f"/v3/vault/payment-tokens/{wallet.psp_reference}",
        f"/v3/vault/payment-tokens/{card.psp_reference}",
    ]
    assert wallet.psp_reference not in harness.fake.payment_tokens
    # Again: PayPal answers 404 INVALID_RESOURCE_ID for each, which is "gone already".
    await harness.gateway.delete_customer(DeleteCustomerRequest("paygate-cus-1", references))


async def test_delete_customer_checks_every_token_before_the_first_call(
    harness: PayPalHarness,
) -> None:
    wallet = await attach(harness, "PAYPAL")
    harness.fake.reset()
    with pytest.raises(PspInvalidRequest):
        await harness.gateway.delete_customer(
            DeleteCustomerRequest("paygate-cus-1", (wallet.psp_reference, "pm_card_visa"))
        )
    with pytest.raises(PspInvalidRequest):
        await harness.gateway.delete_customer(DeleteCustomerRequest("cus_123"))
    assert harness.calls() == []
    assert wallet.psp_reference in harness.fake.payment_tokens


async def test_a_failed_token_deletion_is_a_typed_fault(harness: PayPalHarness) -> None:
    wallet = await attach(harness, "PAYPAL")
    harness.fail_next("server_error", path=f"/payment-tokens/{wallet.psp_reference}")
    with pytest.raises(PspUnavailable):
        await harness.gateway.delete_customer(
            DeleteCustomerRequest("paygate-cus-1", (wallet.psp_reference,))
        )
    await harness.gateway.delete_customer(
        DeleteCustomerRequest("paygate-cus-1", (wallet.psp_reference,))
    )
    assert wallet.psp_reference not in harness.fake.payment_tokens


async def test_detach_deletes_the_payment_token(harness: PayPalHarness) -> None:
    method = await attach(harness, "PAYPAL")
    await harness.gateway.detach_payment_method(DetachRequest(method.psp_reference, key()))
    deletes = [c for c in harness.calls() if c.method == "DELETE"]
    assert [c.path for c in deletes] == [f"/v3/vault/payment-tokens/{method.psp_reference}"]
    with pytest.raises(PspInvalidRequest):
        await harness.gateway.detach_payment_method(DetachRequest(method.psp_reference, key()))
    with pytest.raises(PspInvalidRequest):  # no longer usable
        await harness.gateway.create_payment(
            PaymentRequest(
                USD, None, method.psp_reference, CaptureMethod.AUTOMATIC, True, None, key()
            )
        )


# --- payments, through the SDK --------------------------------------------------------------------


async def test_an_automatic_payment_is_an_order_with_intent_capture(
    harness: PayPalHarness,
) -> None:
    idempotency_key = key()
    result = await pay(harness, "PAYPAL", idempotency_key=idempotency_key)
    assert result.status is PaymentStatus.SUCCEEDED
    assert (result.amount, result.amount_received, result.amount_capturable) == (
        USD,
        USD,
        Money(0, "USD"),
    )
    assert result.raw_status == "COMPLETED/COMPLETED"
    (call,) = posts(harness, "/v2/checkout/orders")
    vault_id = harness.fake.orders[result.psp_reference]["payment_source"]["paypal"]["attributes"][
        "vault"
    ]["id"]
    assert call.headers["paypal-request-id"] == idempotency_key
    assert call.headers["prefer"] == "return=representation"
    assert call.body == {
        "intent": "CAPTURE",
        "purchase_units": [
            {
                "amount": {"currency_code": "USD", "value": "12.30"},
                "custom_id": idempotency_key,
                "description": "Annual plan",
            }
        ],
        "payment_source": {
            "paypal": {
                "vault_id": vault_id,
                "experience_context": {"return_url": RETURN, "cancel_url": RETURN},
            }
        },
    }
    fetched = await harness.gateway.retrieve_payment(result.psp_reference)
    assert (fetched.status, fetched.amount_received) == (PaymentStatus.SUCCEEDED, USD)


async def test_a_replay_reaches_the_same_order(harness: PayPalHarness) -> None:
    method = (await attach(harness, "PAYPAL")).psp_reference
    request = PaymentRequest(USD, None, method, CaptureMethod.AUTOMATIC, True, None, key())
    first = await harness.gateway.create_payment(request)
    second = await harness.gateway.create_payment(request)
    assert first == second
    created = posts(harness, "/v2/checkout/orders")
    assert [c.headers["paypal-request-id"] for c in created] == [request.idempotency_key] * 2
    assert orders_of(harness, request.idempotency_key) == [first.psp_reference]  # one order


@pytest.mark.parametrize(
    ("money", "value"), [(Money(1200, "JPY"), "1200"), (Money(199, "EUR"), "1.99")]
)
async def test_amounts_go_out_as_decimal_strings(
    harness: PayPalHarness, money: Money, value: str
) -> None:
    result = await pay(harness, "PAYPAL", amount=money)
    assert result.amount_received == money
    (call,) = posts(harness, "/v2/checkout/orders")
    assert call.body["purchase_units"][0]["amount"] == {
        "currency_code": money.currency,
        "value": value,
    }


async def test_manual_capture_authorizes_then_captures_part(harness: PayPalHarness) -> None:
    authorised = await pay(harness, "PAYPAL", capture=CaptureMethod.MANUAL)
    assert authorised.status is PaymentStatus.REQUIRES_CAPTURE
    assert authorised.amount_capturable == USD
    assert posts(harness, "/v2/checkout/orders")[0].body["intent"] == "AUTHORIZE"
    capture_key = key()
    captured = await harness.gateway.capture_payment(
        CaptureRequest(authorised.psp_reference, Money(500, "USD"), capture_key)
    )
    assert captured.status is PaymentStatus.SUCCEEDED
    assert (captured.amount_received, captured.amount_capturable) == (
        Money(500, "USD"),
        Money(0, "USD"),
    )
    (call,) = posts(harness, "/capture")
    authorization = harness.fake.orders[authorised.psp_reference]["purchase_units"][0]["payments"][
        "authorizations"
    ][0]
    assert call.path == f"/v2/payments/authorizations/{authorization['id']}/capture"
    assert call.headers["paypal-request-id"] == capture_key
    assert call.body == {"final_capture": True, "amount": {"currency_code": "USD", "value": "5.00"}}
    assert await harness.gateway.retrieve_payment(authorised.psp_reference) == captured
    again = await harness.gateway.capture_payment(
        CaptureRequest(authorised.psp_reference, None, key())
    )
    assert again == captured and len(posts(harness, "/capture")) == 1  # nothing left to capture


async def test_a_full_capture_sends_no_amount(harness: PayPalHarness) -> None:
    authorised = await pay(harness, "CARD", capture=CaptureMethod.MANUAL)
    captured = await harness.gateway.capture_payment(
        CaptureRequest(authorised.psp_reference, None, key())
    )
    assert (captured.status, captured.amount_received) == (PaymentStatus.SUCCEEDED, USD)
    assert posts(harness, "/capture")[0].body == {"final_capture": True}


async def test_cancel_voids_the_authorization(harness: PayPalHarness) -> None:
    authorised = await pay(harness, "PAYPAL", capture=CaptureMethod.MANUAL)
    cancel_key = key()
    canceled = await harness.gateway.cancel_payment(
        CancelRequest(authorised.psp_reference, cancel_key)
    )
    assert (canceled.status, canceled.amount_received, canceled.amount_capturable) == (
        PaymentStatus.CANCELED,
        Money(0, "USD"),
        Money(0, "USD"),
    )
    (call,) = posts(harness, "/void")
    assert call.headers["paypal-request-id"] == cancel_key
    again = await harness.gateway.cancel_payment(CancelRequest(authorised.psp_reference, key()))
    assert again.status is PaymentStatus.CANCELED and len(posts(harness, "/void")) == 1
    with pytest.raises(PspInvalidRequest) as refused:
        await harness.gateway.capture_payment(CaptureRequest(authorised.psp_reference, None, key()))
    assert refused.value.code == "not_capturable"


async def test_a_captured_payment_cannot_be_canceled(harness: PayPalHarness) -> None:
    paid = await pay(harness, "PAYPAL")
    with pytest.raises(PspInvalidRequest) as refused:
        await harness.gateway.cancel_payment(CancelRequest(paid.psp_reference, key()))
    assert refused.value.code == "not_cancelable"


async def test_refunds(harness: PayPalHarness) -> None:
    paid = await pay(harness, "PAYPAL")
    refund_key = key()
    refund = await harness.gateway.refund(
        RefundRequest(paid.psp_reference, Money(400, "USD"), RefundReason.DUPLICATE, refund_key)
    )
    assert (refund.status, refund.amount, refund.payment_reference) == (
        RefundStatus.SUCCEEDED,
        Money(400, "USD"),
        paid.psp_reference,
    )
    (call,) = posts(harness, "/refund")
    assert call.headers["paypal-request-id"] == refund_key
    assert call.body == {
        "amount": {"currency_code": "USD", "value": "4.00"},
        "note_to_payer": "Refund of a duplicate payment.",
    }
    assert await harness.gateway.retrieve_refund(refund.psp_reference) == refund
    with pytest.raises(PspInvalidRequest) as too_much:
        await harness.gateway.refund(
            RefundRequest(paid.psp_reference, USD, RefundReason.OTHER, key())
        )
    assert too_much.value.code == "REFUND_AMOUNT_EXCEEDED"


async def test_an_uncaptured_payment_cannot_be_refunded(harness: PayPalHarness) -> None:
    authorised = await pay(harness, "PAYPAL", capture=CaptureMethod.MANUAL)
    with pytest.raises(PspInvalidRequest) as refused:
        await harness.gateway.refund(
            RefundRequest(authorised.psp_reference, USD, RefundReason.OTHER, key())
        )
    assert refused.value.code == "not_refundable"


@pytest.mark.parametrize("capture", list(CaptureMethod))
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("5100", DeclineCode.CARD_DECLINED),
        ("5120", DeclineCode.INSUFFICIENT_FUNDS),
        ("5400", DeclineCode.EXPIRED_CARD),
        ("00N7", DeclineCode.INCORRECT_CVC),
        ("9500", DeclineCode.FRAUDULENT),
    ],
)
async def test_card_declines_are_results(
    harness: PayPalHarness, capture: CaptureMethod, code: str, expected: DeclineCode
) -> None:
    result = await pay(harness, f"DECLINE{code}", capture=capture)
    assert result.status is PaymentStatus.FAILED
    assert result.psp_reference in harness.fake.orders
    assert result.decline is not None
    assert (result.decline.code, result.decline.provider_code) == (expected, code)
    assert result.amount_received == result.amount_capturable == Money(0, "USD")


async def test_an_instrument_declined_at_creation_is_a_result(harness: PayPalHarness) -> None:
    result = await pay(harness, "REFUSED")
    assert (result.status, result.psp_reference) == (PaymentStatus.FAILED, "")  # no order
    assert result.decline is not None
    assert result.decline.code is DeclineCode.INSTRUMENT_DECLINED
    assert result.decline.advice is RetryAdvice.CUSTOMER_ACTION_REQUIRED
    assert result.raw_status == "DECLINED/INSTRUMENT_DECLINED"


async def test_a_pending_capture_is_processing(harness: PayPalHarness) -> None:
    result = await pay(harness, "PENDING")
    assert (result.status, result.amount_received) == (PaymentStatus.PROCESSING, Money(0, "USD"))


async def test_payer_approval_then_confirm_captures(harness: PayPalHarness) -> None:
    pending = await pay(harness, "ACTION")
    assert pending.status is PaymentStatus.REQUIRES_ACTION
    assert pending.next_action is not None
    assert pending.next_action.redirect_url == (
        f"{harness.base_url}/checkoutnow?token={pending.psp_reference}"
    )
    early = await harness.gateway.confirm_payment(ConfirmRequest(pending.psp_reference, key()))
    assert early.status is PaymentStatus.REQUIRES_ACTION and not posts(harness, "/capture")
    await harness.complete_action(pending.psp_reference, succeed=True)
    confirm_key = key()
    confirmed = await harness.gateway.confirm_payment(
        ConfirmRequest(pending.psp_reference, confirm_key)
    )
    assert (confirmed.status, confirmed.amount_received) == (PaymentStatus.SUCCEEDED, USD)
    (call,) = posts(harness, "/capture")
    assert call.path == f"/v2/checkout/orders/{pending.psp_reference}/capture"
    assert call.headers["paypal-request-id"] == confirm_key
    again = await harness.gateway.confirm_payment(ConfirmRequest(pending.psp_reference, key()))
    assert again == confirmed and len(posts(harness, "/capture")) == 1


async def test_payer_approval_then_confirm_authorizes(harness: PayPalHarness) -> None:
    pending = await pay(harness, "CARD3DS", capture=CaptureMethod.MANUAL)
    await harness.complete_action(pending.psp_reference, succeed=True)
    confirmed = await harness.gateway.confirm_payment(ConfirmRequest(pending.psp_reference, key()))
    assert (confirmed.status, confirmed.amount_capturable) == (PaymentStatus.REQUIRES_CAPTURE, USD)
    assert posts(harness, "/authorize")


async def test_a_confirm_that_lost_a_race_returns_the_completed_order(
    harness: PayPalHarness,
) -> None:
    pending = await pay(harness, "ACTION")
    await harness.complete_action(pending.psp_reference, succeed=True)
    stale = copy.deepcopy(harness.fake.orders[pending.psp_reference])  # still APPROVED
    await harness.gateway.confirm_payment(ConfirmRequest(pending.psp_reference, key()))
    late = await harness.gateway._complete(stale, key())  # as a concurrent confirm would
    assert late.status is PaymentStatus.SUCCEEDED  # ORDER_ALREADY_CAPTURED, then a GET


@pytest.mark.parametrize(
    ("behaviour", "expected", "reference"),
    [
        ("ACTION", DeclineCode.INSTRUMENT_DECLINED, True),  # 422 on capture
        ("CARD3DS", DeclineCode.AUTHENTICATION_FAILED, True),  # capture DECLINED 7710
    ],
)
async def test_a_failed_payer_action_fails_the_payment(
    harness: PayPalHarness, behaviour: str, expected: DeclineCode, reference: bool
) -> None:
    pending = await pay(harness, behaviour)
    await harness.complete_action(pending.psp_reference, succeed=False)
    result = await harness.gateway.confirm_payment(ConfirmRequest(pending.psp_reference, key()))
    assert result.status is PaymentStatus.FAILED
    assert result.psp_reference == pending.psp_reference
    assert result.decline is not None and result.decline.code is expected


@pytest.mark.parametrize(
    ("behaviour", "source", "credential", "expected"),
    [
        (
            "ACTION",
            "paypal",
            {"payment_initiator": "MERCHANT", "usage": "SUBSEQUENT"},
            DeclineCode.PAYER_ACTION_REQUIRED,
        ),
        (
            "CARD3DS",
            "card",
            {"payment_initiator": "MERCHANT", "payment_type": "UNSCHEDULED", "usage": "SUBSEQUENT"},
            DeclineCode.AUTHENTICATION_REQUIRED,
        ),
    ],
)
async def test_off_session_a_payer_action_is_a_decline(
    harness: PayPalHarness,
    behaviour: str,
    source: str,
    credential: dict[str, str],
    expected: DeclineCode,
) -> None:
    result = await pay(harness, behaviour, off_session=True)
    assert result.status is PaymentStatus.FAILED
    assert result.decline is not None and result.decline.code is expected
    sent = posts(harness, "/v2/checkout/orders")[0].body["payment_source"][source]
    assert sent["stored_credential"] == credential
    assert "experience_context" not in sent


async def test_a_checkout_without_a_saved_method_is_approved_by_the_payer(
    harness: PayPalHarness,
) -> None:
    pending = await pay(harness, None)
    assert pending.status is PaymentStatus.REQUIRES_ACTION
    assert posts(harness, "/v2/checkout/orders")[0].body["payment_source"] == {
        "paypal": {
            "experience_context": {
                "return_url": RETURN,
                "cancel_url": RETURN,
                "user_action": "PAY_NOW",
                "shipping_preference": "NO_SHIPPING",
            }
        }
    }
    await harness.complete_action(pending.psp_reference, succeed=True)
    confirmed = await harness.gateway.confirm_payment(ConfirmRequest(pending.psp_reference, key()))
    assert confirmed.status is PaymentStatus.SUCCEEDED
    with pytest.raises(PspInvalidRequest):
        await pay(harness, None, return_url=None)


@pytest.mark.parametrize(
    ("money", "error"), [(Money(100050, "HUF"), PspInvalidRequest), (Money(1, "KWD"), PspError)]
)
async def test_amounts_paypal_cannot_take_never_reach_it(
    harness: PayPalHarness, money: Money, error: type[PspError]
) -> None:
    method = (await attach(harness, "PAYPAL")).psp_reference
    harness.fake.reset()
    with pytest.raises(error):
        await harness.gateway.create_payment(
            PaymentRequest(money, None, method, CaptureMethod.AUTOMATIC, True, None, key())
        )
    assert harness.calls() == []


@pytest.mark.parametrize("reference", ["pi_123", "", "sbxpay_1"])
async def test_foreign_payment_references_are_refused_without_a_call(
    harness: PayPalHarness, reference: str
) -> None:
    with pytest.raises(PspInvalidRequest):
        await harness.gateway.retrieve_payment(reference)
    with pytest.raises(PspInvalidRequest):
        await harness.gateway.capture_payment(CaptureRequest(reference, None, key()))
    assert harness.calls() == []


async def test_an_unknown_order_is_an_invalid_request(harness: PayPalHarness) -> None:
    with pytest.raises(PspInvalidRequest) as refused:
        await harness.gateway.retrieve_payment("1AB23456CD7890123")
    assert refused.value.code == "INVALID_RESOURCE_ID"
    assert "Specified resource ID does not exist" in str(refused.value)


# --- webhooks, verified by the fake PayPal ------------------------------------------------------


async def test_a_signed_delivery_is_verified_with_paypal_then_mapped(
    harness: PayPalHarness,
) -> None:
    paid = await pay(harness, "PAYPAL")
    now = datetime.now(UTC)
    headers, body = harness.payment_webhook(paid.psp_reference, at=now)
    event = await harness.gateway.parse_webhook(headers, body, now=now)
    assert (event.kind, event.type) == (EventKind.PAYMENT, "PAYMENT.CAPTURE.COMPLETED")
    assert event.payment is not None
    assert (event.payment.psp_reference, event.payment.status) == (
        paid.psp_reference,
        PaymentStatus.SUCCEEDED,
    )
    (call,) = posts(harness, "/v1/notifications/verify-webhook-signature")
    assert call.body == {
        "transmission_id": headers["PAYPAL-TRANSMISSION-ID"],
        "transmission_time": headers["PAYPAL-TRANSMISSION-TIME"],
        "transmission_sig": headers["PAYPAL-TRANSMISSION-SIG"],
        "cert_url": headers["PAYPAL-CERT-URL"],
        "auth_algo": "SHA256withRSA",
        "webhook_id": WEBHOOK_ID,
        "webhook_event": json.loads(body),
    }


async def test_the_event_goes_to_paypal_byte_for_byte(harness: PayPalHarness) -> None:
    now = datetime.now(UTC)
    event = fixture("webhook_capture_completed")
    body = json.dumps(event, indent=4, ensure_ascii=False).encode()  # not our serialisation
    headers = {name.lower(): value for name, value in harness.fake.sign(body, at=now).items()}
    parsed = await harness.gateway.parse_webhook(headers, body, now=now)  # lower-case names too
    assert parsed.event_id == event["id"]


async def test_refund_and_dispute_events_name_the_order(harness: PayPalHarness) -> None:
    paid = await pay(harness, "PAYPAL")
    refund = await harness.gateway.refund(
        RefundRequest(paid.psp_reference, Money(100, "USD"), RefundReason.OTHER, key())
    )
    now = datetime.now(UTC)
    refunded = fixture("webhook_capture_refunded")
    refunded["resource"] = harness.fake.refunds[refund.psp_reference]
    event = await harness.gateway.parse_webhook(*harness.deliver(refunded, at=now), now=now)
    assert event.refund is not None
    assert (event.refund.psp_reference, event.refund.payment_reference) == (
        refund.psp_reference,
        paid.psp_reference,
    )
    dispute_event = fixture("webhook_dispute_created")  # its capture is unknown here
    event = await harness.gateway.parse_webhook(*harness.deliver(dispute_event, at=now), now=now)
    assert event.dispute is not None and event.dispute.payment_reference == "2GG279541U471931P"
    harness.fake.add_capture(fixture("capture"))  # now PayPal knows it, under ORDER
    event = await harness.gateway.parse_webhook(*harness.deliver(dispute_event, at=now), now=now)
    assert event.dispute is not None and event.dispute.payment_reference == ORDER


async def test_a_tampered_body_or_a_foreign_signature_is_refused(harness: PayPalHarness) -> None:
    now = datetime.now(UTC)
    headers, body = harness.deliver(fixture("webhook_capture_completed"), at=now)
    tampered = body.replace(b'"100.00"', b'"1000.00"')
    foreign = harness.deliver(fixture("webhook_capture_completed"), at=now, secret_ok=False)
    for bad_headers, bad_body in ((headers, tampered), foreign):
        with pytest.raises(WebhookVerificationError):
            await harness.gateway.parse_webhook(bad_headers, bad_body, now=now)
    answers = posts(harness, "/verify-webhook-signature")
    assert len(answers) == 2  # PayPal was asked, and answered FAILURE


@pytest.mark.parametrize("missing", sorted(webhooks.HEADERS.values()))
async def test_a_delivery_missing_a_header_is_refused_without_a_call(
    harness: PayPalHarness, missing: str
) -> None:
    now = datetime.now(UTC)
    headers, body = harness.deliver(fixture("webhook_capture_completed"), at=now)
    headers = {k: v for k, v in headers.items() if k.lower() != missing}
    with pytest.raises(WebhookVerificationError):
        await harness.gateway.parse_webhook(headers, body, now=now)
    assert harness.calls() == []


@pytest.mark.parametrize("offset", [-301, 301, -3600])
async def test_a_stale_or_future_transmission_is_refused_without_a_call(
    harness: PayPalHarness, offset: int
) -> None:
    now = datetime.now(UTC)
    headers, body = harness.deliver(
        fixture("webhook_capture_completed"), at=now + timedelta(seconds=offset)
    )
    with pytest.raises(WebhookVerificationError):
        await harness.gateway.parse_webhook(headers, body, now=now)
    assert harness.calls() == []


async def test_a_transmission_within_five_minutes_is_accepted(harness: PayPalHarness) -> None:
    now = datetime.now(UTC)
    headers, body = harness.deliver(
        fixture("webhook_capture_completed"), at=now - timedelta(seconds=299)
    )
    assert (await harness.gateway.parse_webhook(headers, body, now=now)).kind is EventKind.PAYMENT
    naive = now.replace(tzinfo=None)  # a naive "now" is taken as UTC
    assert (await harness.gateway.parse_webhook(headers, body, now=naive)).event_id


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
async def test_a_body_that_is_not_an_event_is_refused_without_a_call(
    harness: PayPalHarness, body: bytes
) -> None:
    now = datetime.now(UTC)
    with pytest.raises(WebhookVerificationError):
        await harness.gateway.parse_webhook(harness.fake.sign(body, at=now), body, now=now)
    assert harness.calls() == []


async def test_without_a_webhook_id_nothing_is_accepted(harness: PayPalHarness) -> None:
    gateway = PayPalGateway(settings(harness.base_url, webhook_id=None))
    now = datetime.now(UTC)
    headers, body = harness.deliver(fixture("webhook_capture_completed"), at=now)
    with pytest.raises(WebhookVerificationError):
        await gateway.parse_webhook(headers, body, now=now)


async def test_paypal_down_while_verifying_is_a_fault_not_a_refusal(
    harness: PayPalHarness,
) -> None:
    now = datetime.now(UTC)
    headers, body = harness.deliver(fixture("webhook_capture_completed"), at=now)
    harness.fail_next("unavailable", path="/verify-webhook-signature")
    with pytest.raises(PspUnavailable):  # PayPal will deliver again
        await harness.gateway.parse_webhook(headers, body, now=now)


# --- faults ---------------------------------------------------------------------------------------


def settings(base_url: str, **changes: Any) -> PayPalSettings:
    values: dict[str, Any] = {
        "client_id": SecretStr(CLIENT_ID),
        "client_secret": SecretStr(CLIENT_SECRET),
        "webhook_id": WEBHOOK_ID,
        "api_base": base_url,
        "timeout_seconds": 1.0,
    }
    values.update(changes)
    return PayPalSettings(**values)


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ("unavailable", PspUnavailable, "SERVICE_UNAVAILABLE"),
        ("server_error", PspUnavailable, "INTERNAL_SERVER_ERROR"),
        ("rate_limited", PspRateLimited, "RATE_LIMIT_REACHED"),
        ("auth", PspAuthError, "invalid_token"),
        ("forbidden", PspAuthError, "PERMISSION_DENIED"),
        ("garbage", PspBadResponse, None),
    ],
)
async def test_api_faults_are_typed(
    harness: PayPalHarness, fault: str, error: type[PspError], code: str | None
) -> None:
    paid = await pay(harness, "PAYPAL")
    harness.fail_next(fault)
    with pytest.raises(error) as raised:
        await harness.gateway.retrieve_payment(paid.psp_reference)
    assert raised.value.psp == "paypal" and raised.value.code == code
    assert type(raised.value.__cause__).__module__.split(".")[0] == "paypalserversdk" or (
        fault == "garbage"
    )
    assert raised.value.retryable is (error in (PspUnavailable, PspRateLimited))
    assert_no_secrets(raised.value)
    again = await harness.gateway.retrieve_payment(paid.psp_reference)  # a token refetch if 401
    assert again.status is PaymentStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("unavailable", PspUnavailable),
        ("rate_limited", PspRateLimited),
        ("auth", PspAuthError),
        ("timeout", PspUnavailable),  # the payment itself was never sent
    ],
)
async def test_oauth_faults_are_typed(
    harness: PayPalHarness, fault: str, error: type[PspError]
) -> None:
    gateway = PayPalGateway(settings(harness.base_url))  # no token yet
    harness.fail_next(fault, path="/v1/oauth2/token")
    with pytest.raises(error) as raised:
        await gateway.create_customer(CustomerRequest("cus-1", None, None, key()))
    assert_no_secrets(raised.value)


async def test_wrong_credentials_are_an_auth_error_without_secrets(
    harness: PayPalHarness,
) -> None:
    gateway = PayPalGateway(settings(harness.base_url, client_secret=SecretStr("wrong-secret")))
    with pytest.raises(PspAuthError) as raised:
        await gateway.create_customer(CustomerRequest("cus-1", None, None, key()))
    assert raised.value.code == "invalid_client"
    assert "wrong-secret" not in f"{raised.value} {raised.value!r}"
    assert_no_secrets(raised.value)


async def test_a_refused_token_is_fetched_again() -> None:
    with paypal_harness(timeout_seconds=1.0) as own:  # revoking tokens: a fake of its own
        await own.gateway.create_customer(CustomerRequest("cus-1", None, None, key()))
        own.fake.revoke_tokens()
        with pytest.raises(PspAuthError):
            await own.gateway.retrieve_payment("1AB23456CD7890123")
        with pytest.raises(PspInvalidRequest):  # authenticated again: now a plain 404
            await own.gateway.retrieve_payment("1AB23456CD7890123")
        assert len(posts(own, "/v1/oauth2/token")) == 2


async def test_an_unreachable_paypal_is_unavailable(harness: PayPalHarness) -> None:
    gateway = PayPalGateway(settings(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(PspUnavailable) as raised:
        await gateway.create_customer(CustomerRequest("cus-1", None, None, key()))
    assert raised.value.retryable
    assert_no_secrets(raised.value)


async def test_a_timeout_creating_the_order_is_an_unknown_outcome_then_a_replay(
    harness: PayPalHarness,
) -> None:
    method = (await attach(harness, "PAYPAL")).psp_reference
    request = PaymentRequest(USD, None, method, CaptureMethod.AUTOMATIC, True, None, key())
    harness.fail_next("timeout", path="/v2/checkout/orders")
    with pytest.raises(PspOutcomeUnknown) as raised:
        await harness.gateway.create_payment(request)
    assert raised.value.psp_reference is None and raised.value.retryable
    assert_no_secrets(raised.value)
    replayed = await harness.gateway.create_payment(request)  # same key: the same order
    assert replayed.status is PaymentStatus.SUCCEEDED
    assert orders_of(harness, request.idempotency_key) == [replayed.psp_reference]


async def test_a_timeout_confirming_knows_the_payment(harness: PayPalHarness) -> None:
    pending = await pay(harness, "ACTION")
    await harness.complete_action(pending.psp_reference, succeed=True)
    harness.fail_next("timeout", path="/capture")
    with pytest.raises(PspOutcomeUnknown) as raised:
        await harness.gateway.confirm_payment(ConfirmRequest(pending.psp_reference, key()))
    assert raised.value.psp_reference == pending.psp_reference
    reconciled = await harness.gateway.retrieve_payment(pending.psp_reference)
    assert reconciled.status is PaymentStatus.SUCCEEDED  # it did happen
