"""Stripe webhooks: verify the signature first (``client.StripeApi.construct_event``), then
map the event to a provider-neutral :class:`WebhookEvent` carrying a snapshot.

Staleness is judged by the wall clock, as Stripe's SDK does (tolerance 300 s), not by the
``now`` the gateway protocol passes: Stripe signs with real time, and a sandbox clock moved
forward must not make every real webhook look stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.psp.base import EventKind, WebhookEvent
from app.psp.errors import PspBadResponse
from app.psp.stripe import mappers
from app.psp.stripe.client import StripeApi

SIGNATURE_HEADER = "stripe-signature"

_DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)
_REFUND_EVENTS = frozenset(
    {"charge.refund.updated", "refund.created", "refund.updated", "refund.failed"}
)
_PAYMENT_METHOD_EVENTS = frozenset({"payment_method.attached", "payment_method.detached"})


def signature_of(headers: Mapping[str, str]) -> str | None:
    """The ``Stripe-Signature`` header, whatever the case of its name."""
    for name, value in headers.items():
        if name.lower() == SIGNATURE_HEADER:
            return value
    return None


def parse(api: StripeApi, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
    event = api.construct_event(body, signature_of(headers))  # verification comes first
    return to_webhook_event(event)


def to_webhook_event(event: Mapping[str, Any]) -> WebhookEvent:
    name = mappers.text(event, "type")
    obj = mappers.sub(mappers.sub(event, "data"), "object")
    occurred_at = mappers.timestamp(event.get("created"))
    if occurred_at is None:
        raise PspBadResponse("Stripe event lacks its creation time", psp=mappers.PSP)
    kind, payment, refund, dispute = EventKind.OTHER, None, None, None
    if name.startswith("payment_intent.") and obj.get("object") == "payment_intent":
        kind, payment = EventKind.PAYMENT, mappers.payment_result(obj)
    elif name in _REFUND_EVENTS and obj.get("object") == "refund":
        kind, refund = EventKind.REFUND, mappers.refund_result(obj)
    elif name in _DISPUTE_EVENTS and obj.get("object") == "dispute":
        kind, dispute = EventKind.DISPUTE, mappers.dispute_info(obj)
    elif name in _PAYMENT_METHOD_EVENTS:
        kind = EventKind.PAYMENT_METHOD
    return WebhookEvent(
        psp=mappers.PSP,
        event_id=mappers.text(event, "id"),
        type=name,
        kind=kind,
        occurred_at=occurred_at,
        payment=payment,
        refund=refund,
        dispute=dispute,
    )
