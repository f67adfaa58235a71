"""What every adapter's test harness provides to the shared contract suite.

A harness wraps one adapter wired to its fake provider (or, for the sandbox, to nothing):
the contract suite in ``test_contract.py`` drives it through the ``Gateway`` protocol only,
so that a new provider proves itself by passing the same tests.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.psp.base import Gateway


class Scenario(enum.Enum):
    """What a payment method token makes the (fake) provider do."""

    SUCCESS = "success"  # card/account that pays
    DECLINED = "declined"  # generic decline
    INSUFFICIENT_FUNDS = "insufficient_funds"
    ACTION_REQUIRED = "action_required"  # 3DS challenge / payer approval needed


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP request the fake provider received."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: Any  # parsed form (Stripe) or JSON (PayPal) or None


class Harness(Protocol):
    name: str
    gateway: Gateway
    # Idempotency header the provider uses ("idempotency-key", "paypal-request-id"), or
    # None for the sandbox (which has no HTTP).
    idempotency_header: str | None

    def token(self, scenario: Scenario) -> str:
        """A token that the provider treats as ``scenario``."""
        ...

    def foreign_token(self) -> str:
        """A token of another provider, which this one must refuse (PspInvalidRequest)."""
        ...

    async def complete_action(self, psp_reference: str, *, succeed: bool) -> None:
        """Play the customer finishing (or failing) the 3DS challenge / approval."""
        ...

    def payment_webhook(
        self, psp_reference: str, *, at: datetime, secret_ok: bool = True
    ) -> tuple[dict[str, str], bytes]:
        """Headers and raw body of a signed 'payment succeeded' event for a payment."""
        ...

    def calls(self) -> list[RecordedCall]:
        """Requests received so far (empty for the sandbox)."""
        ...

    def fail_next(self, kind: str) -> None:
        """Make the next provider call fail: 'unavailable' (HTTP 503 / down),
        'timeout' (no answer in time), 'rate_limited' (429), 'auth' (401)."""
        ...
