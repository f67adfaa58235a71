"""The PayPal harness: a real ``PayPalGateway`` (real paypal-server-sdk, real HTTP) wired to
the fake PayPal of ``paypal_fake`` served on a loopback port.

``token(scenario)`` is an approved Vault v3 *setup token* (``ST-<BEHAVIOUR>-…``): the
contract suite attaches it first (which makes the payment token) and pays with the
attached method's ``psp_reference``, as it does for every provider.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx
from pydantic import SecretStr

from app.psp.paypal import PayPalGateway
from app.settings import PayPalSettings
from tests.psp.fake_server import serve_in_thread
from tests.psp.harness import RecordedCall, Scenario
from tests.psp.paypal_fake import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, PayPalFake

BEHAVIOURS = {
    Scenario.SUCCESS: "PAYPAL",  # a PayPal wallet that pays
    Scenario.DECLINED: "DECLINE5100",  # a card, generic decline
    Scenario.INSUFFICIENT_FUNDS: "DECLINE5120",  # a card, insufficient funds
    Scenario.ACTION_REQUIRED: "CARD3DS",  # a card needing 3-D Secure
}


class PayPalHarness:
    name = "paypal"
    idempotency_header: str | None = "paypal-request-id"

    def __init__(self, fake: PayPalFake, gateway: PayPalGateway, base_url: str) -> None:
        self.fake = fake
        self.gateway = gateway
        self.base_url = base_url

    def token(self, scenario: Scenario) -> str:
        return self.fake.setup_token(BEHAVIOURS[scenario])

    def foreign_token(self) -> str:
        return "tok_visa"  # a Stripe/sandbox token: refused without calling PayPal

    async def complete_action(self, psp_reference: str, *, succeed: bool) -> None:
        """The payer on PayPal's page (approval, or the 3DS challenge behind it)."""
        async with httpx.AsyncClient(base_url=self.base_url) as browser:
            response = await browser.get(
                "/checkoutnow",
                params={"token": psp_reference, "action": "approve" if succeed else "fail"},
            )
        response.raise_for_status()

    def deliver(
        self, event: dict[str, object], *, at: datetime, secret_ok: bool = True
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of a webhook delivery of ``event``, signed as PayPal would."""
        body = json.dumps(event, separators=(",", ":")).encode()
        return self.fake.sign(body, at=at, secret_ok=secret_ok), body

    def payment_webhook(
        self, psp_reference: str, *, at: datetime, secret_ok: bool = True
    ) -> tuple[dict[str, str], bytes]:
        event = self.fake.capture_completed_event(psp_reference, at=at)
        return self.deliver(event, at=at, secret_ok=secret_ok)

    def calls(self) -> list[RecordedCall]:
        return self.fake.calls()

    def fail_next(self, kind: str, *, path: str | None = None) -> None:
        """The next call (or the next one to a path ending with ``path``) fails."""
        self.fake.fail_next(kind, path=path)


@contextmanager
def paypal_harness(*, timeout_seconds: float = 2.0) -> Iterator[PayPalHarness]:
    fake = PayPalFake(hang_seconds=timeout_seconds + 1.5)
    with serve_in_thread(fake.app) as base_url:
        settings = PayPalSettings(
            client_id=SecretStr(CLIENT_ID),
            client_secret=SecretStr(CLIENT_SECRET),
            webhook_id=WEBHOOK_ID,
            api_base=base_url,
            timeout_seconds=timeout_seconds,
        )
        yield PayPalHarness(fake, PayPalGateway(settings), base_url)
