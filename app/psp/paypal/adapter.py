"""PayPal behind the gateway contract (Orders v2, Payments v2, Vault v3; paypal-server-sdk).

| contract              | PayPal                                                               |
|-----------------------|----------------------------------------------------------------------|
| create/update_customer| PayPal has no customer object: ``paygate-<customer_key>`` (sanitised), |
|                       | sent as the vault customer's ``merchant_customer_id``                |
| start_setup           | Vault v3 setup token for a PayPal wallet (usage MERCHANT): REDIRECT  |
|                       | to its ``approve`` link                                              |
| attach_payment_method | payment token from an approved setup token (other tokens refused)    |
| detach_payment_method | delete the payment token                                             |
| delete_customer       | no customer object: delete each vaulted payment token we hold for   |
|                       | the customer (a token PayPal no longer knows, 404, is gone already) |
| create_payment        | order, intent CAPTURE (automatic) or AUTHORIZE (manual), paid with   |
|                       | ``payment_source.<paypal|card>.vault_id``: completes in one call, or |
|                       | PAYER_ACTION_REQUIRED -> REQUIRES_ACTION (redirect to payer-action); |
|                       | without a saved method, a PayPal checkout for the payer to approve   |
| confirm_payment       | capture/authorize an APPROVED order (after the payer's redirect)     |
| capture_payment       | capture the order's authorization, ``final_capture`` (rest released) |
| cancel_payment        | void the order's authorization                                       |
| refund                | refund the order's capture (``note_to_payer`` from the reason)       |
| parse_webhook         | verify with PayPal first, then map (``webhooks``)                    |

A payment's ``psp_reference`` is the PayPal order id. Our idempotency key is the
``PayPal-Request-Id`` of the operation's POST; a second POST in the same operation
(capturing the order just created) uses ``<key>:<step>``, so replays reach the same objects.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime

from app.domain.money import Money
from app.domain.pan import contains_card_number
from app.domain.payment_methods import SetupKind
from app.domain.payments import CaptureMethod, PaymentStatus, RefundReason
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
from app.psp.errors import (
    OperationNotSupported,
    PspBadResponse,
    PspInvalidRequest,
    WebhookVerificationError,
)
from app.psp.paypal import declines, mappers, webhooks
from app.psp.paypal.client import PayPalClient, PayPalDecline
from app.psp.paypal.mappers import PSP, Json
from app.settings import PayPalSettings

_PAYPAL_ID = re.compile(r"[0-9A-Za-z-]{1,64}")  # PayPal ids: no "_" (pm_…, tok_… are foreign)
_CUSTOMER_ID = re.compile(r"[0-9A-Za-z_.@#$^*-]{1,55}")  # merchant_customer_id charset
_MAX_REQUEST_ID = 108
_GONE = ("INVALID_RESOURCE_ID", "RESOURCE_NOT_FOUND")  # a 404's issue / name
_NOTES = {
    RefundReason.REQUESTED_BY_CUSTOMER: "Refund as you requested.",
    RefundReason.DUPLICATE: "Refund of a duplicate payment.",
    RefundReason.FRAUDULENT: "Refund of a payment you did not authorise.",
    RefundReason.OTHER: "Refund.",
}
_SOURCE_TYPES = ("paypal", "card", "venmo")
_MIT = {"payment_initiator": "MERCHANT", "usage": "SUBSEQUENT"}  # merchant-initiated, stored


def customer_id(customer_key: str) -> str:
    """Stable ``paygate-<key>``; keys outside PayPal's charset are hashed instead."""
    if _CUSTOMER_ID.fullmatch(customer_key):
        return f"paygate-{customer_key}"
    return f"paygate-{hashlib.sha256(customer_key.encode()).hexdigest()[:40]}"


def request_id(key: str, step: str | None = None) -> str:
    value = key if step is None else f"{key}:{step}"
    if len(value) <= _MAX_REQUEST_ID:
        return value
    return hashlib.sha256(value.encode()).hexdigest()


def _paypal_id(value: str | None, what: str, code: str) -> str:
    """Refuse, without calling PayPal, anything that is not a PayPal id (another PSP's
    token, something shaped like a card number)."""
    if value is None or not _PAYPAL_ID.fullmatch(value) or contains_card_number(value):
        raise PspInvalidRequest(f"This is not a PayPal {what}.", psp=PSP, code=code)
    return value


