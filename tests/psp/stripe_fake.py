"""A small fake of Stripe's v1 API, enough for ``StripeGateway`` driven by the real SDK.

It answers from ``tests/fixtures/stripe/*.json`` (Stripe's documented objects) with ids,
amounts and statuses filled in, and keeps state so that confirm, capture, cancel, refund
and retrieve work. Like Stripe it parses form bodies (``a[b]=c``), checks the bearer key,
replays idempotent POSTs (same key and parameters) and refuses a key reused with other
parameters, and knows the test PaymentMethods ``pm_card_visa``, ``pm_card_chargeDeclined``,
``pm_card_visa_chargeDeclinedInsufficientFunds``, ``pm_card_threeDSecure2Required`` (and
the ``tok_...`` tokens of the same cards). ``fail_next`` injects faults; ``/_control/...``
plays the customer in a 3DS challenge. Control calls are not recorded.

Disputes: ``put`` a dispute (``dispute.json``), then ``POST /v1/disputes/{id}`` updates its
evidence and, with ``submit=true``, submits it (``under_review``, as Stripe answers; a second
submission is refused). ``POST /v1/files`` takes a multipart upload as files.stripe.com does
(``purpose=dispute_evidence``: PDF, JPEG or PNG by content, at most 5 MB) and keeps its bytes
in ``uploads``; the evidence a dispute received is in ``submitted``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import threading
import time
from collections import deque
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.psp.harness import RecordedCall

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
API_KEY = "sk_test_fake"
Json = dict[str, Any]

# Test cards: scenario, last4, fingerprint.
_CARDS = {
    "visa": ("success", "4242", "mToisGZ01V71BCos"),
    "chargeDeclined": ("declined", "0002", "a9RsjAiDC5bT0ZKr"),
    "visa_chargeDeclinedInsufficientFunds": ("insufficient_funds", "9995", "Hd4fLq2Xc8Wm1NzR"),
    "threeDSecure2Required": ("action_required", "3220", "Qk7Yt1Lp0Vb3Ds9E"),
}
MAGIC_METHODS = {f"pm_card_{name}": card for name, card in _CARDS.items()}
MAGIC_TOKENS = {f"tok_{name}": card for name, card in _CARDS.items()}
_DECLINES = {  # scenario: (code, decline_code, message)
    "declined": ("card_declined", "generic_decline", "Your card was declined."),
    "insufficient_funds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "authentication_required": (
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}
FAULTS = ("unavailable", "timeout", "rate_limited", "auth", "server_error", "garbage", "leak")


@cache
def _fixture(name: str) -> Json:
    loaded: Json = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def fixture(name: str) -> Json:
    """A fresh copy of ``tests/fixtures/stripe/<name>.json``."""
    return copy.deepcopy(_fixture(name))


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def parse_form(raw: str) -> Json:
    """Stripe's form encoding back into nested dicts/lists: ``a[b][0]=c``."""
    root: Json = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    listed: Json = _listify(root)
    return listed


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


class StripeError(Exception):
    def __init__(self, status: int, error: Json) -> None:
        super().__init__(error.get("message"))
        self.status, self.body = status, {"error": error}


def invalid(message: str, *, code: str | None = None, param: str | None = None) -> StripeError:
    error: Json = {"message": message, "type": "invalid_request_error"}
    if code:
        error |= {"code": code, "doc_url": f"https://stripe.com/docs/error-codes/{code}"}
    if param:
        error["param"] = param
    return StripeError(400, error)


def missing(kind: str, ident: str, param: str, status: int = 400) -> StripeError:
    error = invalid(f"No such {kind}: '{ident}'", code="resource_missing", param=param)
    error.status = status
    return error


def public(obj: Json) -> Json:
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


