"""A small fake of PayPal's REST API, enough for ``PayPalGateway`` driven by the real SDK.

It answers from ``tests/fixtures/paypal/*.json`` (PayPal's documented JSON) with ids,
amounts and statuses filled in, and keeps state so that capture, void, refund and
retrieve work. Like PayPal it issues OAuth2 client-credentials tokens (401 for wrong
credentials), checks the bearer token, replays a POST with a ``PayPal-Request-Id`` it has
seen, and verifies webhook transmissions (``verify-webhook-signature``: SUCCESS only for
a transmission it signed itself, over the exact event bytes, for its webhook id).

Test setup tokens select behaviour by name, ``ST-<BEHAVIOUR>-<random>``; the payment token
created from one keeps the behaviour:

| behaviour    | source | orders                                                          |
|--------------|--------|-----------------------------------------------------------------|
| PAYPAL, CARD | both   | complete at creation (capture COMPLETED / authorization CREATED)|
| PENDING      | paypal | capture PENDING (PENDING_REVIEW)                                |
| DECLINE<code>| card   | capture DECLINED / authorization DENIED, processor code <code>  |
| REFUSED      | paypal | 422 INSTRUMENT_DECLINED, no order                               |
| ACTION       | paypal | PAYER_ACTION_REQUIRED; off session 422 PAYER_ACTION_REQUIRED;   |
|              |        | a failed approval: capture 422 INSTRUMENT_DECLINED              |
| CARD3DS      | card   | PAYER_ACTION_REQUIRED (3DS); off session declined 5650;         |
|              |        | a failed 3DS: capture DECLINED 7710                             |

The payer's browser is played by ``GET /checkoutnow?token=<order>&action=approve|fail``
and ``GET /agreements/approve?approval_session_id=<setup token>&action=approve`` (not
recorded). ``fail_next`` makes the next request (any, OAuth included) fail.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import random
import string
import threading
import zlib
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.psp.harness import RecordedCall

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "paypal"
CLIENT_ID = "AcPaygateTestClientId"
CLIENT_SECRET = "EPaygateTestSecret-do-not-leak"
WEBHOOK_ID = "WH-TEST"
FAULTS = {
    "unavailable": (503, "error_service_unavailable"),
    "server_error": (500, "error_internal_server_error"),
    "rate_limited": (429, "error_rate_limit_reached"),
    "auth": (401, "error_invalid_token"),
    "forbidden": (403, "error_permission_denied"),
}
Json = dict[str, Any]


@cache
def _fixture(name: str) -> Json:
    loaded: Json = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def fixture(name: str) -> Json:
    """A fresh copy of ``tests/fixtures/paypal/<name>.json``."""
    return copy.deepcopy(_fixture(name))


def new_id(length: int = 17, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return "".join(random.choices(alphabet, k=length))


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def signature(secret: bytes, transmission_id: str, time: str, webhook_id: str, event: bytes) -> str:
    """PayPal signs ``<transmission id>|<time>|<webhook id>|<crc32 of the body>`` (with RSA);
    the fake signs the same message with an HMAC."""
    message = f"{transmission_id}|{time}|{webhook_id}|{crc32(event)}".encode()
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()


class PayPalError(Exception):
    def __init__(self, status: int, body: Json) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def error(status: int, name: str, issue: str, description: str | None = None) -> PayPalError:
    """An error in PayPal's shape: a fixture when there is one, else the same fields."""
    documented = {
        "INSTRUMENT_DECLINED": "error_instrument_declined",
        "PAYER_ACTION_REQUIRED": "error_payer_action_required",
        "ORDER_NOT_APPROVED": "error_order_not_approved",
        "INVALID_RESOURCE_ID": "error_resource_not_found",
    }
    if issue in documented:
        body = fixture(documented[issue])
    else:
        body = fixture("error_order_not_approved")
        body.update(name=name, details=[{"issue": issue, "description": description or issue}])
        body["links"] = []
    if description:
        body["details"][0]["description"] = description
    return PayPalError(status, body)


def not_found() -> PayPalError:
    return error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")


def unprocessable(issue: str, description: str | None = None) -> PayPalError:
    return error(422, "UNPROCESSABLE_ENTITY", issue, description)


