"""The only module that calls paypal-server-sdk.

The SDK is synchronous (requests), so every call runs in a worker thread
(``asyncio.to_thread``). Requests and answers are PayPal's documented JSON as plain dicts:
the SDK carries them (OAuth2 client credentials, base URL, timeout, error classes) and we
read ``ApiResponse.text``, so the mappers see exactly what PayPal sent. Every SDK, requests
or parsing exception becomes one of ``app.psp.errors`` here, chained with ``from``, with a
message that never carries credentials.

SDK retries are off (``max_retries=0``): a retry is our decision, made with the same
idempotency key, which every POST carries as ``PayPal-Request-Id``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import requests
from apimatic_core.authentication.multiple.single_auth import (  # type: ignore[import-untyped]
    Single,
)
from apimatic_core.request_builder import RequestBuilder  # type: ignore[import-untyped]
from apimatic_core.response_handler import ResponseHandler  # type: ignore[import-untyped]
from apimatic_core.types.parameter import Parameter  # type: ignore[import-untyped]
from paypalserversdk.api_helper import APIHelper  # type: ignore[import-untyped]
from paypalserversdk.configuration import (  # type: ignore[import-untyped]
    Configuration,
    Environment,
    Server,
)
from paypalserversdk.controllers.base_controller import (  # type: ignore[import-untyped]
    BaseController,
)
from paypalserversdk.exceptions.api_exception import (  # type: ignore[import-untyped]
    ApiException,
)
from paypalserversdk.exceptions.error_exception import (  # type: ignore[import-untyped]
    ErrorException,
)
from paypalserversdk.http.auth.o_auth_2 import (  # type: ignore[import-untyped]
    ClientCredentialsAuthCredentials,
)
from paypalserversdk.http.http_method_enum import HttpMethodEnum  # type: ignore[import-untyped]
from paypalserversdk.paypal_serversdk_client import (  # type: ignore[import-untyped]
    PaypalServersdkClient,
)
from urllib3.exceptions import MaxRetryError, NewConnectionError

from app.psp.errors import (
    PspAuthError,
    PspBadResponse,
    PspError,
    PspInvalidRequest,
    PspOutcomeUnknown,
    PspRateLimited,
    PspUnavailable,
)
from app.psp.paypal.declines import ISSUE_DECLINES
from app.psp.paypal.mappers import PSP, Json
from app.settings import PayPalSettings

ENVIRONMENTS = {"sandbox": Environment.SANDBOX, "production": Environment.PRODUCTION}
REPRESENTATION = "return=representation"  # full objects, not PayPal's minimal default
_NOT_SENT = (
    requests.ConnectTimeout,
    requests.exceptions.SSLError,
    requests.exceptions.ProxyError,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


class PayPalDecline(PspInvalidRequest):
    """A 4xx whose issue is a decline (INSTRUMENT_DECLINED …). The adapter turns it into
    a FAILED result; anywhere else it stays an invalid request."""

    def __init__(self, message: str, *, issue: str, description: str) -> None:
        super().__init__(message, psp=PSP, code=issue)
        self.issue = issue
        self.description = description


class _Configuration(Configuration):  # type: ignore[misc]
    """The SDK knows SANDBOX and PRODUCTION only; this one also points anywhere (tests)."""

    def __init__(self, *, api_base: str, **kwargs: Any) -> None:
        self._api_base = api_base.rstrip("/")
        super().__init__(**kwargs)

    def get_base_uri(self, server: Any = Server.DEFAULT) -> str:
        return self._api_base


class _NotificationsController(BaseController):  # type: ignore[misc]
    """``POST /v1/notifications/verify-webhook-signature``, absent from the SDK, built on
    the SDK's own HTTP layer (same OAuth token, base URL, timeout and error classes)."""

    def verify_webhook_signature(self, body: str) -> Any:
        return (
            super()
            .new_api_call_builder.request(
                RequestBuilder()
                .server(Server.DEFAULT)
                .path("/v1/notifications/verify-webhook-signature")
                .http_method(HttpMethodEnum.POST)
                .header_param(Parameter().key("Content-Type").value("application/json"))
                .header_param(Parameter().key("accept").value("application/json"))
                .body_param(Parameter().value(body))  # a str is sent as is
                .body_serializer(APIHelper.json_serialize)
                .auth(Single("Oauth2"))
            )
            .response(
                ResponseHandler()
                .deserializer(APIHelper.json_deserialize)
                .is_api_response(True)
                .local_error("default", "The error response.", ErrorException)
            )
            .execute()
        )


class _TokenError(Exception):
    """The OAuth token request failed: the API request itself was never sent."""


