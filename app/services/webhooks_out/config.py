"""What the delivery engine is told (built from ``Settings.webhooks`` by its callers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol


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


class DeliveryMetrics(Protocol):
    """What the engine reports (``app.observability.metrics.Metrics`` implements it)."""

    def webhook_delivered(self, outcome: str, lag_seconds: float | None) -> None: ...

    def webhook_endpoint_disabled(self, reason: str) -> None: ...


class NoMetrics:
    def webhook_delivered(self, outcome: str, lag_seconds: float | None) -> None:
        return None

    def webhook_endpoint_disabled(self, reason: str) -> None:
        return None
