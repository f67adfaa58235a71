"""The sandbox's own promises beyond the shared contract: magic tokens, events, replays."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from app.domain.clock import FrozenClock
from app.domain.declines import ADVICE, DeclineCode, RetryAdvice
from app.domain.money import Money
from app.domain.payments import CaptureMethod, PaymentStatus, RefundReason
from app.psp.base import (
    AttachRequest,
    CustomerRequest,
    DeleteCustomerRequest,
    EventKind,
    PaymentRequest,
    RefundRequest,
)
from app.psp.errors import PspInvalidRequest, PspOutcomeUnknown, PspUnavailable
from app.psp.sandbox import TOKENS, SandboxGateway, tokens

USD = Money(5000, "USD")


class Sink:
    def __init__(self, sandbox: SandboxGateway, clock: FrozenClock) -> None:
        self.events: list[dict[str, object]] = []
        self.sandbox, self.clock = sandbox, clock

    async def __call__(self, headers: dict[str, str], body: bytes) -> None:
        event = await self.sandbox.parse_webhook(headers, body, now=self.clock.now())
        self.events.append({"type": event.type, "kind": event.kind, "event": event})


@pytest.fixture
def sandbox() -> tuple[SandboxGateway, Sink]:
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    gateway = SandboxGateway(webhook_secret=b"s", clock=clock)
    sink = Sink(gateway, clock)
    gateway.sink = sink
    return gateway, sink


async def attach(gateway: SandboxGateway, token: str) -> str:
    details = await gateway.attach_payment_method(AttachRequest("sbxcus_1", token, "k"))
    return details.psp_reference


def request(method: str, key: str, **changes: object) -> PaymentRequest:
    fields: dict[str, object] = {
        "amount": USD,
        "psp_customer_id": "sbxcus_1",
        "payment_method": method,
        "capture_method": CaptureMethod.AUTOMATIC,
        "off_session": False,
        "return_url": None,
        "idempotency_key": key,
    }
    fields.update(changes)
    return PaymentRequest(**fields)  # type: ignore[arg-type]


R, S, C = RetryAdvice.RETRY_LATER, RetryAdvice.DO_NOT_RETRY, RetryAdvice.CUSTOMER_ACTION_REQUIRED


# token: the decline it gives (code, issuer's response code, network advice code), and the
# advice that follows (Visa's category of the code, or the network's advice code).
@pytest.mark.parametrize(
    ("token", "code", "network_code", "advice_code", "advice"),
    [
        ("tok_chargeDeclined", DeclineCode.CARD_DECLINED, None, None, R),
        ("tok_doNotHonor", DeclineCode.DO_NOT_HONOR, "05", None, R),
        ("tok_insufficientFunds", DeclineCode.INSUFFICIENT_FUNDS, None, None, R),
        ("tok_issuerUnavailable", DeclineCode.ISSUER_UNAVAILABLE, "91", None, R),
        ("tok_expiredCard", DeclineCode.EXPIRED_CARD, None, None, C),
        ("tok_incorrectCvc", DeclineCode.INCORRECT_CVC, None, None, C),
        ("tok_lostCard", DeclineCode.LOST_CARD, "41", None, S),
        ("tok_stolenCard", DeclineCode.STOLEN_CARD, "43", None, S),
        ("tok_pickupCard", DeclineCode.PICKUP_CARD, "04", None, S),
        ("tok_accountClosed", DeclineCode.INVALID_ACCOUNT, "46", None, S),
        ("tok_stopPayment", DeclineCode.PAYMENT_STOPPED, "R1", None, S),
        ("tok_fraudulent", DeclineCode.FRAUDULENT, "59", None, S),
        ("tok_mastercardDoNotTryAgain", DeclineCode.CARD_DECLINED, "05", "03", S),
        ("tok_mastercardTryAgainIn72Hours", DeclineCode.INSUFFICIENT_FUNDS, "51", "02", R),
    ],
)
async def test_decline_tokens(
    sandbox: tuple[SandboxGateway, Sink],
    token: str,
    code: DeclineCode,
    network_code: str | None,
    advice_code: str | None,
    advice: RetryAdvice,
) -> None:
    gateway, _ = sandbox
    result = await gateway.create_payment(request(await attach(gateway, token), token))
    assert result.status is PaymentStatus.FAILED
    decline = result.decline
    assert decline is not None
    assert (decline.code, decline.network_decline_code, decline.network_advice_code) == (
        code,
        network_code,
        advice_code,
    )
    assert decline.advice is advice


async def test_three_d_secure_off_session_needs_the_customer(
    sandbox: tuple[SandboxGateway, Sink],
) -> None:
    gateway, _ = sandbox
    method = await attach(gateway, "tok_threeDSecureRequired")
    result = await gateway.create_payment(request(method, "off", off_session=True))
    assert result.decline is not None
    assert result.decline.code is DeclineCode.AUTHENTICATION_REQUIRED
    assert result.decline.advice is RetryAdvice.CUSTOMER_ACTION_REQUIRED
    challenged = await gateway.create_payment(request(method, "on"))
    assert challenged.status is PaymentStatus.REQUIRES_ACTION
    failed = await gateway.complete_action(challenged.psp_reference, succeed=False)
    assert failed.decline is not None
    assert failed.decline.code is DeclineCode.AUTHENTICATION_FAILED


async def test_timeout_charges_then_resolves_on_retrieve_or_replay(
    sandbox: tuple[SandboxGateway, Sink],
) -> None:
    gateway, sink = sandbox
    method = await attach(gateway, "tok_timeout")
    with pytest.raises(PspOutcomeUnknown) as unknown:
        await gateway.create_payment(request(method, "t1"))
    reference = unknown.value.psp_reference
    assert reference is not None
    retrieved = await gateway.retrieve_payment(reference)
    assert retrieved.status is PaymentStatus.SUCCEEDED
    replay = await gateway.create_payment(request(method, "t1"))
    assert replay == retrieved  # same payment: nothing charged twice
    assert [e["type"] for e in sink.events] == ["payment.succeeded"]


async def test_disputed_token_emits_a_dispute(sandbox: tuple[SandboxGateway, Sink]) -> None:
    gateway, sink = sandbox
    paid = await gateway.create_payment(request(await attach(gateway, "tok_disputed"), "d"))
    assert paid.status is PaymentStatus.SUCCEEDED
    kinds = [e["kind"] for e in sink.events]
    assert kinds == [EventKind.PAYMENT, EventKind.DISPUTE]
    dispute = sink.events[1]["event"].dispute  # type: ignore[attr-defined]
    assert dispute.payment_reference == paid.psp_reference
    assert dispute.amount == USD


async def test_key_reuse_with_other_parameters_is_refused(
    sandbox: tuple[SandboxGateway, Sink],
) -> None:
    gateway, _ = sandbox
    method = await attach(gateway, "tok_visa")
    await gateway.create_payment(request(method, "same"))
    with pytest.raises(PspInvalidRequest) as refused:
        await gateway.create_payment(request(method, "same", amount=Money(1, "USD")))
    assert refused.value.code == "idempotency_key_reused"


async def test_refunds_never_exceed_the_capture(sandbox: tuple[SandboxGateway, Sink]) -> None:
    gateway, _ = sandbox
    paid = await gateway.create_payment(request(await attach(gateway, "tok_visa"), "r"))
    await gateway.refund(
        RefundRequest(paid.psp_reference, Money(3000, "USD"), RefundReason.OTHER, "r1")
    )
    with pytest.raises(PspInvalidRequest):
        await gateway.refund(
            RefundRequest(paid.psp_reference, Money(2001, "USD"), RefundReason.OTHER, "r2")
        )
    replay = await gateway.refund(
        RefundRequest(paid.psp_reference, Money(3000, "USD"), RefundReason.OTHER, "r1")
    )
    assert replay.amount == Money(3000, "USD")


async def test_unavailable_and_unknown_tokens(sandbox: tuple[SandboxGateway, Sink]) -> None:
    gateway, _ = sandbox
    with pytest.raises(PspUnavailable):
        await attach(gateway, "tok_unavailable")
    with pytest.raises(PspInvalidRequest):
        await attach(gateway, "tok_nope")


async def test_events_are_signed_json(sandbox: tuple[SandboxGateway, Sink]) -> None:
    gateway, _ = sandbox
    headers, body = gateway.signed(
        {"id": "e", "type": "x", "kind": "other", "created": 0, "data": {}}
    )
    assert headers["paygate-sandbox-signature"].startswith("t=")
    assert json.loads(body)["id"] == "e"


def test_every_magic_token_is_documented_and_every_decline_has_advice() -> None:
    assert all(token in (tokens.__doc__ or "") for token in TOKENS)
    assert set(ADVICE) == set(DeclineCode)


async def test_another_process_can_charge_an_attached_card(
    sandbox: tuple[SandboxGateway, Sink],
) -> None:
    gateway, _ = sandbox
    method = await attach(gateway, "tok_insufficientFunds")
    elsewhere = SandboxGateway(
        webhook_secret=b"s", clock=FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    )
    result = await elsewhere.create_payment(request(method, "worker-1"))
    assert result.decline is not None and result.decline.code is DeclineCode.INSUFFICIENT_FUNDS
    with pytest.raises(PspInvalidRequest):
        await elsewhere.create_payment(request("sbxpm_visa_forged", "worker-2"))


async def test_a_deleted_customer_is_recorded_and_can_neither_pay_nor_save_methods(
    sandbox: tuple[SandboxGateway, Sink],
) -> None:
    gateway, _ = sandbox
    created = await gateway.create_customer(CustomerRequest("c-1", None, None, "k"))
    customer = created.psp_customer_id
    details = await gateway.attach_payment_method(AttachRequest(customer, "tok_visa", "k1"))
    await gateway.delete_customer(DeleteCustomerRequest(customer, (details.psp_reference,)))
    await gateway.delete_customer(DeleteCustomerRequest(customer, (details.psp_reference,)))
    assert gateway.deleted_customers == {customer}
    with pytest.raises(PspInvalidRequest, match="detached"):
        await gateway.create_payment(request(details.psp_reference, "pay-1"))
    with pytest.raises(PspInvalidRequest, match="deleted"):
        await gateway.attach_payment_method(AttachRequest(customer, "tok_mastercard", "k2"))
    never_created = "sbxcus_" + "0" * 24
    await gateway.delete_customer(DeleteCustomerRequest(never_created))  # unknown: gone
    with pytest.raises(PspInvalidRequest):  # but nothing the sandbox would never issue
        await gateway.delete_customer(DeleteCustomerRequest(customer, ("pm_card_visa",)))