class StripeFake:
    def __init__(self, api_key: str = API_KEY, hang_seconds: float = 15.0) -> None:
        self.api_key = api_key
        self.hang_seconds = hang_seconds
        self.lock = threading.RLock()
        self.objects: dict[str, Json] = {}
        self.idempotent: dict[str, tuple[str, int, Json]] = {}
        self._calls: list[RecordedCall] = []
        self._faults: deque[str] = deque()
        self.uploads: dict[str, tuple[Json, bytes]] = {}  # file id -> (File, its bytes)
        self.submitted: dict[str, Json] = {}  # dispute id -> evidence submitted
        self.app = Starlette(
            routes=[
                Route("/v1/files", self._upload, methods=["POST"]),
                Route(
                    "/_control/payment_intents/{id}/complete_action",
                    self._complete,
                    methods=["POST"],
                ),
                Route("/v1/{path:path}", self._api, methods=["GET", "POST", "DELETE"]),
            ]
        )

    # --- test-side controls (thread-safe) ---------------------------------------------------

    def fail_next(self, kind: str) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}")
        with self.lock:
            self._faults.append(kind)

    def calls(self) -> list[RecordedCall]:
        with self.lock:
            return list(self._calls)

    def reset(self) -> None:
        with self.lock:
            self._calls.clear()
            self._faults.clear()

    def put(self, obj: Json) -> Json:
        """Store an object (e.g. a fixture) as Stripe would hold it."""
        with self.lock:
            self.objects[obj["id"]] = copy.deepcopy(obj)
        return obj

    def get(self, ident: str) -> Json:
        with self.lock:
            return public(self.objects[ident])

    # --- HTTP ----------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        raw = (await request.body()).decode()
        method, path = request.method, request.url.path
        form = parse_form(raw) if method == "POST" else parse_form(request.url.query)
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self.lock:
            self._calls.append(
                RecordedCall(method, path, headers, form if method == "POST" else None)
            )
            fault = self._faults.popleft() if self._faults else None
            status, body, extra = self._respond(method, path, form, headers, fault)
        if fault == "timeout":  # done, but the answer never comes back in time
            for _ in range(int(self.hang_seconds / 0.05)):
                if await request.is_disconnected():
                    break
                await asyncio.sleep(0.05)
        if fault == "garbage":
            return Response("<html>502 Bad Gateway</html>", 200, media_type="text/html")
        return JSONResponse(body, status, headers={"request-id": new_id("req"), **extra})

    def _respond(
        self, method: str, path: str, form: Json, headers: dict[str, str], fault: str | None
    ) -> tuple[int, Json, dict[str, str]]:
        if fault == "auth" or headers.get("authorization") != f"Bearer {self.api_key}":
            # Worse than Stripe, which masks all but the end of the key: echo it whole, so
            # tests prove that the adapter never passes this text on.
            given = headers.get("authorization", "").removeprefix("Bearer ")
            error = fixture("error_401_invalid_api_key")
            error["error"]["message"] = f"Invalid API Key provided: {given}"
            return 401, error, {}
        if fault == "rate_limited":
            return 429, fixture("error_429_rate_limit"), {}
        if fault == "unavailable":
            return 503, fixture("error_503_api_error"), {}
        if fault == "leak":
            message = f"Invalid card 4242 4242 4242 4242 for key {self.api_key}"
            return 400, invalid(message, code="parameter_invalid_string").body, {}
        key = headers.get("idempotency-key") if method == "POST" else None
        fingerprint = json.dumps([path, form], sort_keys=True)
        if key and key in self.idempotent:
            seen, status, body = self.idempotent[key]
            if seen != fingerprint:
                error = fixture("error_400_idempotency")
                error["error"]["message"] = error["error"]["message"].replace(
                    "KG5LxwFBepaKHyUD", key
                )
                return 400, error, {}
            return status, copy.deepcopy(body), {"idempotent-replayed": "true"}
        if fault == "server_error":
            status, body = 500, fixture("error_500_api_error")
        else:
            try:
                status, body = 200, self._dispatch(method, path, form)
            except StripeError as error:
                status, body = error.status, error.body
        if key and status in (200, 402, 500):  # Stripe stores results once execution began
            self.idempotent[key] = (fingerprint, status, copy.deepcopy(body))
        return status, body, {}

    async def _complete(self, request: Request) -> Response:
        succeed = request.query_params.get("succeed", "true") == "true"
        with self.lock:
            intent = self.objects.get(request.path_params["id"])
            if intent is None or intent["status"] != "requires_action":
                return JSONResponse({"error": "not awaiting an action"}, 409)
            intent["next_action"] = None
            if succeed:
                self._settle(intent)
            else:
                self._fail(intent, None, authentication=True)
            return JSONResponse(public(intent))

    async def _upload(self, request: Request) -> Response:
        """files.stripe.com's ``POST /v1/files`` (multipart/form-data)."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        upload = form.get("file")
        content = b"" if isinstance(upload, str) or upload is None else await upload.read()
        filename = getattr(upload, "filename", None) or "blob"
        with self.lock:
            recorded = {**fields, "file": {"filename": filename, "size": len(content)}}
            self._calls.append(RecordedCall("POST", "/v1/files", headers, recorded))
            if headers.get("authorization") != f"Bearer {self.api_key}":
                return JSONResponse(fixture("error_401_invalid_api_key"), 401)
            key = headers.get("idempotency-key")
            fingerprint = json.dumps([fields, filename, len(content)], sort_keys=True)
            if key and key in self.idempotent:
                seen, status, body = self.idempotent[key]
                if seen == fingerprint:
                    return JSONResponse(body, status, headers={"idempotent-replayed": "true"})
                return JSONResponse(fixture("error_400_idempotency"), 400)
            try:
                body = self._file(fields, filename, content)
            except StripeError as error:
                return JSONResponse(error.body, error.status)
            if key:
                self.idempotent[key] = (fingerprint, 200, copy.deepcopy(body))
        return JSONResponse(body, 200, headers={"request-id": new_id("req")})

    def _file(self, fields: Json, filename: str, content: bytes) -> Json:
        if fields.get("purpose") != "dispute_evidence":
            raise invalid("Invalid purpose.", code="parameter_invalid_string", param="purpose")
        kinds = {b"%PDF-": "pdf", b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}
        kind = next((k for magic, k in kinds.items() if content.startswith(magic)), None)
        if kind is None:
            raise invalid(
                "The file type is not supported for purpose dispute_evidence.",
                code="file_type_not_supported" if content else "parameter_missing",
                param="file",
            )
        if len(content) > 5 * 1024 * 1024:
            raise invalid("The file is larger than 5MB.", code="file_too_large", param="file")
        obj = self._new("file", "file")
        obj.update(
            filename=filename,
            size=len(content),
            type=kind,
            url=f"https://files.stripe.com/v1/files/{obj['id']}/contents",
        )
        obj["links"]["url"] = f"/v1/file_links?file={obj['id']}"
        self.uploads[obj["id"]] = (public(obj), content)
        return public(obj)

    # --- the API -------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, form: Json) -> Json:
        parts = path.removeprefix("/v1/").split("/")
        match method, parts:
            case "POST", ["customers"]:
                return self._customer(self._new("customer", "cus"), form)
            case "POST", ["customers", ident]:
                return self._customer(self._find(ident, "customer", "id", 404), form)
            case "DELETE", ["customers", ident]:
                return self._delete_customer(ident)
            case "POST", ["setup_intents"]:
                return self._setup_intent(form)
            case "POST", ["payment_methods"]:
                return self._payment_method_from_token(form)
            case "GET", ["payment_methods", ident]:
                return public(self._method(ident, 404))
            case "POST", ["payment_methods", ident, "attach"]:
                return self._attach(ident, form)
            case "POST", ["payment_methods", ident, "detach"]:
                method_ = self._method(ident, 404)
                if not method_["customer"]:
                    raise invalid(
                        "The payment method you provided is not attached to a customer so "
                        "detachment is impossible.",
                        code="payment_method_unexpected_state",
                    )
                method_["customer"] = None
                return public(method_)
            case "POST", ["payment_intents"]:
                return self._create_intent(form)
            case "GET", ["payment_intents", ident]:
                return public(self._find(ident, "payment_intent", "intent", 404))
            case "POST", ["payment_intents", ident, action]:
                intent = self._find(ident, "payment_intent", "intent", 404)
                return self._intent_action(intent, action, form)
            case "GET", ["disputes", ident]:
                return public(self._find(ident, "dispute", "dispute", 404))
            case "POST", ["disputes", ident]:
                return self._update_dispute(self._find(ident, "dispute", "dispute", 404), form)
            case "POST", ["refunds"]:
                return self._refund(form)
            case "GET", ["refunds", ident]:
                return public(self._find(ident, "refund", "id", 404))
        raise StripeError(
            404,
            {
                "message": f"Unrecognized request URL ({method}: {path}).",
                "type": "invalid_request_error",
            },
        )

    def _new(self, kind: str, prefix: str, template: str | None = None) -> Json:
        obj = fixture(template or kind)
        obj.update(id=new_id(prefix), created=int(time.time()), livemode=False)
        self.objects[obj["id"]] = obj
        return obj

    def _find(self, ident: str, kind: str, param: str, status: int = 400) -> Json:
        obj = self.objects.get(ident)
        if obj is None or obj.get("object") != kind:
            raise missing(kind, ident, param, status)
        return obj

    def _customer(self, customer: Json, form: Json) -> Json:
        for field in ("email", "name", "description", "phone"):
            if field in form:
                customer[field] = form[field] or None  # "" unsets, as at Stripe
        customer["metadata"] = {**customer.get("metadata", {}), **form.get("metadata", {})}
        return public(customer)

    def _delete_customer(self, ident: str) -> Json:
        """Like Stripe: the customer goes (a second DELETE is a 404 ``resource_missing``),
        its payment methods are detached, its payments stay."""
        self._find(ident, "customer", "id", 404)
        del self.objects[ident]
        for obj in self.objects.values():
            if obj.get("object") == "payment_method" and obj.get("customer") == ident:
                obj["customer"] = None
        deleted = fixture("customer_deleted")
        deleted["id"] = ident
        return deleted

    def _setup_intent(self, form: Json) -> Json:
        customer = form.get("customer")
        if customer:
            self._find(customer, "customer", "customer")
        intent = self._new("setup_intent", "seti")
        intent.update(
            client_secret=f"{intent['id']}_secret_{secrets.token_hex(12)}",
            customer=customer,
            usage=form.get("usage", "off_session"),
            payment_method_types=form.get("allowed_payment_method_types", ["card"]),
        )
        return public(intent)

    # payment methods

    def _card_method(self, card: tuple[str, str, str]) -> Json:
        scenario, last4, fingerprint = card
        method = self._new("payment_method", "pm", "payment_method_card")
        method["card"].update(last4=last4, fingerprint=fingerprint)
        method["_scenario"] = scenario
        return method

    def _method(self, ident: str, status: int = 400) -> Json:
        if ident in MAGIC_METHODS:  # like Stripe: each use makes a fresh PaymentMethod
            return self._card_method(MAGIC_METHODS[ident])
        return self._find(ident, "payment_method", "payment_method", status)

    def _payment_method_from_token(self, form: Json) -> Json:
        token = form.get("card", {}).get("token") if form.get("type") == "card" else None
        if token not in MAGIC_TOKENS:
            raise missing("token", str(token), "card[token]")
        return public(self._card_method(MAGIC_TOKENS[token]))

    def _attach(self, ident: str, form: Json) -> Json:
        method = self._method(ident, 404)
        customer = self._find(str(form.get("customer")), "customer", "customer")
        if method["customer"] not in (None, customer["id"]):
            raise invalid(
                "The payment method you provided has already been attached to a customer.",
                code="payment_method_unexpected_state",
            )
        method["customer"] = customer["id"]
        return public(method)

    # payment intents

    def _create_intent(self, form: Json) -> Json:
        amount = form.get("amount", "")
        if not amount.isdigit() or int(amount) < 1:
            raise invalid("Missing or invalid amount.", code="parameter_missing", param="amount")
        if len(form.get("currency", "")) != 3 or not form["currency"].islower():
            raise invalid("Invalid currency.", code="parameter_invalid_string", param="currency")
        if form.get("customer"):
            self._find(form["customer"], "customer", "customer")
        method = self._method(form["payment_method"]) if form.get("payment_method") else None
        if method and method["customer"] and method["customer"] != form.get("customer"):
            raise invalid(
                "The provided PaymentMethod belongs to a Customer; pass that customer.",
                param="payment_method",
            )
        intent = self._new("payment_intent", "pi", "payment_intent_requires_payment_method")
        intent.update(
            amount=int(amount),
            currency=form["currency"],
            capture_method=form.get("capture_method", "automatic_async"),
            client_secret=f"{intent['id']}_secret_{secrets.token_hex(12)}",
            customer=form.get("customer"),
            description=form.get("description"),
            metadata=form.get("metadata", {}),
            payment_method=method["id"] if method else None,
            payment_method_types=form.get("allowed_payment_method_types", ["card", "link"]),
            _automatic=not form.get("allowed_payment_method_types")
            and form.get("automatic_payment_methods", {}).get("allow_redirects") != "never",
            _off_session=form.get("off_session") == "true",
            _refunded=0,
        )
        if method:
            intent["status"] = "requires_confirmation"
        if form.get("confirm") == "true":
            self._confirm(intent, form)
        return public(intent)

    def _intent_action(self, intent: Json, action: str, form: Json) -> Json:
        status = intent["status"]
        if action == "confirm":
            if status not in ("requires_confirmation", "requires_payment_method"):
                raise self._unexpected(intent, "confirm")
            if form.get("payment_method"):
                intent["payment_method"] = self._method(form["payment_method"])["id"]
            self._confirm(intent, form)
        elif action == "capture":
            if status != "requires_capture":
                raise self._unexpected(intent, "capture")
            capture = int(form.get("amount_to_capture") or intent["amount_capturable"])
            if capture > intent["amount_capturable"]:
                raise invalid(
                    "The amount_to_capture is greater than the amount_capturable.",
                    code="amount_too_large",
                    param="amount_to_capture",
                )
            intent.update(status="succeeded", amount_received=capture, amount_capturable=0)
        elif action == "cancel":
            if status in ("succeeded", "canceled"):
                raise self._unexpected(intent, "cancel")
            intent.update(
                status="canceled",
                canceled_at=int(time.time()),
                cancellation_reason=form.get("cancellation_reason"),
                amount_capturable=0,
                next_action=None,
            )
        else:
            raise StripeError(
                404, {"message": "Unrecognized request URL.", "type": "invalid_request_error"}
            )
        return public(intent)

    @staticmethod
    def _unexpected(intent: Json, verb: str) -> StripeError:
        return invalid(
            f"You cannot {verb} this PaymentIntent because it has a status of {intent['status']}.",
            code="payment_intent_unexpected_state",
        )

    def _confirm(self, intent: Json, form: Json) -> None:
        if not intent["payment_method"]:
            raise self._unexpected(intent, "confirm")
        return_url = form.get("return_url")
        if intent.get("_automatic") and not return_url:
            raise invalid(
                "This PaymentIntent is configured to accept payment methods enabled in your "
                "Dashboard. Because some of these payment methods might redirect your customer "
                "off of your page, you must provide a `return_url`.",
                param="return_url",
            )
        method = self.objects[intent["payment_method"]]
        scenario = method.get("_scenario", "success")
        intent["last_payment_error"] = None
        if scenario in _DECLINES:
            self._fail(intent, scenario)
        elif scenario == "action_required" and intent.get("_off_session"):
            self._fail(intent, "authentication_required")
        elif scenario == "action_required":
            intent["status"] = "requires_action"
            template = "redirect" if return_url else "sdk"
            action = fixture(f"payment_intent_requires_action_{template}")["next_action"]
            if return_url:
                action["redirect_to_url"] = {
                    "return_url": return_url,
                    "url": f"https://hooks.stripe.com/3d_secure_2/hosted?payment_intent={intent['id']}",
                }
            intent["next_action"] = action
        else:
            self._settle(intent)

    def _settle(self, intent: Json) -> None:
        intent["latest_charge"] = new_id("ch")
        if intent["capture_method"] == "manual":
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
        else:
            intent.update(status="succeeded", amount_received=intent["amount"])

    def _fail(self, intent: Json, scenario: str | None, *, authentication: bool = False) -> None:
        method = public(self.objects[intent["payment_method"]])
        if authentication:
            error: Json = {
                "code": "payment_intent_authentication_failure",
                "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
                "message": "The provided PaymentMethod has failed authentication. You can provide "
                "payment_method_data or a new PaymentMethod to attempt to fulfill this "
                "PaymentIntent again.",
                "payment_method": method,
                "type": "invalid_request_error",
            }
        else:
            code, decline_code, message = _DECLINES[str(scenario)]
            error = fixture("error_402_card_declined")["error"]
            del error["payment_intent"], error["request_log_url"], error["advice_code"]
            error.update(
                charge=new_id("ch"),
                code=code,
                decline_code=decline_code,
                message=message,
                payment_method=method,
            )
            intent["latest_charge"] = error["charge"]
        intent.update(status="requires_payment_method", last_payment_error=error)
        if not authentication:
            body = fixture("error_402_card_declined")
            body["error"].update(error, payment_intent=public(intent))
            raise StripeError(402, body["error"])

    _FILE_FIELDS = frozenset(
        {
            "cancellation_policy", "customer_communication", "customer_signature",
            "duplicate_charge_documentation", "receipt", "refund_policy",
            "service_documentation", "shipping_documentation", "uncategorized_file",
        }
    )  # fmt: skip

    def _update_dispute(self, dispute: Json, form: Json) -> Json:
        """Stage evidence, and submit it with ``submit=true`` (Stripe's default)."""
        status = dispute["status"]
        if status not in ("needs_response", "warning_needs_response"):
            raise invalid(
                f"This dispute is {status} and cannot be updated with evidence.",
                code="dispute_already_responded" if "review" in status else None,
            )
        evidence = form.get("evidence", {})
        unknown = set(evidence) - set(dispute["evidence"])
        if unknown:
            raise invalid(f"Received unknown parameter: evidence[{sorted(unknown)[0]}]")
        for name, value in evidence.items():
            if name in self._FILE_FIELDS and value and value not in self.uploads:
                raise missing("file", value, f"evidence[{name}]")
        if sum(len(v) for k, v in evidence.items() if k not in self._FILE_FIELDS) > 150_000:
            raise invalid("The evidence is longer than 150,000 characters.", param="evidence")
        dispute["evidence"].update({k: v or None for k, v in evidence.items()})
        details = dispute["evidence_details"]
        details["has_evidence"] = any(v is not None for v in dispute["evidence"].values())
        if form.get("submit", "true") == "true":
            details["submission_count"] += 1
            dispute["status"] = (
                "under_review" if status == "needs_response" else ("warning_under_review")
            )
            self.submitted[dispute["id"]] = copy.deepcopy(dispute["evidence"])
        return public(dispute)

    def _refund(self, form: Json) -> Json:
        ident = form.get("payment_intent", "")
        intent = self._find(ident, "payment_intent", "payment_intent")
        if intent["status"] != "succeeded":
            raise invalid(
                "This PaymentIntent does not have a successful charge to refund.",
                code="charge_not_refundable",
            )
        left = intent["amount_received"] - intent.get("_refunded", 0)
        amount = int(form.get("amount", left))
        if left <= 0:
            raise invalid("Charge has already been refunded.", code="charge_already_refunded")
        if amount > left:
            raise invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        if form.get("reason") not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise invalid("Invalid reason.", param="reason")
        intent["_refunded"] = intent.get("_refunded", 0) + amount
        refund = self._new("refund", "re")
        refund.update(
            amount=amount,
            currency=intent["currency"],
            charge=intent["latest_charge"],
            payment_intent=intent["id"],
            reason=form.get("reason"),
            metadata=form.get("metadata", {}),
            status="succeeded",
        )
        return public(refund)
