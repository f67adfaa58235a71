"""The gateway contract, one suite for every adapter: a new provider proves itself here.

Each adapter runs through its harness (``tests/psp/*_harness.py``): the real adapter over
its real SDK against a local fake of the provider, or the in-process sandbox. The suite
always attaches a token first and pays with the attached method's reference.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.domain.declines import DeclineCode
from app.domain.money import Money
from app.domain.payments import CaptureMethod, PaymentStatus, RefundReason, RefundStatus
from app.psp.base import (
    AttachRequest,
    CancelRequest,
    CaptureRequest,
    ConfirmRequest,
    CustomerRequest,
    DeleteCustomerRequest,
    EventKind,
    Gateway,
    Operation,
    PaymentRequest,
    RefundRequest,
)
from app.psp.errors import (
    PspAuthError,
    PspInvalidRequest,
    PspOutcomeUnknown,
    PspRateLimited,
    PspUnavailable,
    WebhookVerificationError,
)
from tests.factories import key
from tests.psp.harness import Harness, Scenario

HARNESSES = {
    "sandbox": "tests.psp.sandbox_harness:sandbox_harness",
    "stripe": "tests.psp.stripe_harness:stripe_harness",
    "paypal": "tests.psp.paypal_harness:paypal_harness",
}
AMOUNT = Money(1999, "USD")


@pytest.fixture(params=sorted(HARNESSES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    module, _, factory = HARNESSES[request.param].partition(":")
    make = getattr(importlib.import_module(module), factory)
    with make() as built:
        yield built
        close = getattr(built.gateway, "aclose", None)
        if close is not None:
            await close()


async def customer_and_method(harness: Harness, scenario: Scenario) -> tuple[str, str]:
    gateway: Gateway = harness.gateway
    customer = await gateway.create_customer(
        CustomerRequest(
            customer_key=str(uuid.uuid4()), email="c@example.com", name="C", idempotency_key=key()
        )
    )
    method = await gateway.attach_payment_method(
        AttachRequest(
            psp_customer_id=customer.psp_customer_id,
            token=harness.token(scenario),
            idempotency_key=key(),
        )
    )
    return customer.psp_customer_id, method.psp_reference


async def pay(
    harness: Harness,
    scenario: Scenario,
    *,
    capture: CaptureMethod = CaptureMethod.AUTOMATIC,
    off_session: bool = False,
    idempotency_key: str | None = None,
) -> Any:
    customer, method = await customer_and_method(harness, scenario)
    return await harness.gateway.create_payment(
        PaymentRequest(
            amount=AMOUNT,
            psp_customer_id=customer,
            payment_method=method,
            capture_method=capture,
            off_session=off_session,
            return_url="https://shop.example/return",
            idempotency_key=idempotency_key or key(),
        )
    )


async def test_attach_returns_safe_details(harness: Harness) -> None:
    customer, _ = await customer_and_method(harness, Scenario.SUCCESS)
    details = await harness.gateway.attach_payment_method(
        AttachRequest(customer, harness.token(Scenario.SUCCESS), key())
    )
    assert details.psp_reference
    assert details.type in {"card", "paypal"}
    if details.type == "card":
        assert details.brand and details.last4 and len(details.last4) == 4
        assert details.exp_month is not None and 1 <= details.exp_month <= 12


async def test_automatic_payment_succeeds_and_can_be_retrieved(harness: Harness) -> None:
    result = await pay(harness, Scenario.SUCCESS)
    assert result.status is PaymentStatus.SUCCEEDED
    assert result.amount == AMOUNT
    assert result.amount_received == AMOUNT
    assert result.decline is None
    again = await harness.gateway.retrieve_payment(result.psp_reference)
    assert (again.status, again.amount_received) == (PaymentStatus.SUCCEEDED, AMOUNT)


async def test_replay_with_the_same_key_is_the_same_payment(harness: Harness) -> None:
    idempotency_key = key()
    customer, method = await customer_and_method(harness, Scenario.SUCCESS)
    request = PaymentRequest(
        AMOUNT, customer, method, CaptureMethod.AUTOMATIC, False, None, idempotency_key
    )
    first = await harness.gateway.create_payment(request)
    second = await harness.gateway.create_payment(request)
    assert first.psp_reference == second.psp_reference
    if harness.idempotency_header:
        sent = [
            call.headers.get(harness.idempotency_header)
            for call in harness.calls()
            if call.method == "POST"
        ]
        assert sent.count(idempotency_key) >= 2  # passed on to the provider each time


@pytest.mark.parametrize(
    ("scenario", "codes"),
    [
        (
            Scenario.DECLINED,
            {DeclineCode.CARD_DECLINED, DeclineCode.INSTRUMENT_DECLINED, DeclineCode.DO_NOT_HONOR},
        ),
        (Scenario.INSUFFICIENT_FUNDS, {DeclineCode.INSUFFICIENT_FUNDS}),
    ],
)
async def test_a_decline_is_a_result(
    harness: Harness, scenario: Scenario, codes: set[DeclineCode]
) -> None:
    result = await pay(harness, scenario)
    assert result.status is PaymentStatus.FAILED
    assert result.decline is not None
    assert result.decline.code in codes
    assert result.decline.advice is not None
    assert result.amount_received == Money(0, "USD")


async def test_manual_capture_partial_then_refunds(harness: Harness) -> None:
    authorised = await pay(harness, Scenario.SUCCESS, capture=CaptureMethod.MANUAL)
    assert authorised.status is PaymentStatus.REQUIRES_CAPTURE
    assert authorised.amount_capturable == AMOUNT
    assert harness.gateway.capabilities.supports(Operation.PARTIAL_CAPTURE)
    captured = await harness.gateway.capture_payment(
        CaptureRequest(authorised.psp_reference, Money(1000, "USD"), key())
    )
    assert captured.status is PaymentStatus.SUCCEEDED
    assert captured.amount_received == Money(1000, "USD")
    refund = await harness.gateway.refund(
        RefundRequest(
            payment_reference=captured.psp_reference,
            amount=Money(400, "USD"),
            reason=RefundReason.REQUESTED_BY_CUSTOMER,
            idempotency_key=key(),
        )
    )
    assert refund.status in {RefundStatus.SUCCEEDED, RefundStatus.PENDING}
    assert refund.amount == Money(400, "USD")
    fetched = await harness.gateway.retrieve_refund(refund.psp_reference)
    assert (fetched.psp_reference, fetched.amount) == (refund.psp_reference, refund.amount)


async def test_an_authorisation_can_be_canceled(harness: Harness) -> None:
    authorised = await pay(harness, Scenario.SUCCESS, capture=CaptureMethod.MANUAL)
    canceled = await harness.gateway.cancel_payment(CancelRequest(authorised.psp_reference, key()))
    assert canceled.status is PaymentStatus.CANCELED
    assert canceled.amount_received == Money(0, "USD")


async def test_customer_action_then_success(harness: Harness) -> None:
    pending = await pay(harness, Scenario.ACTION_REQUIRED)
    assert pending.status is PaymentStatus.REQUIRES_ACTION
    assert pending.next_action is not None
    assert pending.next_action.redirect_url or pending.next_action.client_secret
    await harness.complete_action(pending.psp_reference, succeed=True)
    confirmed = await harness.gateway.confirm_payment(ConfirmRequest(pending.psp_reference, key()))
    assert confirmed.status is PaymentStatus.SUCCEEDED
    assert confirmed.amount_received == AMOUNT


async def test_webhooks_are_verified_before_anything_else(harness: Harness) -> None:
    paid = await pay(harness, Scenario.SUCCESS)
    now = datetime.now(UTC)
    headers, body = harness.payment_webhook(paid.psp_reference, at=now)
    event = await harness.gateway.parse_webhook(headers, body, now=now)
    assert event.kind is EventKind.PAYMENT
    assert event.event_id
    assert event.payment is not None
    assert event.payment.psp_reference == paid.psp_reference

    wrong = harness.payment_webhook(paid.psp_reference, at=now, secret_ok=False)
    stale = harness.payment_webhook(paid.psp_reference, at=now - timedelta(minutes=10))
    tampered = (headers, body.replace(b"succeeded", b"failed").replace(b"COMPLETED", b"DENIED"))
    unsigned = ({"content-type": "application/json"}, body)
    for bad_headers, bad_body in (wrong, stale, tampered, unsigned):
        with pytest.raises(WebhookVerificationError):
            await harness.gateway.parse_webhook(bad_headers, bad_body, now=now)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("unavailable", PspUnavailable),
        ("rate_limited", PspRateLimited),
        ("auth", PspAuthError),
    ],
)
async def test_faults_are_typed(harness: Harness, fault: str, error: type[Exception]) -> None:
    harness.fail_next(fault)
    with pytest.raises(error):
        await harness.gateway.create_customer(
            CustomerRequest(str(uuid.uuid4()), "f@example.com", None, key())
        )


async def test_a_timeout_is_an_unknown_outcome(harness: Harness) -> None:
    customer, method = await customer_and_method(harness, Scenario.SUCCESS)
    harness.fail_next("timeout")
    with pytest.raises(PspOutcomeUnknown):
        await harness.gateway.create_payment(
            PaymentRequest(AMOUNT, customer, method, CaptureMethod.AUTOMATIC, True, None, key())
        )


async def test_tokens_of_other_providers_are_refused(harness: Harness) -> None:
    customer, _ = await customer_and_method(harness, Scenario.SUCCESS)
    with pytest.raises(PspInvalidRequest):
        await harness.gateway.attach_payment_method(
            AttachRequest(customer, harness.foreign_token(), key())
        )


async def test_deleting_a_customer_is_idempotent_and_ends_its_methods(harness: Harness) -> None:
    customer, method = await customer_and_method(harness, Scenario.SUCCESS)
    assert harness.gateway.capabilities.supports(Operation.DELETE_CUSTOMER)
    request = DeleteCustomerRequest(customer, (method,))
    await harness.gateway.delete_customer(request)
    await harness.gateway.delete_customer(request)  # gone already: success again
    deletes = [call for call in harness.calls() if call.method == "DELETE"]
    if harness.idempotency_header:  # an HTTP provider: it was asked, twice
        assert len(deletes) >= 2
    with pytest.raises(PspInvalidRequest):
        await harness.gateway.create_payment(
            PaymentRequest(AMOUNT, customer, method, CaptureMethod.AUTOMATIC, True, None, key())
        )


async def test_deleting_a_customer_after_a_fault_succeeds(harness: Harness) -> None:
    customer, method = await customer_and_method(harness, Scenario.SUCCESS)
    harness.fail_next("unavailable")
    with pytest.raises(PspUnavailable):
        await harness.gateway.delete_customer(DeleteCustomerRequest(customer, (method,)))
    await harness.gateway.delete_customer(DeleteCustomerRequest(customer, (method,)))


async def test_deleting_another_providers_customer_is_refused(harness: Harness) -> None:
    with pytest.raises(PspInvalidRequest):
        await harness.gateway.delete_customer(DeleteCustomerRequest(harness.foreign_token()))
