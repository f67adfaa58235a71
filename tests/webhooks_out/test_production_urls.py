"""In the production profile: https only, and no private, loopback, link-local or reserved
address unless allow-listed (SSRF)."""

from __future__ import annotations

import pytest

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
