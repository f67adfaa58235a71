"""Domain errors: expected failures that callers show to users.

A service raises :class:`UserInputError` with one or more :class:`Problem` entries; the
GraphQL layer turns each into a ``UserError { field code message }``. Codes are stable:
clients may switch on them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ErrorCode(enum.Enum):
    """Stable machine-readable codes of user errors."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    BLANK = "BLANK"
    TOO_LONG = "TOO_LONG"
    INVALID_ID = "INVALID_ID"
    WRONG_ID_TYPE = "WRONG_ID_TYPE"
    NOT_FOUND = "NOT_FOUND"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_COUNTRY = "INVALID_COUNTRY"
    INVALID_LOCALE = "INVALID_LOCALE"
    INVALID_METADATA = "INVALID_METADATA"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    AMOUNT_TOO_PRECISE = "AMOUNT_TOO_PRECISE"
    AMOUNT_OUT_OF_RANGE = "AMOUNT_OUT_OF_RANGE"
    NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
    INVALID_INTERVAL = "INVALID_INTERVAL"
    INVALID_TRIAL = "INVALID_TRIAL"
    DUPLICATE_LOOKUP_KEY = "DUPLICATE_LOOKUP_KEY"
    CARD_DATA_NOT_ALLOWED = "CARD_DATA_NOT_ALLOWED"
    PRODUCT_ARCHIVED = "PRODUCT_ARCHIVED"
    INVALID_URL = "INVALID_URL"
    PSP_NOT_ENABLED = "PSP_NOT_ENABLED"
    PSP_UNAVAILABLE = "PSP_UNAVAILABLE"
    PSP_REJECTED = "PSP_REJECTED"
    OPERATION_NOT_SUPPORTED = "OPERATION_NOT_SUPPORTED"
    PAYMENT_METHOD_DETACHED = "PAYMENT_METHOD_DETACHED"
    PAYMENT_METHOD_REQUIRED = "PAYMENT_METHOD_REQUIRED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_KEY_IN_PROGRESS = "IDEMPOTENCY_KEY_IN_PROGRESS"
    # A replay of a result that held a secret shown once (an API key, a customer token):
    # the secret is never stored, so the replay answers it as null.
    SECRET_NOT_REPLAYED = "SECRET_NOT_REPLAYED"  # noqa: S105 - a code, not a secret
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    # The risk rules refused the attempt before the PSP saw it (``Payment.risk`` says why).
    RISK_BLOCKED = "RISK_BLOCKED"
    RETRY_NOT_ALLOWED = "RETRY_NOT_ALLOWED"
    INVALID_STATE = "INVALID_STATE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    AMOUNT_EXCEEDS_CAPTURABLE = "AMOUNT_EXCEEDS_CAPTURABLE"
    REFUND_EXCEEDS_CAPTURED = "REFUND_EXCEEDS_CAPTURED"
    INVALID_COUPON = "INVALID_COUPON"
    DUPLICATE_CODE = "DUPLICATE_CODE"
    INVALID_PROMOTION_CODE = "INVALID_PROMOTION_CODE"
    RATE_LIMITED = "RATE_LIMITED"
    REFUND_LIMIT_EXCEEDED = "REFUND_LIMIT_EXCEEDED"
    TOKENS_NOT_CONFIGURED = "TOKENS_NOT_CONFIGURED"
    CUSTOMER_ERASED = "CUSTOMER_ERASED"
    DUPLICATE_KEY = "DUPLICATE_KEY"
    URL_NOT_HTTPS = "URL_NOT_HTTPS"
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    # Live subscriptions (graphql-transport-ws)
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
    # Usage events (recordUsage, POST /usage)
    UNKNOWN_METER = "UNKNOWN_METER"
    UNKNOWN_CUSTOMER = "UNKNOWN_CUSTOMER"
    TIMESTAMP_TOO_OLD = "TIMESTAMP_TOO_OLD"
    TIMESTAMP_IN_FUTURE = "TIMESTAMP_IN_FUTURE"
    VALUE_NOT_NUMERIC = "VALUE_NOT_NUMERIC"
    TOO_MANY_PROPERTIES = "TOO_MANY_PROPERTIES"
    CREDIT_EXCEEDS_CREDITABLE = "CREDIT_EXCEEDS_CREDITABLE"
    CREDIT_NOTE_REFUNDED = "CREDIT_NOTE_REFUNDED"
    CREDIT_BALANCE_SPENT = "CREDIT_BALANCE_SPENT"
    # Dispute evidence (updateDisputeEvidence, submitDisputeEvidence, POST /files)
    EVIDENCE_ALREADY_SUBMITTED = "EVIDENCE_ALREADY_SUBMITTED"
    EVIDENCE_PAST_DUE = "EVIDENCE_PAST_DUE"
    DISPUTE_CLOSED = "DISPUTE_CLOSED"
    EVIDENCE_EMPTY = "EVIDENCE_EMPTY"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    FILE_TYPE_NOT_ALLOWED = "FILE_TYPE_NOT_ALLOWED"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: where (a path of input field names), what and why."""

    code: ErrorCode
    message: str
    field: tuple[str, ...] = ()

    def under(self, *prefix: str) -> Problem:
        """The same problem, with its field path nested under ``prefix``."""
        return Problem(self.code, self.message, (*prefix, *self.field))


class DomainError(Exception):
    """Base class of expected failures raised by the domain and services."""


class UserInputError(DomainError):
    """The caller's input cannot be accepted; nothing was changed."""

    def __init__(self, problems: Sequence[Problem] | Problem) -> None:
        self.problems: tuple[Problem, ...] = (
            (problems,) if isinstance(problems, Problem) else tuple(problems)
        )
        super().__init__("; ".join(p.message for p in self.problems))


class Problems:
    """Collects every problem of an input so that a caller hears all of them at once."""

    def __init__(self) -> None:
        self._items: list[Problem] = []

    def add(self, code: ErrorCode, message: str, *field: str) -> None:
        self._items.append(Problem(code, message, field))

    def extend(self, problems: Iterable[Problem]) -> None:
        self._items.extend(problems)

    def __bool__(self) -> bool:
        return bool(self._items)

    @property
    def items(self) -> tuple[Problem, ...]:
        return tuple(self._items)

    def raise_if_any(self) -> None:
        if self._items:
            raise UserInputError(self._items)
