"""The Stripe harness: a real ``StripeGateway`` (real SDK, real HTTP) wired to the fake
Stripe of ``stripe_fake`` served on a loopback port."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from app.psp.stripe import StripeGateway
from app.settings import StripeSettings
from tests.psp.fake_server import serve_in_thread
from tests.psp.harness import RecordedCall, Scenario
from tests.psp.stripe_fake import API_KEY, StripeFake, fixture, new_id, public

WEBHOOK_SECRET = "whsec_test"

TOKENS = {
    Scenario.SUCCESS: "pm_card_visa",
    Scenario.DECLINED: "pm_card_chargeDeclined",
    Scenario.INSUFFICIENT_FUNDS: "pm_card_visa_chargeDeclinedInsufficientFunds",
    Scenario.ACTION_REQUIRED: "pm_card_threeDSecure2Required",
}


def sign(payload: bytes, secret: str, at: datetime) -> str:
    """A ``Stripe-Signature`` header as Stripe makes it: ``t=<unix>,v1=<hex HMAC-SHA256 of
    "<t>.<payload>">`` (written out here rather than borrowed from the SDK under test)."""
    timestamp = int(at.timestamp())
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class StripeHarness:
    name = "stripe"
    idempotency_header: str | None = "idempotency-key"

    def __init__(self, fake: StripeFake, gateway: StripeGateway, base_url: str) -> None:
        self.fake = fake
        self.gateway = gateway
        self.base_url = base_url

    async def aclose(self) -> None:
        """Close the gateway's connection pool (on the event loop that used it)."""
        await self.gateway.aclose()

    def token(self, scenario: Scenario) -> str:
        return TOKENS[scenario]

    def foreign_token(self) -> str:
        return "7WK55271NE316153P"  # a PayPal vault payment token id

    async def complete_action(self, psp_reference: str, *, succeed: bool) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as control:
            response = await control.post(
                f"/_control/payment_intents/{psp_reference}/complete_action",
                params={"succeed": "true" if succeed else "false"},
            )
        response.raise_for_status()

    def event(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        at: datetime,
        secret_ok: bool = True,
        signed_at: datetime | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """A signed event envelope (``event_*.json``) around ``obj``."""
        envelope = fixture("event_payment_intent_succeeded")
        envelope.update(id=new_id("evt"), type=event_type, created=int(at.timestamp()))
        envelope["data"] = {"object": obj}
        body = json.dumps(envelope).encode()
        secret = WEBHOOK_SECRET if secret_ok else "whsec_not_the_endpoint_secret"
        return {"Stripe-Signature": sign(body, secret, signed_at or at)}, body

    def payment_webhook(
        self, psp_reference: str, *, at: datetime, secret_ok: bool = True
    ) -> tuple[dict[str, str], bytes]:
        with self.fake.lock:
            stored = self.fake.objects.get(psp_reference)
            intent = public(stored) if stored else fixture("payment_intent_succeeded")
        intent = copy.deepcopy(intent)
        intent.update(
            id=psp_reference,
            status="succeeded",
            amount_received=intent["amount"],
            amount_capturable=0,
            next_action=None,
            last_payment_error=None,
        )
        return self.event("payment_intent.succeeded", intent, at=at, secret_ok=secret_ok)

    def calls(self) -> list[RecordedCall]:
        return self.fake.calls()

    def fail_next(self, kind: str) -> None:
        self.fake.fail_next(kind)


@contextmanager
def stripe_harness(*, timeout_seconds: float = 2.0) -> Iterator[StripeHarness]:
    fake = StripeFake()
    with serve_in_thread(fake.app) as base_url:
        settings = StripeSettings(
            api_key=SecretStr(API_KEY),
            webhook_secret=SecretStr(WEBHOOK_SECRET),
            api_base=base_url,
            timeout_seconds=timeout_seconds,
        )
        yield StripeHarness(fake, StripeGateway(settings), base_url)
