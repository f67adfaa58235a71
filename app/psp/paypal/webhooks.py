"""PayPal webhooks: verify first, then map.

Verification asks PayPal (``POST /v1/notifications/verify-webhook-signature``) whether it
signed this transmission for our webhook id. Before that we refuse, without a network
call, a delivery that lacks one of PayPal's transmission headers or whose transmission
time is more than five minutes from now (a replay). The event goes to PayPal byte for
byte as received: PayPal checks a CRC32 of the body, which re-serialised JSON may break.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from app.domain.money import Money
from app.domain.payments import DisputeStatus, PaymentStatus
from app.psp.base import DisputeInfo, EventKind, PaymentResult, WebhookEvent
from app.psp.errors import PspBadResponse, WebhookVerificationError
from app.psp.paypal import mappers
from app.psp.paypal.declines import transaction_decline
from app.psp.paypal.mappers import (
    AUTHORIZATION_STATUS,
    CAPTURE_STATUS,
    PSP,
    Json,
    ident,
    lookup,
    money,
    related_order_id,
    timestamp,
)

TOLERANCE_SECONDS = 300
HEADERS = {
    "transmission_id": "paypal-transmission-id",
    "transmission_time": "paypal-transmission-time",
    "transmission_sig": "paypal-transmission-sig",
    "cert_url": "paypal-cert-url",
    "auth_algo": "paypal-auth-algo",
}
PAYMENT_EVENTS = frozenset(
    {
        "PAYMENT.CAPTURE.COMPLETED",
        "PAYMENT.CAPTURE.DENIED",
        "PAYMENT.CAPTURE.PENDING",
        "PAYMENT.AUTHORIZATION.CREATED",
        "PAYMENT.AUTHORIZATION.VOIDED",
        "CHECKOUT.ORDER.APPROVED",
    }
)
REFUND_EVENTS = frozenset({"PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED"})
DISPUTE_EVENTS = frozenset(
    {"CUSTOMER.DISPUTE.CREATED", "CUSTOMER.DISPUTE.UPDATED", "CUSTOMER.DISPUTE.RESOLVED"}
)
PAYMENT_METHOD_EVENTS = frozenset({"VAULT.PAYMENT-TOKEN.CREATED", "VAULT.PAYMENT-TOKEN.DELETED"})

OrderIdOfCapture = Callable[[str], Awaitable[str]]
_CAPTURED = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")

# Disputes API: open states by status, resolved ones by dispute_outcome.outcome_code.
DISPUTE_STATUS: dict[str, DisputeStatus] = {
    "OPEN": DisputeStatus.NEEDS_RESPONSE,
    "WAITING_FOR_SELLER_RESPONSE": DisputeStatus.NEEDS_RESPONSE,
    "WAITING_FOR_BUYER_RESPONSE": DisputeStatus.UNDER_REVIEW,
    "UNDER_REVIEW": DisputeStatus.UNDER_REVIEW,
    "OTHER": DisputeStatus.UNDER_REVIEW,
}
DISPUTE_OUTCOME: dict[str, DisputeStatus] = {
    "RESOLVED_BUYER_FAVOUR": DisputeStatus.LOST,
    "ACCEPTED": DisputeStatus.LOST,  # we accepted the claim
    "RESOLVED_SELLER_FAVOUR": DisputeStatus.WON,
    "DENIED": DisputeStatus.WON,  # the claim was denied
    "CANCELED_BY_BUYER": DisputeStatus.WON,
    "RESOLVED_WITH_PAYOUT": DisputeStatus.WON,  # PayPal paid the buyer, not us
}


def verification_request(
    headers: Mapping[str, str], body: bytes, *, webhook_id: str | None, now: datetime
) -> str:
    """The verify-webhook-signature request body, or WebhookVerificationError when the
    delivery cannot be genuine (missing header, stale time, body not a JSON object)."""
    if not webhook_id:
        raise WebhookVerificationError("No PayPal webhook id is configured.", psp=PSP)
    lowered = {name.lower(): value for name, value in headers.items()}
    fields: dict[str, str] = {}
    for field, header in HEADERS.items():
        value = lowered.get(header)
        if not value:
            raise WebhookVerificationError(f"Missing header {header.upper()}.", psp=PSP)
        fields[field] = value
    try:
        sent_at = datetime.fromisoformat(fields["transmission_time"])
    except ValueError:
        sent_at = None
    if sent_at is None or sent_at.tzinfo is None:
        raise WebhookVerificationError("Unreadable PAYPAL-TRANSMISSION-TIME.", psp=PSP)
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    if abs((now - sent_at).total_seconds()) > TOLERANCE_SECONDS:
        raise WebhookVerificationError("Transmission time is outside the tolerance.", psp=PSP)
    try:
        text = body.decode("utf-8")
        event = json.loads(text)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise WebhookVerificationError("The body is not a JSON object.", psp=PSP)
    fields["webhook_id"] = webhook_id
    head = json.dumps(fields, separators=(",", ":"))
    return f'{head[:-1]},"webhook_event":{text}}}'


def check_verification(answer: Json) -> None:
    if answer.get("verification_status") != "SUCCESS":
        raise WebhookVerificationError(
            f"PayPal did not verify this delivery ({answer.get('verification_status')!r}).",
            psp=PSP,
        )


async def map_event(body: bytes, order_id_of_capture: OrderIdOfCapture) -> WebhookEvent:
    """A verified event -> a provider-neutral snapshot. Refund and dispute resources name
    a capture; ``order_id_of_capture`` finds its order (our payment reference)."""
    event: Json = json.loads(body)
    event_type = event.get("event_type")
    resource = event.get("resource")
    if not isinstance(event_type, str) or not isinstance(resource, dict):
        raise PspBadResponse("PayPal sent an event without event_type or resource.", psp=PSP)
    common: dict[str, Any] = {
        "psp": PSP,
        "event_id": mappers.ident(event, "webhook event"),
        "type": event_type,
        "occurred_at": mappers.timestamp(event.get("create_time")),
    }
    if event_type in PAYMENT_EVENTS:
        if event_type.startswith("PAYMENT.CAPTURE."):
            payment = payment_from_capture(resource)
        elif event_type.startswith("PAYMENT.AUTHORIZATION."):
            payment = payment_from_authorization(resource)
        else:
            payment = mappers.payment_from_order(resource)
        return WebhookEvent(kind=EventKind.PAYMENT, payment=payment, **common)
    if event_type in REFUND_EVENTS:
        capture_id = mappers.refund_capture_id(resource)
        if capture_id is None:
            raise PspBadResponse("PayPal sent a refund without its capture link.", psp=PSP)
        order_id = await order_id_of_capture(capture_id)
        refund = mappers.refund_from(resource, order_id)
        return WebhookEvent(kind=EventKind.REFUND, refund=refund, **common)
    if event_type in DISPUTE_EVENTS:
        capture_id = dispute_transaction_id(resource)
        order_id = await order_id_of_capture(capture_id) if capture_id else ""
        dispute = dispute_from(resource, order_id)
        return WebhookEvent(kind=EventKind.DISPUTE, dispute=dispute, **common)
    if event_type in PAYMENT_METHOD_EVENTS:
        return WebhookEvent(kind=EventKind.PAYMENT_METHOD, **common)
    return WebhookEvent(kind=EventKind.OTHER, **common)


# --- webhook resources ------------------------------------------------------------------------


def payment_from_capture(capture: Mapping[str, Any]) -> PaymentResult:
    """A snapshot from a webhook's capture resource, referenced by its order."""
    amount = money(capture.get("amount"))
    zero = Money(0, amount.currency)
    status = lookup(CAPTURE_STATUS, capture.get("status"), "capture status")
    return PaymentResult(
        psp_reference=related_order_id(capture) or ident(capture, "capture"),
        status=status,
        amount=amount,
        amount_capturable=zero,
        amount_received=amount if capture.get("status") in _CAPTURED else zero,
        decline=transaction_decline(capture) if status is PaymentStatus.FAILED else None,
        raw_status=f"CAPTURE/{capture.get('status')}",
    )


