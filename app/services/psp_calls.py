"""Calling a PSP from a service: which faults are the caller's to hear (user errors) and
which are ours (configuration, unintelligible answers: masked, logged, alerted on)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from app.domain.errors import ErrorCode, Problem, UserInputError
from app.psp.base import Gateway
from app.psp.errors import (
    OperationNotSupported,
    PspInvalidRequest,
    PspOutcomeUnknown,
    PspUnavailable,
)
from app.psp.registry import PspRegistry, UnknownPsp

T = TypeVar("T")

# Set while an operation runs in one database transaction that may still roll back
# (``keyed.Mode.ATOMIC``): a PSP call there could move money that no committed row records.
_NO_PSP_CALLS: ContextVar[str | None] = ContextVar("paygate_no_psp_calls", default=None)


@contextmanager
def forbidden(operation: str) -> Iterator[None]:
    """No PSP may be reached while this holds: ``gateway`` raises (a programming error)."""
    token = _NO_PSP_CALLS.set(operation)
    try:
        yield
    finally:
        _NO_PSP_CALLS.reset(token)


def gateway(registry: PspRegistry, name: str | None, *field: str) -> Gateway:
    operation = _NO_PSP_CALLS.get()
    if operation is not None:
        raise RuntimeError(
            f"{operation} runs in one transaction (keyed.Mode.ATOMIC) and must not call a "
            "PSP: run it as keyed.Mode.PHASED"
        )
    try:
        return registry.get(name)
    except UnknownPsp:
        raise UserInputError(
            Problem(ErrorCode.PSP_NOT_ENABLED, f"The PSP {name!r} is not enabled here.", field)
        ) from None


async def call(operation: Awaitable[T], *field: str) -> T:
    """Await a PSP call; faults the caller can act on become user errors. Nothing was
    written yet when this raises: services call PSPs before they change their rows."""
    try:
        return await operation
    except (PspUnavailable, PspOutcomeUnknown) as error:
        raise UserInputError(
            Problem(
                ErrorCode.PSP_UNAVAILABLE,
                f"The payment provider is unavailable right now ({error.psp}); nothing was "
                "changed. Retry later with the same input.",
                field,
            )
        ) from error
    except OperationNotSupported as error:
        raise UserInputError(
            Problem(ErrorCode.OPERATION_NOT_SUPPORTED, str(error), field)
        ) from error
    except PspInvalidRequest as error:
        raise UserInputError(
            Problem(ErrorCode.PSP_REJECTED, f"The payment provider refused: {error}", field)
        ) from error
