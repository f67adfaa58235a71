"""The sandbox behind the contract suite. It has no transport to break, so faults are
injected by a wrapper that raises the PSP error a real adapter would raise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from app.domain.clock import SystemClock
from app.psp.codec import encode
from app.psp.errors import PspAuthError, PspOutcomeUnknown, PspRateLimited, PspUnavailable
from app.psp.sandbox import SandboxGateway
from tests.psp.harness import RecordedCall, Scenario

SECRET = b"sandbox-test-secret"
TOKENS = {
    Scenario.SUCCESS: "tok_visa",
    Scenario.DECLINED: "tok_chargeDeclined",
    Scenario.INSUFFICIENT_FUNDS: "tok_insufficientFunds",
    Scenario.ACTION_REQUIRED: "tok_threeDSecureRequired",
}
FAULTS = {
    "unavailable": PspUnavailable,
    "rate_limited": PspRateLimited,
    "auth": PspAuthError,
    "timeout": PspOutcomeUnknown,
}


class _Faulty:
    """Delegates to the sandbox; raises the armed fault on the next async call."""

    def __init__(self, inner: SandboxGateway) -> None:
        self._inner = inner
        self.armed: type[Exception] | None = None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute) or name == "parse_webhook":
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.armed is not None:
                fault, self.armed = self.armed, None
                raise fault("injected fault", psp="sandbox")
            return await attribute(*args, **kwargs)

        return call


class SandboxHarness:
    name = "sandbox"
    idempotency_header = None

    def __init__(self) -> None:
        self.sandbox = SandboxGateway(webhook_secret=SECRET, clock=SystemClock())
        self._faulty = _Faulty(self.sandbox)
        self.gateway: Any = self._faulty

    def token(self, scenario: Scenario) -> str:
        return TOKENS[scenario]

    def foreign_token(self) -> str:
        return "pm_card_visa"  # a Stripe token

    async def complete_action(self, psp_reference: str, *, succeed: bool) -> None:
        await self.sandbox.complete_action(psp_reference, succeed=succeed)

    def payment_webhook(
        self, psp_reference: str, *, at: datetime, secret_ok: bool = True
    ) -> tuple[dict[str, str], bytes]:
        result = self.sandbox.snapshot(psp_reference)
        signer = (
            self.sandbox
            if secret_ok
            else SandboxGateway(webhook_secret=b"wrong", clock=SystemClock())
        )
        event = {
            "id": f"sbxevt_test_{psp_reference}",
            "type": "payment.succeeded",
            "kind": "payment",
            "created": int(at.timestamp()),
            "data": {"payment": encode(result)},
        }
        return signer.signed(event, at=at)

    def calls(self) -> list[RecordedCall]:
        return []

    def fail_next(self, kind: str) -> None:
        self._faulty.armed = FAULTS[kind]


@contextmanager
def sandbox_harness() -> Iterator[SandboxHarness]:
    yield SandboxHarness()
