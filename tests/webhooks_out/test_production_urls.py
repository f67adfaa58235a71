"""In the production profile: https only, and no private, loopback, link-local or reserved
address unless allow-listed (SSRF)."""

from __future__ import annotations

import base64
import ipaddress
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from app.domain.clock import SystemClock
from app.services.webhooks_out import urls
from app.services.webhooks_out.config import DeliveryConfig
from app.services.webhooks_out.delivery import Attempt, send
from app.settings import Settings
from tests.conftest import Api, make_settings
from tests.webhooks_out.test_endpoints import _create


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        profile="production",
        auth={"anonymous_role": "admin"},
        webhooks={"allowed_hosts": ["hooks.internal.test"]},
    )


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://example.com/hooks", "URL_NOT_HTTPS"),
        ("https://127.0.0.1/hooks", "URL_NOT_ALLOWED"),
        ("https://10.1.2.3/hooks", "URL_NOT_ALLOWED"),
        ("https://169.254.169.254/latest/meta-data", "URL_NOT_ALLOWED"),
        ("https://[::1]/hooks", "URL_NOT_ALLOWED"),
        ("https://localhost/hooks", "URL_NOT_ALLOWED"),
        ("https://240.0.0.1/hooks", "URL_NOT_ALLOWED"),
    ],
)
async def test_production_refuses_insecure_and_private_urls(api: Api, url: str, code: str) -> None:
    errors = await _create(api, url)
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "url"], code)]


async def test_a_delivery_connects_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name resolves to a public address for the check and would
    resolve to a private one a moment later. The request goes to the address checked,
    with the name in Host and as the TLS server name (the certificate is checked for it)."""
    answers = iter([["93.184.215.14"], ["10.0.0.5"]])

    async def resolve(host: str) -> list[object]:
        assert host == "merchant.example"
        return [ipaddress.ip_address(a) for a in next(answers)]

    monkeypatch.setattr(urls, "_addresses", resolve)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    attempt = Attempt(
        uuid.uuid4(), uuid.uuid4(), "https://merchant.example:8443/hooks?x=1",
        ("whsec_" + base64.b64encode(b"k" * 32).decode(),), "msg_1", b"{}",
        datetime.now(UTC),
    )  # fmt: skip
    config = DeliveryConfig(production=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        outcome = await send(client, attempt, config=config, wall=SystemClock())
    assert outcome.status_code == 204
    [request] = seen
    assert str(request.url) == "https://93.184.215.14:8443/hooks?x=1"
    assert request.headers["host"] == "merchant.example:8443"
    assert request.extensions["sni_hostname"] == "merchant.example"
    assert next(answers) == ["10.0.0.5"]  # resolved once: the check's answer was used
