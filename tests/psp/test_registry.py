"""Which PSPs are enabled, from settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from app.domain.clock import SystemClock
from app.psp.paypal import PayPalGateway
from app.psp.registry import UnknownPsp, build_registry
from app.psp.sandbox import SandboxGateway
from app.psp.stripe import StripeGateway
from app.settings import PayPalSettings, Settings, StripeSettings


def test_sandbox_is_the_default_and_always_there_outside_production() -> None:
    registry = build_registry(Settings(enabled_psps=[]), clock=SystemClock())
    assert isinstance(registry.get(), SandboxGateway)
    assert list(registry.names) == ["sandbox"]
    with pytest.raises(UnknownPsp):
        registry.get("stripe")


def test_every_provider_from_settings() -> None:
    settings = Settings(
        enabled_psps=["stripe", "paypal"],
        default_psp="stripe",
        stripe=StripeSettings(api_key=SecretStr("sk_test_x")),
        paypal=PayPalSettings(client_id=SecretStr("id"), client_secret=SecretStr("secret")),
    )
    registry = build_registry(settings, clock=SystemClock())
    assert isinstance(registry.get(), StripeGateway)
    assert isinstance(registry.get("paypal"), PayPalGateway)
    assert sorted(registry.names) == ["paypal", "sandbox", "stripe"]


def test_production_has_no_sandbox_and_checks_credentials() -> None:
    with pytest.raises(ValueError, match="default PSP 'sandbox' is not enabled"):
        build_registry(Settings(profile="production", enabled_psps=[]), clock=SystemClock())
    with pytest.raises(ValueError, match="STRIPE__API_KEY"):
        build_registry(Settings(enabled_psps=["stripe"]), clock=SystemClock())
    with pytest.raises(ValueError, match="unknown PSPs"):
        build_registry(Settings(enabled_psps=["adyen"]), clock=SystemClock())
