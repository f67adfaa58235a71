"""The sandbox PSP: deterministic, in-process, with magic tokens (as Stripe's test mode).

Its magic tokens, and what each does, are listed in ``app.psp.sandbox.tokens``.

References are derived from idempotency keys, so a replay reaches the same object.
Customers are derived from our customer key and hold nothing; ``delete_customer`` records
the deletion, with the detachment of the customer's methods, in this process's memory
(where the sandbox keeps its payments too): afterwards the customer cannot get new methods
and its methods cannot pay here. Creating the customer again revives its id. Events
(payment, refund and dispute changes) are signed like Stripe's and handed to ``sink``,
which the application wires to its own webhook endpoint's code path.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from app.domain.clock import Clock
from app.domain.declines import Decline, DeclineCode
from app.domain.money import Money
from app.domain.payment_methods import SetupKind
from app.domain.payments import CaptureMethod, DisputeStatus, PaymentStatus, RefundStatus
from app.psp import signing
from app.psp.base import (
    AttachRequest,
    CancelRequest,
    Capabilities,
    CaptureRequest,
    ConfirmRequest,
    CustomerRequest,
    CustomerResult,
    DeleteCustomerRequest,
    DetachRequest,
    DisputeEvidenceRequest,
    DisputeInfo,
    EventKind,
    NextAction,
    NextActionKind,
    Operation,
    PaymentMethodDetails,
    PaymentRequest,
    PaymentResult,
    RefundRequest,
    RefundResult,
    SetupRequest,
    SetupResult,
    WebhookEvent,
)
from app.psp.codec import encode
from app.psp.errors import PspInvalidRequest, PspOutcomeUnknown, PspUnavailable
from app.psp.sandbox.events import decode_event
from app.psp.sandbox.tokens import TOKENS, card_of, decline

SIGNATURE_HEADER = "paygate-sandbox-signature"
EventSink = Callable[[dict[str, str], bytes], Awaitable[None]]
_CANCELABLE = (PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.REQUIRES_ACTION)
_CUSTOMER = re.compile(r"sbxcus_[0-9a-f]{24}")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


@dataclass
class _Payment:
    result: PaymentResult
    token: str
    request_fingerprint: str
    off_session: bool
    capture_method: CaptureMethod
    refunded: int = 0
    timed_out: bool = False


class SandboxGateway:
    name = "sandbox"
    capabilities = Capabilities(
        operations=frozenset(Operation),
        capture_methods=frozenset(CaptureMethod),
        payment_method_types=frozenset({"card"}),
    )

    def __init__(
        self,
        *,
        webhook_secret: bytes,
        clock: Clock,
        action_url: str = "/sandbox/actions",
        sink: EventSink | None = None,
    ) -> None:
        self._secret = webhook_secret
        self._clock = clock
        self._action_url = action_url.rstrip("/")
        self.sink = sink
        self._detached: set[str] = set()  # payment method references
        self._deleted_customers: set[str] = set()
        self._payments: dict[str, _Payment] = {}
        self._by_key: dict[str, str] = {}  # idempotency key -> payment reference
        self._refunds: dict[str, RefundResult] = {}
        self._disputes: dict[str, DisputeInfo] = {}
        # Evidence submitted per dispute reference, as received (tests read it).
        self.evidence: dict[str, DisputeEvidenceRequest] = {}
        self._lock = asyncio.Lock()

    # --- customers and payment methods ----------------------------------------------

    async def create_customer(self, request: CustomerRequest) -> CustomerResult:
        psp_customer_id = f"sbxcus_{_digest(request.customer_key)}"
        self._deleted_customers.discard(psp_customer_id)
        return CustomerResult(psp_customer_id=psp_customer_id)

    async def update_customer(
        self, psp_customer_id: str, request: CustomerRequest
    ) -> CustomerResult:
        self._existing(psp_customer_id)
        return CustomerResult(psp_customer_id=psp_customer_id)

    async def delete_customer(self, request: DeleteCustomerRequest) -> None:
        """Idempotent: a customer deleted before (or never created) is gone: success."""
        if not _CUSTOMER.fullmatch(request.psp_customer_id):
            raise PspInvalidRequest("No such customer.", psp=self.name, code="not_found")
        for reference in request.payment_method_references:
            self._parse_method(reference)  # refuses what the sandbox never issued
        self._deleted_customers.add(request.psp_customer_id)
        self._detached.update(request.payment_method_references)

    @property
    def deleted_customers(self) -> frozenset[str]:
        """Customers deleted in this process (for tests and support)."""
        return frozenset(self._deleted_customers)

    def _existing(self, psp_customer_id: str) -> None:
        if psp_customer_id in self._deleted_customers:
            raise PspInvalidRequest(
                "This customer was deleted.", psp=self.name, code="resource_missing"
            )

    async def start_setup(self, request: SetupRequest) -> SetupResult:
        self._existing(request.psp_customer_id)
        reference = f"sbxseti_{_digest(request.idempotency_key)}"
        return SetupResult(kind=SetupKind.TOKEN, reference=reference, token="tok_visa")

    async def attach_payment_method(self, request: AttachRequest) -> PaymentMethodDetails:
        known = card_of(request.token)
        if known is None:
            raise PspInvalidRequest(
                "The sandbox does not know this token; use a magic token such as tok_visa.",
                psp=self.name,
                code="token_not_recognised",
            )
        base, card = known
        if base == "tok_unavailable":
            raise PspUnavailable("The sandbox PSP is unavailable (tok_unavailable).", psp=self.name)
        self._existing(request.psp_customer_id)
        # The reference names the card, so that any process (an API server, a worker) can
        # charge it: the sandbox keeps no state that a charge depends on.
        name = base.removeprefix("tok_")
        reference = f"sbxpm_{name}_{_digest(request.psp_customer_id, request.token)}"
        self._detached.discard(reference)
        return PaymentMethodDetails(
            psp_reference=reference,
            type="card",
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            fingerprint=_digest("fingerprint", request.token)[:16],
            country=card.country,
        )

    async def detach_payment_method(self, request: DetachRequest) -> None:
        self._token_of(request.psp_reference)  # refuses what the sandbox never issued
        self._detached.add(request.psp_reference)

    # --- payments ---------------------------------------------------------------------

    async def create_payment(self, request: PaymentRequest) -> PaymentResult:
        token = self._token_of(request.payment_method)
        fingerprint = _digest(
            str(request.amount), token, request.capture_method.value, str(request.off_session)
        )
        async with self._lock:
            existing = self._by_key.get(request.idempotency_key)
            if existing is not None:
                payment = self._payments[existing]
                if payment.request_fingerprint != fingerprint:
                    raise PspInvalidRequest(
                        "Idempotency key reused with other parameters.",
                        psp=self.name,
                        code="idempotency_key_reused",
                    )
                return payment.result
            reference = f"sbxpay_{_digest(request.idempotency_key)}"
            payment = _Payment(
                result=self._initial_result(reference, request, token),
                token=token,
                request_fingerprint=fingerprint,
                off_session=request.off_session,
                capture_method=request.capture_method,
            )
            self._payments[reference] = payment
            self._by_key[request.idempotency_key] = reference
        await self._emit_payment(payment.result)
        if token == "tok_timeout":
            raise PspOutcomeUnknown(
                "The sandbox timed out after charging (tok_timeout).",
                psp=self.name,
                psp_reference=reference,
            )
        if token == "tok_disputed" and payment.result.status is PaymentStatus.SUCCEEDED:
            await self._emit_dispute(payment.result)
        return payment.result

    def _token_of(self, payment_method: str | None) -> str:
        if payment_method in TOKENS:
            return payment_method  # a one-off token
        token = self._parse_method(payment_method or "")
        if payment_method in self._detached:
            raise PspInvalidRequest("This payment method was detached.", psp=self.name)
        return token

    def _parse_method(self, reference: str) -> str:
        """The magic token a saved method's reference names (refusing foreign ones)."""
        prefix, _, rest = reference.partition("_")
        name, _, digest = rest.rpartition("_")
        token = f"tok_{name}"
        if prefix != "sbxpm" or token not in TOKENS or len(digest) != 24:
            raise PspInvalidRequest("No such payment method.", psp=self.name, code="not_found")
        return token

    def _initial_result(self, reference: str, request: PaymentRequest, token: str) -> PaymentResult:
        amount = request.amount
        zero = Money(0, amount.currency)
        card = TOKENS[token]
        if card.decline is not None:
            return self._failed(reference, amount, decline(card.decline, card))
        if token == "tok_threeDSecureRequired":
            if request.off_session:
                return self._failed(reference, amount, decline(DeclineCode.AUTHENTICATION_REQUIRED))
            return PaymentResult(
                psp_reference=reference,
                status=PaymentStatus.REQUIRES_ACTION,
                amount=amount,
                amount_capturable=zero,
                amount_received=zero,
                next_action=NextAction(
                    kind=NextActionKind.REDIRECT,
                    redirect_url=f"{self._action_url}/{reference}",
                ),
                raw_status="requires_action",
            )
        return self._authorised(reference, amount, request.capture_method)

    @staticmethod
    def _authorised(reference: str, amount: Money, capture: CaptureMethod) -> PaymentResult:
        zero = Money(0, amount.currency)
        if capture is CaptureMethod.MANUAL:
            return PaymentResult(
                reference, PaymentStatus.REQUIRES_CAPTURE, amount, amount, zero,
                raw_status="requires_capture",
            )  # fmt: skip
        return PaymentResult(
            reference, PaymentStatus.SUCCEEDED, amount, zero, amount, raw_status="succeeded"
        )

    @staticmethod
    def _failed(reference: str, amount: Money, declined: Decline) -> PaymentResult:
        zero = Money(0, amount.currency)
        return PaymentResult(
            psp_reference=reference,
            status=PaymentStatus.FAILED,
            amount=amount,
            amount_capturable=zero,
            amount_received=zero,
            decline=declined,
            raw_status="failed",
        )

    async def complete_action(self, psp_reference: str, *, succeed: bool) -> PaymentResult:
        """The customer finished the 3DS challenge (the sandbox action page calls this)."""
        async with self._lock:
            payment = self._payment(psp_reference)
            if payment.result.status is not PaymentStatus.REQUIRES_ACTION:
                raise PspInvalidRequest(
                    "This payment is not waiting for the customer.", psp=self.name
                )
            amount = payment.result.amount
            payment.result = (
                self._authorised(psp_reference, amount, payment.capture_method)
                if succeed
                else self._failed(psp_reference, amount, decline(DeclineCode.AUTHENTICATION_FAILED))
            )
        await self._emit_payment(payment.result)
        return payment.result

    async def confirm_payment(self, request: ConfirmRequest) -> PaymentResult:
        return self._payment(request.psp_reference).result

    async def capture_payment(self, request: CaptureRequest) -> PaymentResult:
        async with self._lock:
            payment = self._payment(request.psp_reference)
            current = payment.result
            if current.status is not PaymentStatus.REQUIRES_CAPTURE:
                if current.status is PaymentStatus.SUCCEEDED:
                    return current  # a replayed capture
                raise PspInvalidRequest("This payment cannot be captured.", psp=self.name)
            amount = request.amount or current.amount_capturable
            if not 0 < amount.amount_minor <= current.amount_capturable.amount_minor:
                raise PspInvalidRequest("Capture amount exceeds the authorisation.", psp=self.name)
            zero = Money(0, amount.currency)
            payment.result = replace(
                current,
                status=PaymentStatus.SUCCEEDED,
                amount_capturable=zero,
                amount_received=amount,
                raw_status="succeeded",
            )
        await self._emit_payment(payment.result)
        return payment.result

    async def cancel_payment(self, request: CancelRequest) -> PaymentResult:
        async with self._lock:
            payment = self._payment(request.psp_reference)
            current = payment.result
            if current.status is PaymentStatus.CANCELED:
                return current
            if current.status not in (
                PaymentStatus.REQUIRES_CAPTURE,
                PaymentStatus.REQUIRES_ACTION,
            ):
                raise PspInvalidRequest("This payment cannot be canceled.", psp=self.name)
            zero = Money(0, current.amount.currency)
            payment.result = replace(
                current,
                status=PaymentStatus.CANCELED,
                amount_capturable=zero,
                next_action=None,
                raw_status="canceled",
            )
        await self._emit_payment(payment.result)
        return payment.result

    async def refund(self, request: RefundRequest) -> RefundResult:
        reference = f"sbxre_{_digest(request.idempotency_key)}"
        async with self._lock:
            if reference in self._refunds:
                return self._refunds[reference]
            payment = self._payment(request.payment_reference)
            available = payment.result.amount_received.amount_minor - payment.refunded
            if request.amount.currency != payment.result.amount.currency:
                raise PspInvalidRequest(
                    "Refund currency differs from the payment's.", psp=self.name
                )
            if not 0 < request.amount.amount_minor <= available:
                raise PspInvalidRequest(
                    "Refund amount exceeds what is left to refund.",
                    psp=self.name,
                    code="amount_too_large",
                )
            payment.refunded += request.amount.amount_minor
            refund = RefundResult(
                psp_reference=reference,
                payment_reference=request.payment_reference,
                status=RefundStatus.SUCCEEDED,
                amount=request.amount,
                raw_status="succeeded",
            )
            self._refunds[reference] = refund
        await self._emit("refund.updated", EventKind.REFUND, refund=refund)
        return refund

    async def retrieve_payment(self, psp_reference: str) -> PaymentResult:
        return self._payment(psp_reference).result

    async def retrieve_refund(self, psp_reference: str) -> RefundResult:
        refund = self._refunds.get(psp_reference)
        if refund is None:
            raise PspInvalidRequest("No such refund.", psp=self.name, code="not_found")
        return refund

    async def submit_dispute_evidence(self, request: DisputeEvidenceRequest) -> DisputeInfo:
        """Accepted and recorded (``evidence``); the dispute goes under review. A replay
        with the same key answers the same; a second submission is refused, as at Stripe."""
        dispute = self._disputes.get(request.psp_reference)
        if dispute is None:
            raise PspInvalidRequest("No such dispute.", psp=self.name, code="not_found")
        earlier = self.evidence.get(request.psp_reference)
        if earlier is not None and earlier.idempotency_key != request.idempotency_key:
            raise PspInvalidRequest("This dispute's evidence was submitted already.", psp=self.name)
        self.evidence[request.psp_reference] = request
        reviewed = replace(dispute, status=DisputeStatus.UNDER_REVIEW, raw_status="under_review")
        self._disputes[request.psp_reference] = reviewed
        return reviewed

    def snapshot(self, psp_reference: str) -> PaymentResult:
        """The payment as the sandbox holds it now (for tests and the action page)."""
        return self._payment(psp_reference).result

    def _payment(self, reference: str) -> _Payment:
        payment = self._payments.get(reference)
        if payment is None:
            raise PspInvalidRequest("No such payment.", psp=self.name, code="not_found")
        return payment

    # --- webhooks ---------------------------------------------------------------------

    def signed(
        self, event: Mapping[str, Any], *, at: datetime | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of ``event`` as the sandbox sends it."""
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        header = signing.sign(body, self._secret, at or self._clock.now())
        return {SIGNATURE_HEADER: header, "content-type": "application/json"}, body

    async def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> WebhookEvent:
        lowered = {name.lower(): value for name, value in headers.items()}
        signing.verify(lowered.get(SIGNATURE_HEADER), body, self._secret, now=now, psp=self.name)
        try:
            return decode_event(json.loads(body))
        except (KeyError, TypeError, ValueError) as error:
            raise PspInvalidRequest("Malformed sandbox event.", psp=self.name) from error

    async def _emit_payment(self, result: PaymentResult) -> None:
        await self._emit(f"payment.{result.status.value}", EventKind.PAYMENT, payment=result)

    async def _emit_dispute(self, payment: PaymentResult) -> None:
        dispute = DisputeInfo(
            psp_reference=f"sbxdp_{_digest(payment.psp_reference)}",
            payment_reference=payment.psp_reference,
            amount=payment.amount_received,
            reason="fraudulent",
            status=DisputeStatus.NEEDS_RESPONSE,
            evidence_due_by=self._clock.now() + timedelta(days=7),
            raw_status="needs_response",
        )
        self._disputes[dispute.psp_reference] = dispute
        await self._emit("dispute.created", EventKind.DISPUTE, dispute=dispute)

    async def _emit(self, type_: str, kind: EventKind, **objects: Any) -> None:
        if self.sink is None:
            return
        event = {
            "id": f"sbxevt_{uuid.uuid4().hex}",
            "type": type_,
            "kind": kind.value,
            "created": int(self._clock.now().timestamp()),
            "data": {name: encode(value) for name, value in objects.items()},
        }
        headers, body = self.signed(event)
        await self.sink(headers, body)
