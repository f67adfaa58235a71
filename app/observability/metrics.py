"""The Prometheus metrics of one app, in a registry of its own.

Every label has a small, fixed set of values: route templates (never raw paths), operation
names bounded by :class:`BoundedNames`, PSP names from the registry, enum values. Nothing a
caller sends becomes a label as it is.
"""

from __future__ import annotations

import re
import threading
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

# No ``*_created`` timestamp series beside every counter and histogram: half the series,
# and Prometheus does not need them.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PSP_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
LAG_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CODE = re.compile(r"[A-Za-z0-9_]{1,64}")


def safe_code(value: object, default: str = "unknown") -> str:
    """A short identifier-like value (an error or decline code) as a label, or ``default``."""
    return value if isinstance(value, str) and _CODE.fullmatch(value) else default


def operation_label(name: str | None) -> str:
    """A GraphQL operation name, ``anonymous`` without one, ``invalid`` for a name GraphQL
    would not accept."""
    if not name:
        return "anonymous"
    return name if _NAME.fullmatch(name) else "invalid"


class BoundedNames:
    """Operation names as label values (see ``operation_label``): the first ``limit``
    distinct names as they are, ``other`` for every name after those."""

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, name: str | None) -> str:
        if name is not None and name in self._seen:
            return name
        label = operation_label(name)
        if label != name:
            return label
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(label)
                return label
        return "other"


def _version() -> str:
    try:
        return metadata.version("paygate")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare tree
        return "unknown"


class Metrics:
    """Everything paygate records, registered in ``registry`` (one per app)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, operation_names: int = 200
    ) -> None:
        self.registry = registry = registry or CollectorRegistry()
        self.operation_name = BoundedNames(operation_names)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        Info("paygate_build", "The running paygate.", registry=registry).info(
            {"version": _version()}
        )

        self.http_duration = Histogram(
            "paygate_http_request_duration_seconds",
            "HTTP requests by method, route template and status class (2xx, 4xx, 5xx).",
            ["method", "route", "status_class"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.graphql_duration = Histogram(
            "paygate_graphql_operation_duration_seconds",
            "GraphQL operations by (bounded) operation name and type.",
            ["operation", "type"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.graphql_errors = Counter(
            "paygate_graphql_errors",
            "GraphQL errors in responses, by extensions.code.",
            ["code"],
            registry=registry,
        )
        self.graphql_user_errors = Counter(
            "paygate_graphql_user_errors",
            "User errors in mutation payloads, by UserErrorCode.",
            ["code"],
            registry=registry,
        )
        self.psp_requests = Counter(
            "paygate_psp_requests",
            "Calls to PSPs by provider, operation and outcome (ok, declined, or the fault).",
            ["psp", "operation", "outcome"],
            registry=registry,
        )
        self.psp_duration = Histogram(
            "paygate_psp_request_duration_seconds",
            "Latency of PSP calls by provider and operation.",
            ["psp", "operation"],
            buckets=PSP_BUCKETS,
            registry=registry,
        )
        self.payment_attempts = Counter(
            "paygate_payment_attempts",
            "Payments created (attempts to charge), by PSP.",
            ["psp"],
            registry=registry,
        )
        self.payments = Counter(
            "paygate_payments",
            "Payment status changes recorded, by PSP, new status and decline code.",
            ["psp", "status", "decline_code"],
            registry=registry,
        )
        self.payments_outcome_unknown = Counter(
            "paygate_payments_outcome_unknown",
            "PSP calls about a payment whose outcome is unknown (timeouts), by PSP.",
            ["psp"],
            registry=registry,
        )
        self.refunds = Counter(
            "paygate_refunds",
            "Refund status changes recorded (pending when created), by PSP and status.",
            ["psp", "status"],
            registry=registry,
        )
        self.disputes_opened = Counter(
            "paygate_disputes_opened",
            "Disputes opened, by PSP.",
            ["psp"],
            registry=registry,
        )
        self.disputes = Counter(
            "paygate_disputes",
            "Dispute status changes recorded, by PSP and status.",
            ["psp", "status"],
            registry=registry,
        )
        self.webhook_receipts = Counter(
            "paygate_webhook_receipts",
            "Webhook deliveries by PSP and result "
            "(processed, duplicate, waiting, ignored, refused, error).",
            ["psp", "result"],
            registry=registry,
        )
        self.webhook_deliveries = Counter(
            "paygate_webhook_deliveries",
            "Attempts to deliver webhooks to merchants, by outcome (succeeded, retry, gone, "
            "disabled, stale).",
            ["outcome"],
            registry=registry,
        )
        self.webhook_delivery_lag = Histogram(
            "paygate_webhook_delivery_lag_seconds",
            "From an event's commit to its delivery to a merchant's endpoint (2xx received).",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.webhook_endpoints_disabled = Counter(
            "paygate_webhook_endpoints_disabled",
            "Merchant webhook endpoints disabled, by reason (gone, failing, manual).",
            ["reason"],
            registry=registry,
        )
        self.bus_published = Counter(
            "paygate_event_bus_published",
            "Events the relay published to the event bus and the broker confirmed, by broker "
            "(a re-publish after a crash counts again).",
            ["broker"],
            registry=registry,
        )
        self.bus_publish_errors = Counter(
            "paygate_event_bus_publish_errors",
            "Failures of the relay (broker unreachable, message not confirmed, database), by "
            "broker; the relay backs off and retries from its cursor.",
            ["broker"],
            registry=registry,
        )
        self.bus_lag = Gauge(
            "paygate_event_bus_lag_events",
            "Events in the log not yet published: the log's end minus the relay's cursor.",
            registry=registry,
        )
        self.webhook_lag = Histogram(
            "paygate_webhook_processing_lag_seconds",
            "From a PSP event's occurrence to its application here, by PSP.",
            ["psp"],
            buckets=LAG_BUCKETS,
            registry=registry,
        )

    def webhook_delivered(self, outcome: str, lag_seconds: float | None) -> None:
        self.webhook_deliveries.labels(outcome).inc()
        if lag_seconds is not None:
            self.webhook_delivery_lag.observe(lag_seconds)

    def webhook_endpoint_disabled(self, reason: str) -> None:
        self.webhook_endpoints_disabled.labels(reason).inc()