def amount_of(value: Json) -> Decimal:
    return Decimal(value["value"])


def with_value(currency: str, value: Decimal) -> Json:
    places = 0 if currency in ("JPY", "HUF", "TWD") else 2
    return {"currency_code": currency, "value": f"{value:.{places}f}"}


@dataclass(frozen=True)
class Behaviour:
    source: str  # "paypal" or "card"
    outcome: str  # ok, pending, decline, refused, action
    code: str | None = None  # processor response code of a decline
    three_ds: bool = False


def behaviour_of(name: str) -> Behaviour | None:
    if name == "PAYPAL":
        return Behaviour("paypal", "ok")
    if name == "CARD":
        return Behaviour("card", "ok")
    if name == "PENDING":
        return Behaviour("paypal", "pending")
    if name == "REFUSED":
        return Behaviour("paypal", "refused")
    if name == "ACTION":
        return Behaviour("paypal", "action")
    if name == "CARD3DS":
        return Behaviour("card", "action", three_ds=True)
    if name.startswith("DECLINE") and len(name) > len("DECLINE"):
        return Behaviour("card", "decline", name.removeprefix("DECLINE"))
    return None


class PayPalFake:
    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        webhook_id: str = WEBHOOK_ID,
        hang_seconds: float = 3.0,
    ) -> None:
        self.client_id, self.client_secret, self.webhook_id = client_id, client_secret, webhook_id
        self.signing_secret = b"fake-paypal-signing-key"
        self.hang_seconds = hang_seconds
        self.base = ""  # this server's URL, learnt from the first request
        self.lock = threading.Lock()
        self._calls: list[RecordedCall] = []
        self._faults: deque[tuple[str, str | None]] = deque()
        self._tokens: set[str] = set()
        self._replays: dict[tuple[str, str], tuple[int, Json | None]] = {}
        self.orders: dict[str, Json] = {}
        self.order_meta: dict[str, dict[str, Any]] = {}
        self.authorizations: dict[str, str] = {}  # authorization id -> order id
        self.captures: dict[str, str] = {}  # capture id -> order id
        self.loose_captures: dict[str, Json] = {}  # seeded by tests
        self.refunds: dict[str, Json] = {}
        self.setup_tokens: dict[str, Json] = {}
        self.payment_tokens: dict[str, Json] = {}
        self.token_behaviour: dict[str, Behaviour] = {}
        self.app = Starlette(
            routes=[
                Route("/checkoutnow", self._payer_on_order, methods=["GET"]),
                Route("/agreements/approve", self._payer_on_setup_token, methods=["GET"]),
                Route("/{path:path}", self._api, methods=["GET", "POST", "DELETE", "PATCH"]),
            ]
        )

    # --- test controls --------------------------------------------------------------------

    def fail_next(self, kind: str, *, path: str | None = None) -> None:
        """Make the next request (or the next one whose path ends with ``path``) fail:
        unavailable (503), server_error (500), rate_limited (429), auth (401), forbidden
        (403), garbage (200, not JSON) or timeout (done, then answered too late)."""
        if kind not in (*FAULTS, "timeout", "garbage"):
            raise ValueError(f"unknown fault {kind!r}")
        with self.lock:
            self._faults.append((kind, path))

    def calls(self) -> list[RecordedCall]:
        with self.lock:
            return list(self._calls)

    def reset(self) -> None:
        with self.lock:
            self._calls.clear()
            self._faults.clear()

    def _take_fault(self, path: str) -> str | None:
        for index, (kind, where) in enumerate(self._faults):
            if where is None or path.endswith(where):
                del self._faults[index]
                return kind
        return None

    def revoke_tokens(self) -> None:
        """Every issued access token becomes invalid (as when PayPal expires it early)."""
        with self.lock:
            self._tokens.clear()

    def setup_token(self, behaviour: str) -> str:
        """An approved setup token id whose payment token behaves as ``behaviour``."""
        assert behaviour_of(behaviour) is not None, behaviour
        return f"ST-{behaviour}-{new_id(8)}"

    def sign(
        self, body: bytes, *, at: datetime, secret_ok: bool = True, webhook_id: str | None = None
    ) -> dict[str, str]:
        """PayPal's transmission headers for delivering ``body``."""
        transmission_id = f"{new_id(8).lower()}-{new_id(4).lower()}-11f0-9ac1-{new_id(12).lower()}"
        time = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        secret = self.signing_secret if secret_ok else b"not-paypal"
        return {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": time,
            "PAYPAL-TRANSMISSION-SIG": signature(
                secret, transmission_id, time, webhook_id or self.webhook_id, body
            ),
            "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }

    def capture_completed_event(self, order_id: str, *, at: datetime) -> Json:
        """A PAYMENT.CAPTURE.COMPLETED event for an order (its capture, if it has one)."""
        event = fixture("webhook_capture_completed")
        with self.lock:
            order = self.orders.get(order_id)
            captures = (
                order["purchase_units"][0].get("payments", {}).get("captures", []) if order else []
            )
            resource = copy.deepcopy(captures[-1]) if captures else event["resource"]
        resource["status"] = "COMPLETED"
        resource.setdefault("supplementary_data", {"related_ids": {}})
        resource["supplementary_data"]["related_ids"]["order_id"] = order_id
        event.update(
            id=f"WH-{new_id()}-{new_id()}",
            create_time=at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            resource=resource,
        )
        return event

    def add_capture(self, capture: Json) -> None:
        """A capture PayPal knows without an order here (for webhook tests)."""
        with self.lock:
            self.loose_captures[capture["id"]] = copy.deepcopy(capture)

    # --- the payer's browser ---------------------------------------------------------------

    async def _payer_on_order(self, request: Request) -> Response:
        order_id, action = request.query_params["token"], request.query_params.get("action")
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order["status"] not in ("PAYER_ACTION_REQUIRED", "CREATED"):
                return PlainTextResponse("no order waiting for the payer", status_code=404)
            order["status"] = "APPROVED"
            order["links"] = [self._link(f"/v2/checkout/orders/{order_id}", "self")]
            self.order_meta[order_id]["fail"] = action == "fail"
        return PlainTextResponse("approved" if action != "fail" else "approved, will fail")

    async def _payer_on_setup_token(self, request: Request) -> Response:
        token_id = request.query_params["approval_session_id"]
        with self.lock:
            token = self.setup_tokens.get(token_id)
            if token is None:
                return PlainTextResponse("no such setup token", status_code=404)
            token["status"] = "APPROVED"
        return PlainTextResponse("approved")

    # --- the API ---------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        raw = await request.body()
        path, method = request.url.path, request.method
        headers = {name.lower(): value for name, value in request.headers.items()}
        if "x-www-form-urlencoded" in headers.get("content-type", ""):
            body: Any = dict(parse_qsl(raw.decode()))
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
        with self.lock:
            self._calls.append(RecordedCall(method, path, headers, body))
            fault = self._take_fault(path)
        self.base = str(request.base_url).rstrip("/")
        if fault in FAULTS:
            status, name = FAULTS[fault]
            if path == "/v1/oauth2/token" and status == 401:
                name = "error_oauth_invalid_client"
            return JSONResponse(fixture(name), status_code=status)
        if fault == "garbage":
            return Response("<html>upstream proxy error</html>", 200, media_type="text/html")
        status, payload = self._answer(method, path, headers, body, raw)
        if fault == "timeout":  # done, but the answer comes too late
            await asyncio.sleep(self.hang_seconds)
        if payload is None:
            return Response(status_code=status)
        return JSONResponse(payload, status_code=status)

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: Any, raw: bytes
    ) -> tuple[int, Json | None]:
        if path == "/v1/oauth2/token" and method == "POST":
            return self._oauth(headers, body)
        with self.lock:
            token = headers.get("authorization", "").removeprefix("Bearer ")
            if token not in self._tokens:
                return 401, fixture("error_invalid_token")
            request_id = headers.get("paypal-request-id")
            replay_key = (f"{method} {path}", request_id or "")
            if method == "POST" and request_id and replay_key in self._replays:
                return self._replays[replay_key]
            try:
                status, payload = self._dispatch(method, path, body, raw, headers)
            except PayPalError as failure:
                status, payload = failure.status, failure.body
            if method == "POST" and request_id and status < 500:
                self._replays[replay_key] = (status, copy.deepcopy(payload))
            return status, payload

    def _oauth(self, headers: dict[str, str], form: Any) -> tuple[int, Json]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return 401, fixture("error_oauth_invalid_client")
        if not isinstance(form, dict) or form.get("grant_type") != "client_credentials":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "Grant Type is NULL",
            }
        answer = fixture("oauth_token")
        answer["access_token"] = f"A21AA{new_id(40, string.ascii_letters + string.digits)}"
        with self.lock:
            self._tokens.add(answer["access_token"])
        return 200, answer

    def _dispatch(
        self, method: str, path: str, body: Any, raw: bytes, headers: dict[str, str]
    ) -> tuple[int, Json | None]:
        parts = path.strip("/").split("/")
        body = body if isinstance(body, dict) else {}
        match method, parts:
            case "POST", ["v2", "checkout", "orders"]:
                return 201, self._create_order(body)
            case "GET", ["v2", "checkout", "orders", order_id]:
                return 200, self._order(order_id)
            case "POST", ["v2", "checkout", "orders", order_id, ("capture" | "authorize") as verb]:
                return 201, self._complete_order(order_id, verb)
            case "GET", ["v2", "payments", "authorizations", auth_id]:
                return 200, self._authorization(auth_id)[1]
            case "POST", ["v2", "payments", "authorizations", auth_id, "capture"]:
                return 201, self._capture_authorization(auth_id, body)
            case "POST", ["v2", "payments", "authorizations", auth_id, "void"]:
                voided = self._void(auth_id)
                return (
                    (200, voided) if "representation" in headers.get("prefer", "") else (204, None)
                )
            case "GET", ["v2", "payments", "captures", capture_id]:
                return 200, self._capture(capture_id)
            case "POST", ["v2", "payments", "captures", capture_id, "refund"]:
                return 201, self._refund(capture_id, body)
            case "GET", ["v2", "payments", "refunds", refund_id]:
                if refund_id not in self.refunds:
                    raise not_found()
                return 200, copy.deepcopy(self.refunds[refund_id])
            case "POST", ["v3", "vault", "setup-tokens"]:
                return 201, self._create_setup_token(body)
            case "GET", ["v3", "vault", "setup-tokens", token_id]:
                if token_id not in self.setup_tokens:
                    raise not_found()
                return 200, copy.deepcopy(self.setup_tokens[token_id])
            case "POST", ["v3", "vault", "payment-tokens"]:
                return 201, self._create_payment_token(body)
            case "GET", ["v3", "vault", "payment-tokens", token_id]:
                if token_id not in self.payment_tokens:
                    raise not_found()
                return 200, copy.deepcopy(self.payment_tokens[token_id])
            case "DELETE", ["v3", "vault", "payment-tokens", token_id]:
                if self.payment_tokens.pop(token_id, None) is None:
                    raise not_found()
                return 204, None
            case "POST", ["v1", "notifications", "verify-webhook-signature"]:
                return 200, self._verify(raw)
        raise error(404, "NOT_FOUND", "NOT_FOUND", f"no route {method} {path}")

    def _link(self, path: str, rel: str, method: str = "GET") -> Json:
        return {"href": f"{self.base}{path}", "rel": rel, "method": method}

    # --- Orders v2 --------------------------------------------------------------------------

    def _create_order(self, body: Json) -> Json:
        intent = body.get("intent")
        units = body.get("purchase_units") or []
        if intent not in ("CAPTURE", "AUTHORIZE") or not units or "amount" not in units[0]:
            raise error(400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER", "intent/amount")
        amount = units[0]["amount"]
        places = 0 if amount["currency_code"] in ("JPY", "HUF", "TWD") else 2
        if len(amount["value"].partition(".")[2]) > places:
            raise PayPalError(400, fixture("error_invalid_request"))
        source = body.get("payment_source") or {}
        kind = next((k for k in ("paypal", "card") if k in source), "paypal")
        entry = source.get(kind) or {}
        vault_id = entry.get("vault_id")
        off_session = (entry.get("stored_credential") or {}).get("payment_initiator") == "MERCHANT"
        order = fixture("order_payer_action_required")
        order_id = new_id()
        unit = {"reference_id": "default", "amount": copy.deepcopy(amount)}
        unit["payee"] = order["purchase_units"][0]["payee"]
        unit.update({k: units[0][k] for k in ("custom_id", "description") if k in units[0]})
        order.update(id=order_id, intent=intent, purchase_units=[unit], create_time=now_text())
        behaviour = Behaviour("paypal", "action")  # a checkout the payer approves
        if vault_id is not None:
            if vault_id not in self.payment_tokens:
                raise not_found()
            behaviour = self.token_behaviour[vault_id]
            if behaviour.source != kind:
                raise unprocessable("INCOMPATIBLE_PARAMETER_VALUE", "vault_id of another type")
            order["payment_source"] = self._order_source(vault_id, behaviour)
            if behaviour.outcome == "refused":
                raise unprocessable("INSTRUMENT_DECLINED")
            if behaviour.outcome == "action" and off_session and not behaviour.three_ds:
                raise unprocessable("PAYER_ACTION_REQUIRED")
        self.orders[order_id] = order
        self.order_meta[order_id] = {"behaviour": behaviour, "fail": False}
        if behaviour.outcome == "action" and not (off_session and behaviour.three_ds):
            order["status"] = "PAYER_ACTION_REQUIRED"
            order["links"] = [
                self._link(f"/v2/checkout/orders/{order_id}", "self"),
                {
                    "href": f"{self.base}/checkoutnow?token={order_id}",
                    "rel": "payer-action",
                    "method": "GET",
                },
            ]
        else:
            self._settle(order, decline_code="5650" if behaviour.outcome == "action" else None)
        return copy.deepcopy(order)

    def _order_source(self, vault_id: str, behaviour: Behaviour) -> Json:
        if behaviour.source == "card":
            card = fixture("order_completed_card_declined")["payment_source"]
            card["card"]["last_digits"] = self.payment_tokens[vault_id]["payment_source"]["card"][
                "last_digits"
            ]
            return card
        source = fixture("order_completed_capture")["payment_source"]
        source["paypal"]["attributes"] = {"vault": {"id": vault_id, "status": "VAULTED"}}
        return source

    def _order(self, order_id: str) -> Json:
        if order_id not in self.orders:
            raise not_found()
        return copy.deepcopy(self.orders[order_id])

    def _complete_order(self, order_id: str, verb: str) -> Json:
        order = self._order_ref(order_id)
        if order["status"] == "COMPLETED":
            raise unprocessable(
                "ORDER_ALREADY_CAPTURED" if verb == "capture" else "ORDER_ALREADY_AUTHORIZED"
            )
        if order["status"] != "APPROVED":
            raise unprocessable("ORDER_NOT_APPROVED")
        if (verb == "capture") != (order["intent"] == "CAPTURE"):
            raise unprocessable("ACTION_DOES_NOT_MATCH_INTENT")
        self._settle(order)
        return copy.deepcopy(order)

    def _order_ref(self, order_id: str) -> Json:
        if order_id not in self.orders:
            raise not_found()
        return self.orders[order_id]

    def _settle(self, order: Json, *, decline_code: str | None = None) -> None:
        """Pay an order now: a capture (intent CAPTURE) or an authorization (AUTHORIZE)."""
        meta = self.order_meta[order["id"]]
        behaviour: Behaviour = meta["behaviour"]
        outcome, code = (
            ("decline", decline_code) if decline_code else (behaviour.outcome, behaviour.code)
        )
        if meta["fail"]:
            if not behaviour.three_ds:
                refused = unprocessable("INSTRUMENT_DECLINED")
                refused.body["links"][1]["href"] = f"{self.base}/checkoutnow?token={order['id']}"
                raise refused
            outcome, code = "decline", "7710"
        unit = order["purchase_units"][0]
        if order["intent"] == "CAPTURE":
            status = {"decline": "DECLINED", "pending": "PENDING"}.get(outcome, "COMPLETED")
            transaction = self._new_capture(order, unit["amount"], status)
            unit["payments"] = {"captures": [transaction]}
        else:
            status = {"decline": "DENIED", "pending": "PENDING"}.get(outcome, "CREATED")
            transaction = self._new_authorization(order, unit["amount"], status)
            unit["payments"] = {"authorizations": [transaction]}
        if behaviour.source == "card":
            transaction["processor_response"] = {
                "avs_code": "A",
                "cvv_code": "M",
                "response_code": code if outcome == "decline" else "0000",
            }
        if status == "PENDING":
            transaction["status_details"] = {"reason": "PENDING_REVIEW"}
        order["status"] = "COMPLETED"
        order["update_time"] = now_text()
        order["links"] = [self._link(f"/v2/checkout/orders/{order['id']}", "self")]

    def _new_capture(
        self, order: Json, amount: Json, status: str, authorization_id: str | None = None
    ) -> Json:
        capture = fixture("capture")
        capture_id = new_id()
        related = {"order_id": order["id"]}
        if authorization_id:
            related["authorization_id"] = authorization_id
        up = (
            f"/v2/payments/authorizations/{authorization_id}"
            if authorization_id
            else f"/v2/checkout/orders/{order['id']}"
        )
        capture.update(
            id=capture_id,
            status=status,
            amount=copy.deepcopy(amount),
            supplementary_data={"related_ids": related},
            create_time=now_text(),
            update_time=now_text(),
            links=[
                self._link(f"/v2/payments/captures/{capture_id}", "self"),
                self._link(f"/v2/payments/captures/{capture_id}/refund", "refund", "POST"),
                self._link(up, "up"),
            ],
        )
        if "custom_id" in order["purchase_units"][0]:
            capture["custom_id"] = order["purchase_units"][0]["custom_id"]
        breakdown = capture["seller_receivable_breakdown"]
        breakdown["gross_amount"] = breakdown["net_amount"] = copy.deepcopy(amount)
        breakdown["paypal_fee"] = with_value(amount["currency_code"], Decimal(0))
        if status != "COMPLETED":
            del capture["seller_receivable_breakdown"]
        self.captures[capture_id] = order["id"]
        return capture

    def _new_authorization(self, order: Json, amount: Json, status: str) -> Json:
        authorization = fixture("authorization")
        auth_id = new_id()
        path = f"/v2/payments/authorizations/{auth_id}"
        authorization.update(
            id=auth_id,
            status=status,
            amount=copy.deepcopy(amount),
            supplementary_data={"related_ids": {"order_id": order["id"]}},
            create_time=now_text(),
            update_time=now_text(),
            links=[
                self._link(path, "self"),
                self._link(f"{path}/capture", "capture", "POST"),
                self._link(f"{path}/void", "void", "POST"),
                self._link(f"/v2/checkout/orders/{order['id']}", "up"),
            ],
        )
        authorization.pop("custom_id", None)
        self.authorizations[auth_id] = order["id"]
        return authorization

    # --- Payments v2 ------------------------------------------------------------------------

    def _authorization(self, auth_id: str) -> tuple[Json, Json]:
        order_id = self.authorizations.get(auth_id)
        if order_id is None:
            raise not_found()
        order = self.orders[order_id]
        for authorization in order["purchase_units"][0]["payments"]["authorizations"]:
            if authorization["id"] == auth_id:
                return order, authorization
        raise not_found()

    def _capture_authorization(self, auth_id: str, body: Json) -> Json:
        order, authorization = self._authorization(auth_id)
        status = authorization["status"]
        if status == "VOIDED":
            raise unprocessable("AUTHORIZATION_VOIDED")
        if status == "CAPTURED":
            raise unprocessable("AUTHORIZATION_ALREADY_CAPTURED")
        if status not in ("CREATED", "PARTIALLY_CAPTURED"):
            raise unprocessable("CANNOT_CAPTURE_AUTHORIZATION", f"authorization is {status}")
        payments = order["purchase_units"][0]["payments"]
        done = sum(
            (
                amount_of(c["amount"])
                for c in payments.get("captures", [])
                if c["supplementary_data"]["related_ids"].get("authorization_id") == auth_id
            ),
            Decimal(0),
        )
        currency = authorization["amount"]["currency_code"]
        remaining = amount_of(authorization["amount"]) - done
        amount = body.get("amount") or with_value(currency, remaining)
        if amount["currency_code"] != currency:
            raise unprocessable("CURRENCY_MISMATCH")
        if amount_of(amount) > remaining * Decimal("1.15"):
            raise unprocessable("MAX_CAPTURE_AMOUNT_EXCEEDED")
        capture = self._new_capture(order, amount, "COMPLETED", authorization_id=auth_id)
        capture["final_capture"] = bool(body.get("final_capture", False))
        payments.setdefault("captures", []).append(capture)
        full = capture["final_capture"] or amount_of(amount) >= remaining
        authorization["status"] = "CAPTURED" if full else "PARTIALLY_CAPTURED"
        authorization["update_time"] = now_text()
        return copy.deepcopy(capture)

    def _void(self, auth_id: str) -> Json:
        _, authorization = self._authorization(auth_id)
        status = authorization["status"]
        if status == "VOIDED":
            raise unprocessable("PREVIOUSLY_VOIDED")
        if status not in ("CREATED", "PARTIALLY_CAPTURED", "PENDING"):
            raise unprocessable("AUTHORIZATION_ALREADY_CAPTURED")
        authorization["status"] = "VOIDED"
        authorization["update_time"] = now_text()
        authorization["links"] = authorization["links"][:1]
        return copy.deepcopy(authorization)

    def _capture_ref(self, capture_id: str) -> Json:
        order_id = self.captures.get(capture_id)
        if order_id is None:
            if capture_id in self.loose_captures:
                return self.loose_captures[capture_id]
            raise not_found()
        for capture in self.orders[order_id]["purchase_units"][0]["payments"]["captures"]:
            if capture["id"] == capture_id:
                return capture
        raise not_found()

    def _capture(self, capture_id: str) -> Json:
        return copy.deepcopy(self._capture_ref(capture_id))

    def _refund(self, capture_id: str, body: Json) -> Json:
        capture = self._capture_ref(capture_id)
        if capture["status"] == "REFUNDED":
            raise unprocessable("CAPTURE_FULLY_REFUNDED")
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            raise unprocessable("REFUND_NOT_ALLOWED", f"capture is {capture['status']}")
        currency = capture["amount"]["currency_code"]
        refunded = sum(
            (
                amount_of(r["amount"])
                for r in self.refunds.values()
                if r["links"][1]["href"].endswith(f"/captures/{capture_id}")
            ),
            Decimal(0),
        )
        remaining = amount_of(capture["amount"]) - refunded
        amount = body.get("amount") or with_value(currency, remaining)
        if amount["currency_code"] != currency:
            raise unprocessable("CURRENCY_MISMATCH")
        if amount_of(amount) > remaining:
            raise unprocessable("REFUND_AMOUNT_EXCEEDED")
        refund = fixture("refund")
        refund_id = new_id()
        breakdown = refund["seller_payable_breakdown"]
        breakdown["gross_amount"] = breakdown["net_amount"] = copy.deepcopy(amount)
        breakdown["paypal_fee"] = with_value(currency, Decimal(0))
        breakdown["total_refunded_amount"] = with_value(currency, refunded + amount_of(amount))
        refund.update(
            id=refund_id,
            amount=copy.deepcopy(amount),
            create_time=now_text(),
            update_time=now_text(),
            links=[
                self._link(f"/v2/payments/refunds/{refund_id}", "self"),
                self._link(f"/v2/payments/captures/{capture_id}", "up"),
            ],
        )
        if body.get("note_to_payer"):
            refund["note_to_payer"] = body["note_to_payer"]
        else:
            refund.pop("note_to_payer", None)
        self.refunds[refund_id] = refund
        capture["status"] = "REFUNDED" if amount_of(amount) == remaining else "PARTIALLY_REFUNDED"
        return copy.deepcopy(refund)

    # --- Vault v3 ---------------------------------------------------------------------------

    def _create_setup_token(self, body: Json) -> Json:
        paypal = (body.get("payment_source") or {}).get("paypal")
        if not isinstance(paypal, dict):
            raise error(400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER", "payment_source")
        token = fixture("setup_token_paypal")
        token_id = new_id()
        merchant_customer = (body.get("customer") or {}).get("merchant_customer_id")
        token["customer"] = {"id": f"customer_{new_id(10, string.digits)}"}
        if merchant_customer:
            token["customer"]["merchant_customer_id"] = merchant_customer
        token["id"] = token_id
        for key in ("usage_type", "customer_type", "permit_multiple_payment_tokens"):
            if key in paypal:
                token["payment_source"]["paypal"][key] = paypal[key]
        token["links"] = [
            {
                "href": f"{self.base}/agreements/approve?approval_session_id={token_id}",
                "rel": "approve",
                "method": "GET",
            },
            self._link(f"/v3/vault/setup-tokens/{token_id}", "self"),
            self._link("/v3/vault/payment-tokens", "confirm", "POST"),
        ]
        self.setup_tokens[token_id] = token
        self.token_behaviour[token_id] = Behaviour("paypal", "ok")
        return copy.deepcopy(token)

    def _create_payment_token(self, body: Json) -> Json:
        reference = (body.get("payment_source") or {}).get("token") or {}
        if reference.get("type") != "SETUP_TOKEN":
            raise error(400, "INVALID_REQUEST", "INVALID_PARAMETER_VALUE", "token.type")
        setup_id = str(reference.get("id", ""))
        setup = self.setup_tokens.get(setup_id)
        if setup is None:
            prefix, _, rest = setup_id.partition("-")
            behaviour = behaviour_of(rest.rpartition("-")[0]) if prefix == "ST" else None
            if behaviour is None:
                raise not_found()
            setup = {"id": setup_id, "status": "APPROVED", "customer": {"id": "customer_1"}}
            self.setup_tokens[setup_id] = setup
            self.token_behaviour[setup_id] = behaviour
        if setup["status"] in ("VAULTED", "TOKENIZED"):
            raise unprocessable(
                "SETUP_TOKEN_ALREADY_TOKENIZED",
                "The setup token has been used previously to generate a payment token.",
            )
        if setup["status"] != "APPROVED":
            raise unprocessable(
                "PAYER_ACTION_REQUIRED",
                "Please make sure setup up token is approved. Please complete the approval flow.",
            )
        setup["status"] = "TOKENIZED"
        behaviour = self.token_behaviour[setup_id]
        token = fixture(f"payment_token_{behaviour.source}")
        token_id = new_id(8, string.ascii_lowercase + string.digits)
        token.update(
            id=token_id,
            customer=copy.deepcopy(setup["customer"]),
            links=[
                self._link(f"/v3/vault/payment-tokens/{token_id}", "self"),
                self._link(f"/v3/vault/payment-tokens/{token_id}", "delete", "DELETE"),
            ],
        )
        if behaviour.source == "card":
            last4 = {"decline": "0002", "action": "3220"}.get(behaviour.outcome, "1111")
            token["payment_source"]["card"]["last_digits"] = last4
        self.payment_tokens[token_id] = token
        self.token_behaviour[token_id] = behaviour
        return copy.deepcopy(token)

    # --- webhooks ---------------------------------------------------------------------------

    def _verify(self, raw: bytes) -> Json:
        text = raw.decode()
        fields = json.loads(text)
        needed = (
            "auth_algo",
            "cert_url",
            "transmission_id",
            "transmission_sig",
            "transmission_time",
            "webhook_id",
            "webhook_event",
        )
        missing = [name for name in needed if not fields.get(name)]
        if missing:
            raise error(400, "VALIDATION_ERROR", "MISSING_REQUIRED_PARAMETER", ", ".join(missing))
        event = raw_member(text, "webhook_event").encode()  # the bytes as the client sent them
        expected = signature(
            self.signing_secret,
            fields["transmission_id"],
            fields["transmission_time"],
            fields["webhook_id"],
            event,
        )
        genuine = fields["webhook_id"] == self.webhook_id and hmac.compare_digest(
            expected, fields["transmission_sig"]
        )
        return fixture(f"verify_webhook_signature_{'success' if genuine else 'failure'}")


def raw_member(text: str, key: str) -> str:
    """The exact JSON text of the top-level member ``key`` of the object ``text``."""
    decoder = json.JSONDecoder()
    index = text.index(f'"{key}"') + len(key) + 2
    while text[index] in " \t\r\n:":
        index += 1
    _, end = decoder.raw_decode(text, index)
    return text[index:end]
