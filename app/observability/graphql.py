"""GraphQL operation metrics: a schema extension (listed first in ``app.graphql.schema``).

Latency by operation name and type, GraphQL errors by ``extensions.code`` and user errors
by ``UserErrorCode``, counted from the response as the client gets it (after masking). The
accounting happens in ``get_results``, which strawberry calls once per operation on every
path, including operations refused before execution (syntax, validation, card data).
Outside an HTTP request observed by ``ObservabilityMiddleware`` it does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from time import perf_counter
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.observability.http import RequestObservation, current_request
from app.observability.metrics import operation_label, safe_code


class OperationMetrics(SchemaExtension):
    _started: float | None = None

    def on_operation(self) -> Iterator[None]:
        self._started = perf_counter()
        yield

    def get_results(self) -> dict[str, Any]:
        observation = current_request()
        if observation is not None:
            self._account(observation)
        return {}

    def _account(self, observation: RequestObservation) -> None:
        context = self.execution_context
        seconds = perf_counter() - self._started if self._started is not None else 0.0
        try:
            operation_type = context.operation_type.value
        except Exception:  # no document (a syntax error) or an unknown operation name
            operation_type = "unknown"
        errors: list[GraphQLError] = list(context.pre_execution_errors or ())
        if context.graphql_document is None:
            codes = [_code(e, "GRAPHQL_PARSE_FAILED") for e in errors]
        else:
            codes = [_code(e, "GRAPHQL_VALIDATION_FAILED") for e in errors]
        result = context.result
        data = getattr(result, "data", None) if result is not None else None
        user_codes = _user_error_codes(data) if isinstance(data, dict) else []

        name = context.operation_name
        observation.operation = operation_label(name)
        observation.operation_type = operation_type
        observation.principal = getattr(context.context, "principal", None)
        observation.error_codes = codes
        observation.user_error_codes = user_codes
        metrics = observation.metrics
        if metrics is None:
            return
        label = metrics.operation_name(name)
        metrics.graphql_duration.labels(label, operation_type).observe(seconds)
        for code in codes:
            metrics.graphql_errors.labels(code).inc()
        for code in user_codes:
            metrics.graphql_user_errors.labels(code).inc()


def _code(error: GraphQLError, default: str) -> str:
    extensions = error.extensions or {}
    return safe_code(extensions.get("code"), default)


def _user_error_codes(data: dict[str, Any]) -> list[str]:
    """The codes of ``userErrors`` in the payloads of the root fields."""
    codes: list[str] = []
    for payload in data.values():
        if not isinstance(payload, dict):
            continue
        errors = payload.get("userErrors")
        if not isinstance(errors, list):
            continue
        for error in errors:
            if isinstance(error, dict):
                codes.append(safe_code(error.get("code"), "unselected"))
    return codes
