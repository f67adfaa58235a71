"""Sandbox events on the wire: snapshots of payments, refunds and disputes as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.domain.money import Money
from app.psp.base import (
    DisputeInfo,
    DisputeStatus,
    EventKind,
    NextAction,
    NextActionKind,
    PaymentResult,
    PaymentStatus,
    RefundResult,
    RefundStatus,
    WebhookEvent,
)
from app.psp.declines import Decline, DeclineCode


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


def decode_event(event: Mapping[str, Any]) -> WebhookEvent:
    data = event["data"]
    payment = refund = dispute = None
    if "payment" in data:
        p = data["payment"]
        decline = p.get("decline")
        action = p.get("next_action")
        payment = PaymentResult(
            psp_reference=p["psp_reference"],
            status=PaymentStatus(p["status"]),
            amount=_money(p["amount"]),
            amount_capturable=_money(p["amount_capturable"]),
            amount_received=_money(p["amount_received"]),
            next_action=None
            if action is None
            else NextAction(
                NextActionKind(action["kind"]), action["redirect_url"], action["client_secret"]
            ),
            decline=None
            if decline is None
            else Decline(
                DeclineCode(decline["code"]), decline["message"], decline["provider_code"]
            ),
            raw_status=p["raw_status"],
        )
    if "refund" in data:
        r = data["refund"]
        refund = RefundResult(
            psp_reference=r["psp_reference"],
            payment_reference=r["payment_reference"],
            status=RefundStatus(r["status"]),
            amount=_money(r["amount"]),
            failure_reason=r["failure_reason"],
            raw_status=r["raw_status"],
        )
    if "dispute" in data:
        d = data["dispute"]
        dispute = DisputeInfo(
            psp_reference=d["psp_reference"],
            payment_reference=d["payment_reference"],
            amount=_money(d["amount"]),
            reason=d["reason"],
            status=DisputeStatus(d["status"]),
            evidence_due_by=datetime.fromisoformat(d["evidence_due_by"])
            if d["evidence_due_by"]
            else None,
            raw_status=d["raw_status"],
        )
    return WebhookEvent(
        psp="sandbox",
        event_id=str(event["id"]),
        type=str(event["type"]),
        kind=EventKind(event["kind"]),
        occurred_at=datetime.fromtimestamp(int(event["created"]), tz=UTC),
        payment=payment,
        refund=refund,
        dispute=dispute,
    )