class PayPalGateway:
    name = PSP
    capabilities = Capabilities(
        # No disputes: paypal-server-sdk has no Customer Disputes API (see below).
        operations=frozenset(Operation) - {Operation.SUBMIT_DISPUTE_EVIDENCE},
        capture_methods=frozenset(CaptureMethod),
        payment_method_types=frozenset({"paypal", "card"}),
        currencies=mappers.CURRENCIES,
    )

    def __init__(self, settings: PayPalSettings) -> None:
        self._settings = settings
        self._client = PayPalClient(settings)

    # --- customers and payment methods ----------------------------------------------------

    async def create_customer(self, request: CustomerRequest) -> CustomerResult:
        """PayPal keeps no customer object; this checks our credentials with PayPal (an
        OAuth token, cached) so that a misconfiguration shows here, not at payment time."""
        await self._client.ensure_token()
        return CustomerResult(psp_customer_id=customer_id(request.customer_key))

    async def update_customer(
        self, psp_customer_id: str, request: CustomerRequest
    ) -> CustomerResult:
        return CustomerResult(psp_customer_id=psp_customer_id)  # nothing stored at PayPal

    async def delete_customer(self, request: DeleteCustomerRequest) -> None:
        """PayPal keeps no customer object (our ``paygate-…`` id is only the vault
        customer's ``merchant_customer_id``): what it holds for the customer are the vaulted
        payment tokens, each deleted (``DELETE /v3/vault/payment-tokens/{id}``, 204). Every
        reference is checked before the first call, so a foreign one changes nothing."""
        if not request.psp_customer_id.startswith("paygate-"):
            raise PspInvalidRequest("Not a paygate PayPal customer id.", psp=PSP, code="not_found")
        tokens = [
            _paypal_id(reference, "payment token", "not_found")
            for reference in dict.fromkeys(request.payment_method_references)
        ]
        for token in tokens:
            try:
                await self._client.delete_payment_token(token)
            except PspInvalidRequest as error:
                if error.code not in _GONE:
                    raise

    async def start_setup(self, request: SetupRequest) -> SetupResult:
        if not request.return_url:
            raise PspInvalidRequest(
                "PayPal needs a return_url to send the payer back after approval.",
                psp=PSP,
                code="return_url_required",
            )
        body = {
            "customer": {"merchant_customer_id": request.psp_customer_id},
            "payment_source": {
                "paypal": {
                    "usage_type": "MERCHANT",
                    "customer_type": "CONSUMER",
                    "permit_multiple_payment_tokens": False,
                    "experience_context": {
                        "return_url": request.return_url,
                        "cancel_url": request.cancel_url or request.return_url,
                        "shipping_preference": "NO_SHIPPING",
                    },
                }
            },
        }
        token = await self._client.create_setup_token(
            body, request_id=request_id(request.idempotency_key)
        )
        approval_url = mappers.link(token, "approve")
        if approval_url is None:
            raise PspBadResponse("PayPal sent a setup token without an approve link.", psp=PSP)
        return SetupResult(
            kind=SetupKind.REDIRECT,
            reference=mappers.ident(token, "setup token"),
            approval_url=approval_url,
        )

    async def attach_payment_method(self, request: AttachRequest) -> PaymentMethodDetails:
        setup_token = _paypal_id(request.token, "setup token", "token_not_recognised")
        body = {"payment_source": {"token": {"id": setup_token, "type": "SETUP_TOKEN"}}}
        token = await self._client.create_payment_token(
            body, request_id=request_id(request.idempotency_key)
        )
        return mappers.payment_method_from(token)

    async def detach_payment_method(self, request: DetachRequest) -> None:
        token = _paypal_id(request.psp_reference, "payment token", "not_found")
        await self._client.delete_payment_token(token)

    # --- payments ------------------------------------------------------------------------

    async def create_payment(self, request: PaymentRequest) -> PaymentResult:
        unit: Json = {
            "amount": mappers.amount_json(request.amount),
            "custom_id": request.idempotency_key[:127],  # to find an order after a timeout
        }
        if request.description:
            unit["description"] = request.description[:127]
        body = {
            "intent": "AUTHORIZE" if request.capture_method is CaptureMethod.MANUAL else "CAPTURE",
            "purchase_units": [unit],
            "payment_source": await self._payment_source(request),
        }
        key = request.idempotency_key
        try:
            order = await self._client.create_order(body, request_id=request_id(key))
        except PayPalDecline as refused:  # PayPal created no order
            return self._declined("", request.amount, refused)
        if order.get("status") == "APPROVED":  # approved at creation: finish it now
            return await self._complete(order, request_id(key, "complete"))
        return mappers.payment_from_order(order)

    async def _payment_source(self, request: PaymentRequest) -> Json:
        experience = (
            {"return_url": request.return_url, "cancel_url": request.return_url}
            if request.return_url
            else None
        )
        if request.payment_method is None:  # a one-off PayPal checkout, approved by the payer
            if experience is None:
                raise PspInvalidRequest(
                    "A PayPal checkout without a saved method needs a return_url.",
                    psp=PSP,
                    code="return_url_required",
                )
            context = {**experience, "user_action": "PAY_NOW", "shipping_preference": "NO_SHIPPING"}
            return {"paypal": {"experience_context": context}}
        vault_id = _paypal_id(request.payment_method, "payment token", "token_not_recognised")
        token = await self._client.get_payment_token(vault_id)
        saved = token.get("payment_source") or {}
        kind = next((k for k in _SOURCE_TYPES if isinstance(saved.get(k), Mapping)), None)
        if kind is None:
            raise PspBadResponse("PayPal sent a payment token of an unknown type.", psp=PSP)
        source: Json = {"vault_id": vault_id}
        if request.off_session:  # merchant-initiated: the payer is not there to approve
            if kind == "card":
                source["stored_credential"] = _MIT | {"payment_type": "UNSCHEDULED"}
            elif kind == "paypal":
                source["stored_credential"] = dict(_MIT)
        elif experience is not None:
            source["experience_context"] = experience
        return {kind: source}

    async def confirm_payment(self, request: ConfirmRequest) -> PaymentResult:
        reference = _paypal_id(request.psp_reference, "order", "not_found")
        order = await self._client.get_order(reference)
        if order.get("status") in ("APPROVED", "SAVED"):
            return await self._complete(order, request_id(request.idempotency_key))
        return mappers.payment_from_order(order)  # not approved yet, or already done

    async def _complete(self, order: Json, paypal_request_id: str) -> PaymentResult:
        """Capture (intent CAPTURE) or authorize (intent AUTHORIZE) an approved order."""
        reference = mappers.ident(order, "order")
        intent = order.get("intent")
        try:
            if intent == "CAPTURE":
                done = await self._client.capture_order(reference, request_id=paypal_request_id)
            elif intent == "AUTHORIZE":
                done = await self._client.authorize_order(reference, request_id=paypal_request_id)
            else:
                raise PspBadResponse(f"PayPal sent an unknown order intent: {intent!r}.", psp=PSP)
        except PayPalDecline as refused:
            return self._declined(reference, mappers.payment_from_order(order).amount, refused)
        except PspInvalidRequest as error:
            if error.code not in ("ORDER_ALREADY_CAPTURED", "ORDER_ALREADY_AUTHORIZED"):
                raise
            done = await self._client.get_order(reference)  # a concurrent confirm won
        return mappers.payment_from_order(done)

    async def capture_payment(self, request: CaptureRequest) -> PaymentResult:
        reference = _paypal_id(request.psp_reference, "order", "not_found")
        order = await self._client.get_order(reference)
        current = mappers.payment_from_order(order)
        authorization = mappers.latest(order, "authorizations", ("CREATED", "PARTIALLY_CAPTURED"))
        if authorization is None:
            if current.status is PaymentStatus.SUCCEEDED:
                return current  # captured already (a replay)
            raise PspInvalidRequest(
                "This PayPal payment has no authorization to capture.",
                psp=PSP,
                code="not_capturable",
            )
        body: Json = {"final_capture": True}
        if request.amount is not None:
            body["amount"] = mappers.amount_json(request.amount)
        try:
            capture = await self._client.capture_authorization(
                mappers.ident(authorization, "authorization"),
                body,
                request_id=request_id(request.idempotency_key),
                reference=reference,
            )
        except PayPalDecline as refused:
            return self._declined(reference, current.amount, refused)
        order = mappers.with_transaction(
            order, "authorizations", {**authorization, "status": "CAPTURED"}
        )
        return mappers.payment_from_order(mappers.with_transaction(order, "captures", capture))

    async def cancel_payment(self, request: CancelRequest) -> PaymentResult:
        reference = _paypal_id(request.psp_reference, "order", "not_found")
        order = await self._client.get_order(reference)
        current = mappers.payment_from_order(order)
        if current.status is PaymentStatus.CANCELED:
            return current  # voided already (a replay)
        authorization = mappers.latest(
            order, "authorizations", ("CREATED", "PARTIALLY_CAPTURED", "PENDING")
        )
        if authorization is None:
            raise PspInvalidRequest(
                "Only an authorized PayPal payment can be canceled; an order the payer has "
                "not approved expires by itself.",
                psp=PSP,
                code="not_cancelable",
            )
        voided = await self._client.void_authorization(
            mappers.ident(authorization, "authorization"),
            request_id=request_id(request.idempotency_key),
            reference=reference,
        )
        voided = voided or {**authorization, "status": "VOIDED"}  # 204: no representation
        return mappers.payment_from_order(mappers.with_transaction(order, "authorizations", voided))

    def _declined(self, reference: str, amount: Money, refused: PayPalDecline) -> PaymentResult:
        decline = declines.decline(refused.issue, refused.description)
        return mappers.declined_payment(reference, amount, decline, f"DECLINED/{refused.issue}")

    # --- refunds -------------------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> RefundResult:
        reference = _paypal_id(request.payment_reference, "order", "not_found")
        order = await self._client.get_order(reference)
        capture = mappers.latest(order, "captures", ("COMPLETED", "PARTIALLY_REFUNDED"))
        if capture is None:
            raise PspInvalidRequest(
                "This PayPal payment has no capture to refund.", psp=PSP, code="not_refundable"
            )
        body = {
            "amount": mappers.amount_json(request.amount),
            "note_to_payer": _NOTES[request.reason],
        }
        refund = await self._client.refund_capture(
            mappers.ident(capture, "capture"),
            body,
            request_id=request_id(request.idempotency_key),
            reference=None,  # a timed-out refund has no id of its own yet
        )
        return mappers.refund_from(refund, reference)

    async def retrieve_payment(self, psp_reference: str) -> PaymentResult:
        reference = _paypal_id(psp_reference, "order", "not_found")
        return mappers.payment_from_order(await self._client.get_order(reference))

    async def submit_dispute_evidence(self, request: DisputeEvidenceRequest) -> DisputeInfo:
        """PayPal takes evidence through its Customer Disputes API
        (``/v1/customer/disputes/{id}/provide-evidence``), which paypal-server-sdk (the
        official SDK this adapter uses) does not cover: answer it in PayPal's Resolution
        Center."""
        raise OperationNotSupported(
            "PayPal disputes are answered in PayPal's Resolution Center: its SDK has no "
            "dispute evidence call.",
            psp=PSP,
        )

    async def retrieve_refund(self, psp_reference: str) -> RefundResult:
        reference = _paypal_id(psp_reference, "refund", "not_found")
        refund = await self._client.get_refund(reference)
        capture_id = mappers.refund_capture_id(refund)
        if capture_id is None:
            raise PspBadResponse("PayPal sent a refund without its capture link.", psp=PSP)
        return mappers.refund_from(refund, await self._order_id_of_capture(capture_id))

    async def _order_id_of_capture(self, capture_id: str) -> str:
        """Our payment reference for a capture: its order (the capture id if PayPal does
        not know the capture, so that no refund or dispute is ever dropped)."""
        try:
            capture = await self._client.get_capture(capture_id)
        except PspInvalidRequest:
            return capture_id
        return mappers.related_order_id(capture) or capture_id

    # --- webhooks ------------------------------------------------------------------------------

    async def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> WebhookEvent:
        verification = webhooks.verification_request(
            headers, body, webhook_id=self._settings.webhook_id, now=now
        )
        try:
            answer = await self._client.verify_webhook_signature(verification)
        except PspInvalidRequest as error:  # PayPal refused the verification request itself
            raise WebhookVerificationError(
                "PayPal refused to verify this delivery.", psp=PSP
            ) from error
        webhooks.check_verification(answer)
        return await webhooks.map_event(body, self._order_id_of_capture)
