"""Sandbox events on the wire: an envelope around neutral snapshots (see ``app.psp.codec``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.psp.base import EventKind, WebhookEvent
from app.psp.codec import decode_dispute, decode_payment, decode_refund


def decode_event(event: Mapping[str, Any]) -> WebhookEvent:
    data = event["data"]
    return WebhookEvent(
        psp="sandbox",
        event_id=str(event["id"]),
        type=str(event["type"]),
        kind=EventKind(event["kind"]),
        occurred_at=datetime.fromtimestamp(int(event["created"]), tz=UTC),
        payment=decode_payment(data["payment"]) if "payment" in data else None,
        refund=decode_refund(data["refund"]) if "refund" in data else None,
        dispute=decode_dispute(data["dispute"]) if "dispute" in data else None,
    )
