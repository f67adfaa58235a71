"""Provider-neutral snapshots (payments, refunds, disputes, events) as JSON and back.

The sandbox sends its events in this form, and stored webhook events keep their verified,
neutral snapshot in it, to be applied later when they arrive before what they refer to.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.domain.declines import Decline, DeclineCode, RetryAdvice
from app.domain.money import Money
from app.domain.payments import DisputeStatus, PaymentStatus, RefundStatus
from app.psp.base import (
    DisputeInfo,
    EventKind,
    NextAction,
    NextActionKind,
    PaymentResult,
    RefundResult,
    WebhookEvent,
)


def encode(value: Any) -> Any:
    """Dataclass snapshots as JSON (money as minor units + currency)."""
    if isinstance(value, Money):
        return {"minor": value.amount_minor, "currency": value.currency}
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {name: encode(getattr(value, name)) for name in value.__dataclass_fields__}
    if hasattr(value, "value") and hasattr(value, "name"):  # an enum
        return value.value
    return value


def _money(data: Mapping[str, Any]) -> Money:
    return Money(int(data["minor"]), str(data["currency"]))


def decode_payment(data: Mapping[str, Any]) -> PaymentResult:
    decline = data.get("decline")
    action = data.get("next_action")
    return PaymentResult(
        psp_reference=data["psp_reference"],
        status=PaymentStatus(data["status"]),
        amount=_money(data["amount"]),
        amount_capturable=_money(data["amount_capturable"]),
        amount_received=_money(data["amount_received"]),
        next_action=None
        if action is None
        else NextAction(
            NextActionKind(action["kind"]), action["redirect_url"], action["client_secret"]
        ),
        decline=None if decline is None else decode_decline(decline),
        raw_status=data["raw_status"],
    )


def decode_decline(data: Mapping[str, Any]) -> Decline:
    """A decline; snapshots stored before the network's codes were kept lack them."""
    advice = data.get("provider_advice")
    return Decline(
        DeclineCode(data["code"]),
        data["message"],
        data["provider_code"],
        network=data.get("network"),
        network_decline_code=data.get("network_decline_code"),
        network_advice_code=data.get("network_advice_code"),
        provider_advice=RetryAdvice(advice) if advice else None,
    )


def decode_refund(data: Mapping[str, Any]) -> RefundResult:
    return RefundResult(
        psp_reference=data["psp_reference"],
        payment_reference=data["payment_reference"],
        status=RefundStatus(data["status"]),
        amount=_money(data["amount"]),
        failure_reason=data["failure_reason"],
        raw_status=data["raw_status"],
    )


def decode_dispute(data: Mapping[str, Any]) -> DisputeInfo:
    return DisputeInfo(
        psp_reference=data["psp_reference"],
        payment_reference=data["payment_reference"],
        amount=_money(data["amount"]),
        reason=data["reason"],
        status=DisputeStatus(data["status"]),
        evidence_due_by=datetime.fromisoformat(data["evidence_due_by"])
        if data["evidence_due_by"]
        else None,
        raw_status=data["raw_status"],
    )


def encode_event(event: WebhookEvent) -> dict[str, Any]:
    data: dict[str, Any] = encode(event)
    return data


def decode_event(data: Mapping[str, Any]) -> WebhookEvent:
    return WebhookEvent(
        psp=str(data["psp"]),
        event_id=str(data["event_id"]),
        type=str(data["type"]),
        kind=EventKind(data["kind"]),
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
        payment=decode_payment(data["payment"]) if data.get("payment") else None,
        refund=decode_refund(data["refund"]) if data.get("refund") else None,
        dispute=decode_dispute(data["dispute"]) if data.get("dispute") else None,
    )
