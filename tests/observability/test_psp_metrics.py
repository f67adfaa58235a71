"""PSP calls through the instrumenting proxy: outcome per fault class, latency, transparency."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.clock import SystemClock
from app.domain.money import Money
from app.domain.payments import RefundReason
from app.observability.metrics import Metrics
from app.observability.psp import InstrumentedGateway, instrument
from app.psp import errors
from app.psp.base import Gateway, RefundRequest
from app.psp.registry import build_registry
from app.psp.sandbox import SandboxGateway
from app.settings import Settings

REQUEST = RefundRequest("sbxpay_x", Money(100, "USD"), RefundReason.OTHER, "key")


def calls(metrics: Metrics, outcome: str) -> float | None:
    labels = {"psp": "sandbox", "operation": "refund", "outcome": outcome}
    return metrics.registry.get_sample_value("paygate_psp_requests_total", labels)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (errors.PspUnavailable("down"), "psp_unavailable"),
        (errors.PspRateLimited("slow down"), "psp_rate_limited"),
        (errors.PspAuthError("bad key"), "psp_auth_error"),
        (errors.PspInvalidRequest("no"), "psp_invalid_request"),
        (errors.PspBadResponse("what"), "psp_bad_response"),
        (errors.PspOutcomeUnknown("timeout"), "psp_outcome_unknown"),
        (errors.OperationNotSupported("nope"), "operation_not_supported"),
        (type("PspNewFault", (errors.PspUnavailable,), {})("new"), "psp_unavailable"),
        (ValueError("a bug"), "unexpected_error"),
    ],
)
async def test_a_fault_is_counted_by_its_class(error: Exception, outcome: str) -> None:
    metrics = Metrics()
    sandbox = SandboxGateway(webhook_secret=b"s", clock=SystemClock())

    async def fail(_: Any) -> Any:
        raise error

    sandbox.refund = fail  # type: ignore[method-assign]
    with pytest.raises(type(error)):
        await InstrumentedGateway(sandbox, metrics).refund(REQUEST)
    assert calls(metrics, outcome) == 1
    duration = metrics.registry.get_sample_value(
        "paygate_psp_request_duration_seconds_count", {"psp": "sandbox", "operation": "refund"}
    )
    assert duration == 1


def test_the_registry_hands_out_instrumented_gateways_and_keeps_the_sandbox() -> None:
    metrics = Metrics()
    registry = build_registry(Settings(), clock=SystemClock(), wrap=instrument(metrics))
    gateway = registry.get()
    assert isinstance(gateway, InstrumentedGateway) and isinstance(gateway, Gateway)
    assert gateway.name == "sandbox" and gateway.capabilities is SandboxGateway.capabilities
    assert isinstance(registry.sandbox, SandboxGateway)
    assert gateway.inner is registry.sandbox
    assert gateway.sink is registry.sandbox.sink  # anything else passes through
