"""HMAC-SHA256 webhook signatures in Stripe's scheme: ``t=<unix>,v1=<hex>`` over
``"<t>.<body>"``, refused when older than the tolerance. Used by the sandbox."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from app.psp.errors import WebhookVerificationError

TOLERANCE_SECONDS = 300


def sign(body: bytes, secret: bytes, at: datetime) -> str:
    timestamp = int(at.timestamp())
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(header: str | None, body: bytes, secret: bytes, *, now: datetime, psp: str) -> None:
    """Raise :class:`WebhookVerificationError` unless ``header`` signs ``body`` recently."""
    if not header:
        raise WebhookVerificationError("missing signature header", psp=psp)
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        raise WebhookVerificationError("malformed signature header", psp=psp) from None
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise WebhookVerificationError("signature does not match", psp=psp)
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        raise WebhookVerificationError("timestamp outside the tolerance", psp=psp)
