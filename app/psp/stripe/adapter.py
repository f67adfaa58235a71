"""``StripeGateway``: the gateway contract (``app.psp.base.Gateway``) over Stripe's
PaymentIntents, SetupIntents, PaymentMethods, Refunds and webhooks.

Requests are built here as the SDK's typed params; ``client.StripeApi`` makes the calls
and ``mappers`` reads the answers. Every POST carries the caller's idempotency key.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import datetime
from typing import cast

from stripe.params import (
    CustomerCreateParams,
    CustomerUpdateParams,
    DisputeUpdateParams,
    DisputeUpdateParamsEvidence,
    PaymentIntentCaptureParams,
    PaymentIntentConfirmParams,
    PaymentIntentCreateParams,
    RefundCreateParams,
)

from app.domain.payment_methods import SetupKind
from app.domain.payments import CaptureMethod, RefundReason
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
from app.psp.errors import PspBadResponse, PspInvalidRequest
from app.psp.stripe import mappers, webhooks
from app.psp.stripe.client import StripeApi
from app.settings import StripeSettings

CUSTOMER_METADATA_KEY = "paygate_customer"
REFUND_REASON_METADATA_KEY = "paygate_refund_reason"
PAYMENT_METHOD_TYPES: list[str] = ["card"]  # wallets (Apple Pay, Google Pay) are cards at Stripe
_CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9]{1,250}")


class StripeGateway:
    """Stripe through the official SDK. Construct with ``Settings.stripe``."""

    name = "stripe"
    capabilities = Capabilities(
        operations=frozenset(Operation),
        capture_methods=frozenset(CaptureMethod),
        payment_method_types=frozenset(PAYMENT_METHOD_TYPES),
    )

    def __init__(self, settings: StripeSettings) -> None:
        self._api = StripeApi(settings)

    async def aclose(self) -> None:
        """Close the HTTP connection pool (not part of the protocol)."""
        await self._api.aclose()

    # --- customers -----------------------------------------------------------------------

    async def create_customer(self, request: CustomerRequest) -> CustomerResult:
        params: CustomerCreateParams = {"metadata": {CUSTOMER_METADATA_KEY: request.customer_key}}
        if request.email is not None:
            params["email"] = request.email
        if request.name is not None:
            params["name"] = request.name
        customer = await self._api.create_customer(params, request.idempotency_key)
        return CustomerResult(psp_customer_id=mappers.text(customer, "id"))

    async def update_customer(
        self, psp_customer_id: str, request: CustomerRequest
    ) -> CustomerResult:
        # A snapshot of our customer: a missing email or name is cleared at Stripe ("").
        params: CustomerUpdateParams = {
            "email": request.email or "",
            "name": request.name or "",
            "metadata": {CUSTOMER_METADATA_KEY: request.customer_key},
        }
        customer = await self._api.update_customer(psp_customer_id, params, request.idempotency_key)
        return CustomerResult(psp_customer_id=mappers.text(customer, "id"))

    async def delete_customer(self, request: DeleteCustomerRequest) -> None:
        """``DELETE /v1/customers/{id}``: Stripe deletes the customer with its saved payment
        methods (detached) and keeps its payments. A customer Stripe does not know (404
        ``resource_missing``: deleted before) is gone already: success."""
        if not _CUSTOMER_ID.fullmatch(request.psp_customer_id):
            raise PspInvalidRequest(
                "Not a Stripe customer id (expected cus_...).", psp="stripe", code="not_found"
            )
        try:
            deleted = await self._api.delete_customer(request.psp_customer_id)
        except PspInvalidRequest as error:
            if error.code == "resource_missing":
                return
            raise
        if deleted.get("deleted") is not True or deleted.get("id") != request.psp_customer_id:
            raise PspBadResponse("Stripe did not confirm the customer's deletion.", psp="stripe")

    # --- payment methods -------------------------------------------------------------------

    async def start_setup(self, request: SetupRequest) -> SetupResult:
        intent = await self._api.create_setup_intent(
            {
                "customer": request.psp_customer_id,
                "usage": "off_session",
                "allowed_payment_method_types": PAYMENT_METHOD_TYPES,
            },
            request.idempotency_key,
        )
        secret = mappers.optional_text(intent, "client_secret")
        if secret is None:
            raise PspBadResponse("Stripe sent a SetupIntent without client_secret", psp="stripe")
        return SetupResult(
            kind=SetupKind.CLIENT_SECRET,
            reference=mappers.text(intent, "id"),
            client_secret=secret,
        )

    async def attach_payment_method(self, request: AttachRequest) -> PaymentMethodDetails:
        method = await self._payment_method_id(request.token, request.idempotency_key)
        attached = await self._api.attach_payment_method(
            method, request.psp_customer_id, request.idempotency_key
        )
        return mappers.payment_method_details(attached)

    async def detach_payment_method(self, request: DetachRequest) -> None:
        await self._api.detach_payment_method(request.psp_reference, request.idempotency_key)

    async def _payment_method_id(self, token: str, idempotency_key: str) -> str:
        """A PaymentMethod id for ``token``: ``pm_...`` as is; a legacy ``tok_...`` card
        token turned into a PaymentMethod (under a key derived from the caller's, so that a
        replay finds the same one); anything else refused without asking Stripe."""
        if token.startswith("pm_"):
            return token
        if token.startswith("tok_"):
            created = await self._api.create_payment_method(
                {"type": "card", "card": {"token": token}}, f"{idempotency_key}:payment_method"
            )
            return mappers.text(created, "id")
        raise PspInvalidRequest(
            "Not a Stripe payment method token (expected pm_... or tok_...)",
            psp="stripe",
            code="token_not_recognised",
        )

    # --- payments --------------------------------------------------------------------------

    async def create_payment(self, request: PaymentRequest) -> PaymentResult:
        amount, currency = mappers.to_stripe_amount(request.amount)
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency,
            "capture_method": "manual"
            if request.capture_method is CaptureMethod.MANUAL
            else "automatic",
            # Cards only: otherwise Stripe's automatic payment methods demand a return_url
            # for every server-side confirmation, off-session ones included.
            "allowed_payment_method_types": PAYMENT_METHOD_TYPES,
            "metadata": dict(request.metadata),
        }
        if request.psp_customer_id is not None:
            params["customer"] = request.psp_customer_id
        if request.description is not None:
            params["description"] = request.description
        if request.payment_method is not None:
            # Without a method the PaymentIntent waits for the browser (client_secret).
            params["payment_method"] = await self._payment_method_id(
                request.payment_method, request.idempotency_key
            )
            params["confirm"] = True
            if request.off_session:
                params["off_session"] = True
            if request.return_url is not None:
                params["return_url"] = request.return_url
        intent = await self._api.create_payment_intent(params, request.idempotency_key)
        return mappers.payment_result(intent)

    async def confirm_payment(self, request: ConfirmRequest) -> PaymentResult:
        """Make sure the payment is confirmed. Our PaymentIntents confirm themselves once
        the customer finishes 3DS (automatic confirmation), and Stripe refuses to confirm
        one twice: only one still awaiting confirmation is confirmed, any other is returned
        as it stands (succeeded, awaiting capture, still awaiting the customer, failed)."""
        current = await self._api.retrieve_payment_intent(request.psp_reference)
        if current.get("status") != "requires_confirmation":
            return mappers.payment_result(current)
        params: PaymentIntentConfirmParams = {}
        if request.return_url is not None:
            params["return_url"] = request.return_url
        intent = await self._api.confirm_payment_intent(
            request.psp_reference, params, request.idempotency_key
        )
        return mappers.payment_result(intent)

    async def capture_payment(self, request: CaptureRequest) -> PaymentResult:
        params: PaymentIntentCaptureParams = {}
        if request.amount is not None:  # less than capturable: a partial capture
            params["amount_to_capture"] = mappers.to_stripe_amount(request.amount)[0]
        intent = await self._api.capture_payment_intent(
            request.psp_reference, params, request.idempotency_key
        )
        return mappers.payment_result(intent)

    async def cancel_payment(self, request: CancelRequest) -> PaymentResult:
        intent = await self._api.cancel_payment_intent(
            request.psp_reference, request.idempotency_key
        )
        return mappers.payment_result(intent)

    async def retrieve_payment(self, psp_reference: str) -> PaymentResult:
        return mappers.payment_result(await self._api.retrieve_payment_intent(psp_reference))

    # --- refunds ----------------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> RefundResult:
        params: RefundCreateParams = {
            "payment_intent": request.payment_reference,
            "amount": mappers.to_stripe_amount(request.amount)[0],
        }
        if request.reason is RefundReason.OTHER:
            params["metadata"] = {REFUND_REASON_METADATA_KEY: request.reason.value}
        else:
            params["reason"] = mappers.REFUND_REASONS[request.reason]
        refund = await self._api.create_refund(params, request.idempotency_key)
        return mappers.refund_result(refund)

    async def retrieve_refund(self, psp_reference: str) -> RefundResult:
        return mappers.refund_result(await self._api.retrieve_refund(psp_reference))

    # --- disputes ----------------------------------------------------------------------------

    async def submit_dispute_evidence(self, request: DisputeEvidenceRequest) -> DisputeInfo:
        """Each file through Stripe's Files API (``purpose=dispute_evidence``, on
        files.stripe.com), then ``POST /v1/disputes/{id}`` with the evidence and
        ``submit=true`` (docs.stripe.com/api/disputes/update, /disputes/api)."""
        evidence: dict[str, str] = dict(request.texts)
        for item in request.files:
            upload = io.BytesIO(item.content)
            upload.name = item.filename  # the SDK names the multipart part after it
            created = await self._api.upload_file(
                {"file": upload, "purpose": "dispute_evidence"}, item.idempotency_key
            )
            file_id = created.get("id")
            if not isinstance(file_id, str) or not file_id.startswith("file_"):
                raise PspBadResponse("Stripe answered a file upload without its id", psp=self.name)
            evidence[item.field] = file_id
        params: DisputeUpdateParams = {
            "evidence": cast(DisputeUpdateParamsEvidence, evidence),
            "submit": True,
        }
        dispute = await self._api.update_dispute(
            request.psp_reference, params, request.idempotency_key
        )
        return mappers.dispute_info(dispute)

    # --- webhooks ----------------------------------------------------------------------------

    async def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> WebhookEvent:
        """Verify first, then map. Staleness is judged by the wall clock, as Stripe signs
        with it (see ``webhooks``); ``now`` is not used."""
        return webhooks.parse(self._api, headers, body)