class _Tokens:
    """OAuth token source for the SDK. The SDK's own fetch swallows errors (a refused
    secret would look like a missing token); this one lets them through, and can drop a
    token PayPal refused (401) so that the next call fetches a fresh one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Any = None

    def provide(self, last: Any, auth_manager: Any) -> Any:
        with self._lock:
            current = self._current
            if (
                current is not None
                and current is not last
                and not auth_manager.is_token_expired(current)
            ):
                return current  # another thread refreshed it meanwhile
            try:
                token = auth_manager.fetch_token()
            except (ApiException, requests.RequestException) as error:
                raise _TokenError("PayPal's OAuth token request failed") from error
            if not getattr(token, "access_token", None):
                raise _TokenError("PayPal's OAuth answer had no access token")
            self._current = token
            return token

    def invalidate(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.expiry = 0  # the SDK now sees it as expired


class PayPalClient:
    def __init__(self, settings: PayPalSettings) -> None:
        if settings.client_id is None or settings.client_secret is None:
            raise ValueError("PayPal client id and secret are required")
        self._tokens = _Tokens()
        environment = ENVIRONMENTS[settings.environment]
        config = _Configuration(
            api_base=settings.api_base or Configuration.environments[environment][Server.DEFAULT],
            environment=environment,
            timeout=settings.timeout_seconds,
            max_retries=0,
            retry_statuses=[],
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
                o_auth_client_id=settings.client_id.get_secret_value(),
                o_auth_client_secret=settings.client_secret.get_secret_value(),
                o_auth_token_provider=self._tokens.provide,
                o_auth_clock_skew=60,  # refresh a minute before PayPal's expiry
            ),
        )
        self._sdk = PaypalServersdkClient(config=config)
        self._notifications = _NotificationsController(self._sdk.global_configuration)

    async def ensure_token(self) -> None:
        """An OAuth token for our credentials (cached by the SDK until it expires)."""
        oauth = self._sdk.oauth_2
        if not await self._call("fetch OAuth token", oauth.is_valid):
            raise PspAuthError("PayPal gave no OAuth token for our credentials.", psp=PSP)

    # --- Orders v2 --------------------------------------------------------------------------

    async def create_order(self, body: Json, *, request_id: str) -> Json:
        options = {"body": body, "paypal_request_id": request_id, "prefer": REPRESENTATION}
        return await self._json("create order", lambda: self._sdk.orders.create_order(options))

    async def get_order(self, order_id: str) -> Json:
        options = {"id": order_id}
        return await self._json(
            "get order", lambda: self._sdk.orders.get_order(options), reference=order_id
        )

    async def capture_order(self, order_id: str, *, request_id: str) -> Json:
        options = {"id": order_id, "paypal_request_id": request_id, "prefer": REPRESENTATION}
        return await self._json(
            "capture order", lambda: self._sdk.orders.capture_order(options), reference=order_id
        )

    async def authorize_order(self, order_id: str, *, request_id: str) -> Json:
        options = {"id": order_id, "paypal_request_id": request_id, "prefer": REPRESENTATION}
        return await self._json(
            "authorize order", lambda: self._sdk.orders.authorize_order(options), reference=order_id
        )

    # --- Payments v2 --------------------------------------------------------------------------

    async def capture_authorization(
        self, authorization_id: str, body: Json, *, request_id: str, reference: str
    ) -> Json:
        options = {
            "authorization_id": authorization_id,
            "body": body,
            "paypal_request_id": request_id,
            "prefer": REPRESENTATION,
        }
        payments = self._sdk.payments
        return await self._json(
            "capture authorization",
            lambda: payments.capture_authorized_payment(options),
            reference=reference,
        )

    async def void_authorization(
        self, authorization_id: str, *, request_id: str, reference: str
    ) -> Json | None:
        options = {
            "authorization_id": authorization_id,
            "paypal_request_id": request_id,
            "prefer": REPRESENTATION,
        }
        payments = self._sdk.payments
        response = await self._call(
            "void authorization", lambda: payments.void_payment(options), reference
        )
        return _parse(response, "void authorization", empty_ok=True)

    async def get_capture(self, capture_id: str) -> Json:
        options = {"capture_id": capture_id}
        payments = self._sdk.payments
        return await self._json("get capture", lambda: payments.get_captured_payment(options))

    async def refund_capture(
        self, capture_id: str, body: Json, *, request_id: str, reference: str | None
    ) -> Json:
        options = {
            "capture_id": capture_id,
            "body": body,
            "paypal_request_id": request_id,
            "prefer": REPRESENTATION,
        }
        payments = self._sdk.payments
        return await self._json(
            "refund capture", lambda: payments.refund_captured_payment(options), reference=reference
        )

    async def get_refund(self, refund_id: str) -> Json:
        options = {"refund_id": refund_id}
        payments = self._sdk.payments
        return await self._json("get refund", lambda: payments.get_refund(options))

    # --- Vault v3 -------------------------------------------------------------------------------

    async def create_setup_token(self, body: Json, *, request_id: str) -> Json:
        options = {"body": body, "paypal_request_id": request_id}
        vault = self._sdk.vault
        return await self._json("create setup token", lambda: vault.create_setup_token(options))

    async def create_payment_token(self, body: Json, *, request_id: str) -> Json:
        options = {"body": body, "paypal_request_id": request_id}
        vault = self._sdk.vault
        return await self._json("create payment token", lambda: vault.create_payment_token(options))

    async def get_payment_token(self, token_id: str) -> Json:
        vault = self._sdk.vault
        return await self._json("get payment token", lambda: vault.get_payment_token(token_id))

    async def delete_payment_token(self, token_id: str) -> None:
        vault = self._sdk.vault
        await self._call("delete payment token", lambda: vault.delete_payment_token(token_id))

    # --- Webhooks -------------------------------------------------------------------------------

    async def verify_webhook_signature(self, body: str) -> Json:
        notifications = self._notifications
        return await self._json(
            "verify webhook signature", lambda: notifications.verify_webhook_signature(body)
        )

    # --- plumbing -------------------------------------------------------------------------------

    async def _json(
        self, operation: str, send: Callable[[], Any], *, reference: str | None = None
    ) -> Json:
        parsed = _parse(await self._call(operation, send, reference), operation, empty_ok=False)
        assert parsed is not None
        return parsed

    async def _call(
        self, operation: str, send: Callable[[], Any], reference: str | None = None
    ) -> Any:
        try:
            return await asyncio.to_thread(send)
        except PspError:
            raise
        except Exception as error:  # every SDK/requests/urllib3 failure, wrapped below
            cause = error.__cause__ if isinstance(error, _TokenError) else error
            if isinstance(error, _TokenError):
                fault = _token_fault(cause, operation)
            elif isinstance(error, ApiException):
                fault = self._http_fault(error, operation)
            elif isinstance(error, requests.RequestException):
                fault = _transport_fault(error, operation, reference)
            else:
                fault = PspBadResponse(f"PayPal {operation}: unreadable answer.", psp=PSP)
            raise fault from cause

    def _http_fault(self, error: Any, operation: str) -> PspError:
        status = int(error.response_code)
        body = _error_body(error)
        name = str(body.get("name") or body.get("error") or "")
        detail: Any = next(iter(body.get("details") or []), {})
        issue = str(detail.get("issue") or "") if isinstance(detail, dict) else ""
        description = str(
            (detail.get("description") if isinstance(detail, dict) else None)
            or body.get("message")
            or body.get("error_description")
            or ""
        )
        message = f"PayPal {operation} failed: HTTP {status} {name} {issue}".rstrip()
        if description:
            message += f": {description}"
        if body.get("debug_id"):
            message += f" (debug_id {body['debug_id']})"
        code = issue or name or None
        if status in (401, 403):
            if status == 401:
                self._tokens.invalidate()
            return PspAuthError(message, psp=PSP, code=code)
        if status == 429:
            return PspRateLimited(message, psp=PSP, code=code)
        if status >= 500:
            return PspUnavailable(message, psp=PSP, code=code)
        if 400 <= status < 500:
            if issue in ISSUE_DECLINES:
                return PayPalDecline(message, issue=issue, description=description or issue)
            return PspInvalidRequest(message, psp=PSP, code=code)
        return PspBadResponse(message, psp=PSP, code=code)


def _token_fault(cause: BaseException | None, operation: str) -> PspError:
    """A failed OAuth token request: nothing was sent, so never an unknown outcome."""
    prefix = f"PayPal {operation}: the OAuth token request failed"
    if isinstance(cause, ApiException):
        status = int(cause.response_code)
        body = _error_body(cause)
        code = str(body.get("error") or body.get("name") or status)
        if status in (400, 401, 403):
            return PspAuthError(f"{prefix}: credentials refused ({code}).", psp=PSP, code=code)
        if status == 429:
            return PspRateLimited(f"{prefix}: rate limited.", psp=PSP, code=code)
        if status >= 500:
            return PspUnavailable(f"{prefix}: HTTP {status}.", psp=PSP, code=code)
    if isinstance(cause, requests.RequestException):
        return PspUnavailable(f"{prefix}: {type(cause).__name__}.", psp=PSP)
    return PspBadResponse(f"{prefix}: unreadable answer.", psp=PSP)


def _transport_fault(error: BaseException, operation: str, reference: str | None) -> PspError:
    """Not sent (refused, DNS, TLS, proxy, connect timeout) -> unavailable; sent without an
    answer (read timeout, connection lost) -> unknown outcome."""
    kind = type(error).__name__
    reason = error.args[0] if error.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    if not isinstance(error, requests.ReadTimeout) and (
        isinstance(error, _NOT_SENT) or isinstance(reason, NewConnectionError)
    ):
        return PspUnavailable(f"PayPal {operation}: could not reach PayPal ({kind}).", psp=PSP)
    return PspOutcomeUnknown(
        f"PayPal {operation}: sent, but no answer came ({kind}); the outcome is unknown.",
        psp=PSP,
        psp_reference=reference,
    )


def _error_body(error: Any) -> Json:
    try:
        body = json.loads(error.response.text or "")
    except (AttributeError, TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _parse(response: Any, operation: str, *, empty_ok: bool) -> Json | None:
    text = getattr(response, "text", None)
    if empty_ok and not text:
        return None
    try:
        body = json.loads(text) if isinstance(text, str | bytes) else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PspBadResponse(f"PayPal {operation}: the answer is not a JSON object.", psp=PSP)
    return body
