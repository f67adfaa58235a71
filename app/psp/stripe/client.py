"""The only module that calls the Stripe SDK (``stripe`` >= 16, ``StripeClient.v1``).

Every call goes through :meth:`StripeApi._call`, which turns SDK exceptions into the
``app.psp.errors`` tree (``raise ... from``) and SDK objects into plain JSON dicts for
``mappers``. A 402 on a PaymentIntent call is not an error for us: Stripe puts the declined
PaymentIntent in ``error.payment_intent``, and that object is returned like any other.
Messages never carry the API key or anything shaped like a card number.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx
import stripe
from stripe.params import (
    CustomerCreateParams,
    CustomerUpdateParams,
    DisputeUpdateParams,
    FileCreateParams,
    PaymentIntentCaptureParams,
    PaymentIntentConfirmParams,
    PaymentIntentCreateParams,
    PaymentMethodCreateParams,
    RefundCreateParams,
    SetupIntentCreateParams,
)

from app.domain.pan import contains_card_number
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
from app.settings import StripeSettings

# The SDK reports request timings to Stripe by default; a gateway keeps its traffic to itself.
stripe.enable_telemetry = False

PSP = "stripe"
WEBHOOK_TOLERANCE_SECONDS = 300
Json = dict[str, Any]

# httpx failures that happen before a byte of the request left: Stripe cannot have acted.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)
_KEY_SHAPED = re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9*]+")


class StripeApi:
    """Thin async wrapper of one ``stripe.StripeClient``; returns Stripe's JSON as dicts."""

    def __init__(self, settings: StripeSettings) -> None:
        self._key = settings.api_key.get_secret_value() if settings.api_key else ""
        secret = settings.webhook_secret
        self._webhook_secret = secret.get_secret_value() if secret else ""
        self._http = stripe.HTTPXClient(timeout=settings.timeout_seconds)
        bases: dict[str, str] = {}
        if settings.api_base:
            bases["api"] = settings.api_base
        files_base = settings.files_base or settings.api_base
        if files_base:
            # files.stripe.com: uploads go to a host of their own (a local fake serves both)
            bases["files"] = files_base
        self._client = stripe.StripeClient(
            self._key,
            base_addresses=cast(Any, bases) or None,
            http_client=self._http,
            max_network_retries=0,  # we retry ourselves, with our idempotency key
        )

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    # --- customers and payment methods ---------------------------------------------------

    async def create_customer(self, params: CustomerCreateParams, key: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "create customer", lambda: v1.customers.create_async(params, _options(key))
        )

    async def update_customer(self, customer: str, params: CustomerUpdateParams, key: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "update customer",
            lambda: v1.customers.update_async(customer, params, _options(key)),
        )

    async def delete_customer(self, customer: str) -> Json:
        """``DELETE /v1/customers/{id}``. Idempotent by nature (Stripe takes no key for a
        DELETE): whatever goes wrong, a retry is safe, so no failure is an unknown outcome."""
        v1 = self._client.v1
        return await self._call(
            "delete customer", lambda: v1.customers.delete_async(customer), post=False
        )

    async def create_setup_intent(self, params: SetupIntentCreateParams, key: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "create SetupIntent", lambda: v1.setup_intents.create_async(params, _options(key))
        )

    async def create_payment_method(self, params: PaymentMethodCreateParams, key: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "create PaymentMethod", lambda: v1.payment_methods.create_async(params, _options(key))
        )

    async def attach_payment_method(self, method: str, customer: str, key: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "attach PaymentMethod",
            lambda: v1.payment_methods.attach_async(method, {"customer": customer}, _options(key)),
        )

    async def detach_payment_method(self, method: str, key: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "detach PaymentMethod",
            lambda: v1.payment_methods.detach_async(method, None, _options(key)),
        )

    # --- payment intents and refunds -----------------------------------------------------

    async def create_payment_intent(self, params: PaymentIntentCreateParams, key: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "create PaymentIntent",
            lambda: v1.payment_intents.create_async(params, _options(key)),
            payment=True,
        )

    async def confirm_payment_intent(
        self, intent: str, params: PaymentIntentConfirmParams, key: str
    ) -> Json:
        v1 = self._client.v1
        return await self._call(
            "confirm PaymentIntent",
            lambda: v1.payment_intents.confirm_async(intent, params, _options(key)),
            payment=True,
            reference=intent,
        )

    async def capture_payment_intent(
        self, intent: str, params: PaymentIntentCaptureParams, key: str
    ) -> Json:
        v1 = self._client.v1
        return await self._call(
            "capture PaymentIntent",
            lambda: v1.payment_intents.capture_async(intent, params, _options(key)),
            payment=True,
            reference=intent,
        )

    async def cancel_payment_intent(self, intent: str, key: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "cancel PaymentIntent",
            lambda: v1.payment_intents.cancel_async(intent, None, _options(key)),
            reference=intent,
        )

    async def retrieve_payment_intent(self, intent: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "retrieve PaymentIntent", lambda: v1.payment_intents.retrieve_async(intent), post=False
        )

    async def create_refund(self, params: RefundCreateParams, key: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "create Refund", lambda: v1.refunds.create_async(params, _options(key))
        )

    async def retrieve_refund(self, refund: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "retrieve Refund", lambda: v1.refunds.retrieve_async(refund), post=False
        )

    # --- disputes --------------------------------------------------------------------------

    async def upload_file(self, params: FileCreateParams, key: str) -> Json:
        """``POST https://files.stripe.com/v1/files`` (multipart)."""
        v1 = self._client.v1
        return await self._call("upload File", lambda: v1.files.create_async(params, _options(key)))

    async def update_dispute(self, dispute: str, params: DisputeUpdateParams, key: str) -> Json:
        v1 = self._client.v1
        return await self._call(
            "update Dispute",
            lambda: v1.disputes.update_async(dispute, params, _options(key)),
            reference=dispute,
        )

    # --- webhooks ------------------------------------------------------------------------

    def construct_event(self, payload: bytes, signature: str | None) -> Json:
        """Verify ``Stripe-Signature`` (HMAC-SHA256 of ``"{t}.{payload}"``, timestamp no
        older than five minutes by the wall clock), then parse the event."""
        if not self._webhook_secret:
            raise WebhookVerificationError("No Stripe webhook secret is configured", psp=PSP)
        if not signature:
            raise WebhookVerificationError("The Stripe-Signature header is missing", psp=PSP)
        try:
            event = self._client.construct_event(
                payload, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as error:
            message = f"Stripe webhook refused: {self._scrub(error.user_message)}"
            raise WebhookVerificationError(message, psp=PSP) from error
        except UnicodeDecodeError as error:
            raise WebhookVerificationError("Stripe webhook body is not UTF-8", psp=PSP) from error
        except ValueError as error:  # signed, but not a JSON v1 event
            raise PspBadResponse("Stripe webhook body is not a Stripe event", psp=PSP) from error
        return event.to_dict()

    # --- the one place SDK exceptions are caught -----------------------------------------

    async def _call(
        self,
        what: str,
        call: Callable[[], Awaitable[stripe.StripeObject]],
        *,
        post: bool = True,
        payment: bool = False,
        reference: str | None = None,
    ) -> Json:
        if not self._key:
            raise PspAuthError(f"Stripe {what}: no API key is configured", psp=PSP)
        try:
            result = await call()
        except stripe.CardError as error:
            intent = _error_object(error).get("payment_intent")
            if payment and isinstance(intent, dict):
                return intent  # a decline is a result: the PaymentIntent as it now stands
            code = _error_object(error).get("decline_code") or error.code
            message = f"Stripe {what}: {self._scrub(error.user_message)}"
            raise PspInvalidRequest(message, psp=PSP, code=code) from error
        except stripe.StripeError as error:
            raise self._translate(error, what, post=post, reference=reference) from error
        except Exception as error:  # the SDK failed to make sense of an answer
            message = f"Stripe {what}: unexpected {type(error).__name__} in the Stripe SDK"
            raise PspBadResponse(message, psp=PSP) from error
        try:
            return result.to_dict()
        except Exception as error:
            raise PspBadResponse(f"Stripe {what}: unreadable answer", psp=PSP) from error

    def _translate(
        self, error: stripe.StripeError, what: str, *, post: bool, reference: str | None
    ) -> PspError:
        status = error.http_status
        detail = self._scrub(error.user_message)
        if isinstance(error, stripe.APIConnectionError):
            if post and _may_have_arrived(error):
                return PspOutcomeUnknown(
                    f"Stripe {what}: no answer from Stripe, the outcome is unknown "
                    "(reconcile with the same idempotency key)",
                    psp=PSP,
                    psp_reference=reference,
                )
            return PspUnavailable(f"Stripe {what}: Stripe could not be reached", psp=PSP)
        if isinstance(error, stripe.RateLimitError):
            return PspRateLimited(f"Stripe {what}: rate limited (HTTP 429)", psp=PSP)
        if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
            # Stripe's own text may quote part of the key: never pass it on.
            return PspAuthError(f"Stripe {what}: credentials refused (HTTP {status})", psp=PSP)
        if isinstance(error, stripe.IdempotencyError):
            return PspInvalidRequest(
                f"Stripe {what}: idempotency key reused with different parameters",
                psp=PSP,
                code="idempotency_key_reused",
            )
        if isinstance(error, stripe.InvalidRequestError):
            return PspInvalidRequest(f"Stripe {what}: {detail}", psp=PSP, code=error.code)
        if isinstance(error, stripe.APIError) and status is not None and status >= 500:
            # Stripe stores a 500 under the idempotency key once execution began and replays
            # it: for a POST the outcome is unknown. 503 and friends come from before that.
            if post and status in (500, 502, 504):
                return PspOutcomeUnknown(
                    f"Stripe {what}: server error (HTTP {status}), the outcome is unknown",
                    psp=PSP,
                    psp_reference=reference,
                )
            return PspUnavailable(f"Stripe {what}: unavailable (HTTP {status})", psp=PSP)
        return PspBadResponse(f"Stripe {what}: unexpected answer (HTTP {status})", psp=PSP)

    def _scrub(self, message: str | None) -> str:
        """Stripe's message, minus anything that must not reach our logs."""
        text = message or "no message"
        if self._key:
            text = text.replace(self._key, "[redacted]")
        text = _KEY_SHAPED.sub("[redacted]", text)
        if contains_card_number(text):
            return "(message withheld: it contained a card-number-like value)"
        return text


def _options(key: str) -> stripe.RequestOptions:
    return {"idempotency_key": key}


def _error_object(error: stripe.StripeError) -> Json:
    body = error.json_body
    inner = body.get("error") if isinstance(body, dict) else None
    return inner if isinstance(inner, dict) else {}


def _may_have_arrived(error: stripe.APIConnectionError) -> bool:
    """Whether the request may have reached Stripe: anything but a failure to connect."""
    return not isinstance(error.__cause__, _NOT_SENT)
