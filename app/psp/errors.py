"""Faults of PSP integrations. A decline is data (see ``declines``); these are exceptions.

Adapters wrap every SDK exception in one of these with ``raise ... from error``; no SDK
exception ever leaves ``app/psp/``. Messages never carry secrets or card data.
"""

from __future__ import annotations


class PspError(Exception):
    """Base of every PSP fault."""

    retryable: bool = False

    def __init__(self, message: str, *, psp: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.psp = psp
        self.code = code  # the provider's own error code, when it gave one


class PspUnavailable(PspError):
    """The PSP could not be reached or failed on its side (5xx) before doing anything.
    Safe to retry with the same idempotency key."""

    retryable = True


class PspRateLimited(PspUnavailable):
    """The PSP asked us to slow down (HTTP 429). Retry later with the same key."""


class PspAuthError(PspError):
    """Our credentials were refused: a configuration problem, not the caller's."""


class PspInvalidRequest(PspError):
    """The PSP refused the request as malformed or impossible (unknown token, a token of
    another provider, a state that does not allow the operation)."""


class PspBadResponse(PspError):
    """The PSP answered something we cannot understand."""


class PspOutcomeUnknown(PspError):
    """The request may or may not have taken effect (timeout, connection lost after
    sending). Never a failure: reconcile later with the same idempotency key, or by
    retrieving ``psp_reference`` when it is known."""

    retryable = True

    def __init__(self, message: str, *, psp: str = "", psp_reference: str | None = None) -> None:
        super().__init__(message, psp=psp)
        self.psp_reference = psp_reference


class OperationNotSupported(PspError):
    """The adapter does not offer this operation, currency or capture mode."""


class WebhookVerificationError(PspError):
    """A webhook whose signature is missing, wrong or stale. Refuse it (HTTP 400)."""
