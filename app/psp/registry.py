"""Which PSPs are enabled, built from settings, and which one a new payment method or
payment uses. The sandbox is always there outside the production profile."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping

from app.domain.clock import Clock
from app.psp.base import Gateway
from app.psp.sandbox import SandboxGateway
from app.settings import Settings

KNOWN_PSPS = ("sandbox", "stripe", "paypal")


class UnknownPsp(LookupError):
    """No enabled PSP of that name."""


Wrap = Callable[[Gateway], Gateway]


class PspRegistry:
    """``get`` answers the gateways as ``wrap`` made them (instrumented, for metrics);
    ``sandbox`` the sandbox itself, for its own pages and event sink."""

    def __init__(
        self, gateways: Mapping[str, Gateway], default: str, *, wrap: Wrap | None = None
    ) -> None:
        if default not in gateways:
            raise ValueError(f"default PSP {default!r} is not enabled")
        self._raw = dict(gateways)
        self._gateways = {name: wrap(g) if wrap else g for name, g in gateways.items()}
        self.default_name = default

    @property
    def names(self) -> Iterable[str]:
        return self._gateways.keys()

    def get(self, name: str | None = None) -> Gateway:
        """The named PSP, or the default one."""
        gateway = self._gateways.get(name or self.default_name)
        if gateway is None:
            raise UnknownPsp(name)
        return gateway

    @property
    def sandbox(self) -> SandboxGateway | None:
        gateway = self._raw.get("sandbox")
        return gateway if isinstance(gateway, SandboxGateway) else None


def build_registry(settings: Settings, *, clock: Clock, wrap: Wrap | None = None) -> PspRegistry:
    """The enabled PSPs; ``wrap`` (if given) decorates each gateway, e.g. with metrics."""
    wanted = set(settings.enabled_psps)
    unknown = wanted - set(KNOWN_PSPS)
    if unknown:
        raise ValueError(f"unknown PSPs in PAYGATE_ENABLED_PSPS: {sorted(unknown)}")
    if not settings.is_production:
        wanted.add("sandbox")
    gateways: dict[str, Gateway] = {}
    if "sandbox" in wanted:
        secret = settings.sandbox.webhook_secret
        gateways["sandbox"] = SandboxGateway(
            webhook_secret=(
                secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
            ),
            clock=clock,
            action_url=f"{settings.public_url.rstrip('/')}/sandbox/actions",
        )
    if "stripe" in wanted:
        from app.psp.stripe import StripeGateway

        if settings.stripe.api_key is None:
            raise ValueError("stripe is enabled but PAYGATE_STRIPE__API_KEY is not set")
        gateways["stripe"] = StripeGateway(settings.stripe)
    if "paypal" in wanted:
        from app.psp.paypal import PayPalGateway

        if settings.paypal.client_id is None or settings.paypal.client_secret is None:
            raise ValueError("paypal is enabled but its client id or secret is not set")
        gateways["paypal"] = PayPalGateway(settings.paypal)
    return PspRegistry(gateways, settings.default_psp, wrap=wrap)