def payment_from_authorization(authorization: Mapping[str, Any]) -> PaymentResult:
    amount = money(authorization.get("amount"))
    zero = Money(0, amount.currency)
    status = lookup(AUTHORIZATION_STATUS, authorization.get("status"), "authorization status")
    return PaymentResult(
        psp_reference=related_order_id(authorization) or ident(authorization, "authorization"),
        status=status,
        amount=amount,
        amount_capturable=amount if status is PaymentStatus.REQUIRES_CAPTURE else zero,
        amount_received=zero,
        decline=transaction_decline(authorization) if status is PaymentStatus.FAILED else None,
        raw_status=f"AUTHORIZATION/{authorization.get('status')}",
    )


def dispute_transaction_id(dispute: Mapping[str, Any]) -> str | None:
    """The disputed capture (``disputed_transactions[0].seller_transaction_id``)."""
    for item in dispute.get("disputed_transactions") or ():
        if isinstance(item, Mapping) and isinstance(item.get("seller_transaction_id"), str):
            return str(item["seller_transaction_id"])
    return None


def dispute_from(dispute: Mapping[str, Any], payment_reference: str) -> DisputeInfo:
    raw = dispute.get("status")
    if raw == "RESOLVED":
        outcome = (dispute.get("dispute_outcome") or {}).get("outcome_code")
        status = lookup(DISPUTE_OUTCOME, outcome, "dispute outcome")
        if dispute.get("dispute_life_cycle_stage") == "INQUIRY" and status is DisputeStatus.WON:
            status = DisputeStatus.WARNING_CLOSED  # an inquiry closed without a chargeback
        raw = f"RESOLVED/{outcome}"
    else:
        status = lookup(DISPUTE_STATUS, raw, "dispute status")
    identifier = dispute.get("dispute_id")
    if not isinstance(identifier, str):
        raise PspBadResponse("PayPal sent a dispute without dispute_id.", psp=PSP)
    due = dispute.get("seller_response_due_date")
    return DisputeInfo(
        psp_reference=identifier,
        payment_reference=payment_reference,
        amount=money(dispute.get("dispute_amount")),
        reason=str(dispute.get("reason") or "UNKNOWN"),
        status=status,
        evidence_due_by=timestamp(due) if due else None,
        raw_status=str(raw),
    )
