"""What the delivery engine is told (built from ``Settings.webhooks`` by its callers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from app.settings import Settings


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    production: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    timeout: float = 10.0
    claim_for: timedelta = timedelta(seconds=15)
    retry_base: timedelta = timedelta(seconds=5)
    retry_cap: timedelta = timedelta(hours=1)
    disable_after: timedelta = timedelta(days=3)
    secret_overlap: timedelta = timedelta(hours=24)
    batch_size: int = 50
    concurrency: int = 10

    @classmethod
    def of(cls, settings: Settings) -> DeliveryConfig:
        hooks = settings.webhooks
        return cls(
            production=settings.is_production,
            allowed_hosts=frozenset(h.lower() for h in hooks.allowed_hosts),
            timeout=hooks.timeout_seconds,
            claim_for=timedelta(seconds=hooks.claim_for),
            retry_base=timedelta(seconds=hooks.retry_base_seconds),
            retry_cap=timedelta(seconds=hooks.retry_cap_seconds),
            disable_after=timedelta(hours=hooks.disable_after_hours),
            secret_overlap=timedelta(hours=hooks.secret_overlap_hours),
            batch_size=hooks.batch_size,
            concurrency=hooks.concurrency,
        )


class DeliveryMetrics(Protocol):
    """What the engine reports (``app.observability.metrics.Metrics`` implements it)."""

    def webhook_delivered(self, outcome: str, lag_seconds: float | None) -> None: ...

    def webhook_endpoint_disabled(self, reason: str) -> None: ...


class NoMetrics:
    def webhook_delivered(self, outcome: str, lag_seconds: float | None) -> None:
        return None

    def webhook_endpoint_disabled(self, reason: str) -> None:
        return None
