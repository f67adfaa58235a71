"""PSP calls, counted and timed: a proxy around each gateway of the registry.

Every call of the gateway contract is recorded by provider and operation, with its
outcome: ``ok``, ``declined`` (a decline is data: a failed payment or refund result), or
the fault, named after its ``PspError`` class (``psp_unavailable``, ``psp_outcome_unknown``
…). The proxy looks the wrapped method up at each call, so it stays transparent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from time import perf_counter
from typing import Any, TypeVar

from app.domain.payments import PaymentStatus, RefundStatus
from app.observability.metrics import Metrics
from app.psp import base, errors
from app.psp.base import Gateway

T = TypeVar("T")

FAULTS: dict[type[BaseException], str] = {
    errors.PspRateLimited: "psp_rate_limited",
    errors.PspUnavailable: "psp_unavailable",
    errors.PspAuthError: "psp_auth_error",
    errors.PspInvalidRequest: "psp_invalid_request",
    errors.PspBadResponse: "psp_bad_response",
    errors.PspOutcomeUnknown: "psp_outcome_unknown",
    errors.OperationNotSupported: "operation_not_supported",
    errors.WebhookVerificationError: "webhook_verification_error",
    errors.PspError: "psp_error",
    asyncio.CancelledError: "cancelled",
}


def fault_outcome(error: BaseException) -> str:
    """The label of a fault: its own ``PspError`` class, or the nearest known ancestor."""
    for cls in type(error).__mro__:
        name = FAULTS.get(cls)
        if name is not None:
            return name
    return "unexpected_error"


def result_outcome(result: object) -> str:
    if isinstance(result, base.PaymentResult) and result.status is PaymentStatus.FAILED:
        return "declined"
    if isinstance(result, base.RefundResult) and result.status is RefundStatus.FAILED:
        return "declined"
    return "ok"


class InstrumentedGateway:
    """A ``Gateway`` that records each call of ``inner`` in ``metrics``."""

    def __init__(self, inner: Gateway, metrics: Metrics) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self._metrics = metrics

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    def __repr__(self) -> str:
        return f"InstrumentedGateway({self.inner!r})"

    async def _observe(self, operation: str, call: Awaitable[T]) -> T:
        started = perf_counter()
        outcome = "unexpected_error"
        try:
            result = await call
            outcome = result_outcome(result)
            return result
        except BaseException as error:
            outcome = fault_outcome(error)
            raise
        finally:
            self._metrics.psp_duration.labels(self.name, operation).observe(
                perf_counter() - started
            )
            self._metrics.psp_requests.labels(self.name, operation, outcome).inc()

    async def create_customer(self, request: base.CustomerRequest) -> base.CustomerResult:
        return await self._observe("create_customer", self.inner.create_customer(request))

    async def update_customer(
        self, psp_customer_id: str, request: base.CustomerRequest
    ) -> base.CustomerResult:
        call = self.inner.update_customer(psp_customer_id, request)
        return await self._observe("update_customer", call)

    async def delete_customer(self, request: base.DeleteCustomerRequest) -> None:
        return await self._observe("delete_customer", self.inner.delete_customer(request))

    async def start_setup(self, request: base.SetupRequest) -> base.SetupResult:
        return await self._observe("start_setup", self.inner.start_setup(request))

    async def attach_payment_method(self, request: base.AttachRequest) -> base.PaymentMethodDetails:
        call = self.inner.attach_payment_method(request)
        return await self._observe("attach_payment_method", call)

    async def detach_payment_method(self, request: base.DetachRequest) -> None:
        call = self.inner.detach_payment_method(request)
        return await self._observe("detach_payment_method", call)

    async def create_payment(self, request: base.PaymentRequest) -> base.PaymentResult:
        return await self._observe("create_payment", self.inner.create_payment(request))

    async def confirm_payment(self, request: base.ConfirmRequest) -> base.PaymentResult:
        return await self._observe("confirm_payment", self.inner.confirm_payment(request))

    async def capture_payment(self, request: base.CaptureRequest) -> base.PaymentResult:
        return await self._observe("capture_payment", self.inner.capture_payment(request))

    async def cancel_payment(self, request: base.CancelRequest) -> base.PaymentResult:
        return await self._observe("cancel_payment", self.inner.cancel_payment(request))

    async def refund(self, request: base.RefundRequest) -> base.RefundResult:
        return await self._observe("refund", self.inner.refund(request))

    async def retrieve_payment(self, psp_reference: str) -> base.PaymentResult:
        call = self.inner.retrieve_payment(psp_reference)
        return await self._observe("retrieve_payment", call)

    async def retrieve_refund(self, psp_reference: str) -> base.RefundResult:
        return await self._observe("retrieve_refund", self.inner.retrieve_refund(psp_reference))

    async def submit_dispute_evidence(
        self, request: base.DisputeEvidenceRequest
    ) -> base.DisputeInfo:
        return await self._observe(
            "submit_dispute_evidence", self.inner.submit_dispute_evidence(request)
        )

    async def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> base.WebhookEvent:
        call = self.inner.parse_webhook(headers, body, now=now)
        return await self._observe("parse_webhook", call)


def instrument(metrics: Metrics) -> Callable[[Gateway], Gateway]:
    """The ``wrap`` argument of ``build_registry``."""

    def wrap(gateway: Gateway) -> Gateway:
        return InstrumentedGateway(gateway, metrics)

    return wrap
