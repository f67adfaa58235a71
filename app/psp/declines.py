"""One decline taxonomy for every PSP, with retry advice.

Each adapter maps its provider's codes onto :class:`DeclineCode` (tests cover every
mapping); anything it does not know becomes ``UNKNOWN`` with the provider's code kept.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class RetryAdvice(enum.Enum):
    RETRY_LATER = "retry_later"  # a later attempt with the same method may succeed
    DO_NOT_RETRY = "do_not_retry"  # never retry this method for this payment
    CUSTOMER_ACTION_REQUIRED = "customer_action_required"  # the customer must act first


class DeclineCode(enum.Enum):
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    INCORRECT_NUMBER = "incorrect_number"
    AUTHENTICATION_REQUIRED = "authentication_required"
    AUTHENTICATION_FAILED = "authentication_failed"
    DO_NOT_HONOR = "do_not_honor"
    FRAUDULENT = "fraudulent"
    LOST_OR_STOLEN = "lost_or_stolen"
    CARD_NOT_SUPPORTED = "card_not_supported"
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
    LIMIT_EXCEEDED = "limit_exceeded"
    PROCESSING_ERROR = "processing_error"
    PAYER_ACTION_REQUIRED = "payer_action_required"
    INSTRUMENT_DECLINED = "instrument_declined"
    UNKNOWN = "unknown"


ADVICE: dict[DeclineCode, RetryAdvice] = {
    DeclineCode.CARD_DECLINED: RetryAdvice.DO_NOT_RETRY,
    DeclineCode.INSUFFICIENT_FUNDS: RetryAdvice.RETRY_LATER,
    DeclineCode.EXPIRED_CARD: RetryAdvice.CUSTOMER_ACTION_REQUIRED,
    DeclineCode.INCORRECT_CVC: RetryAdvice.CUSTOMER_ACTION_REQUIRED,
    DeclineCode.INCORRECT_NUMBER: RetryAdvice.CUSTOMER_ACTION_REQUIRED,
    DeclineCode.AUTHENTICATION_REQUIRED: RetryAdvice.CUSTOMER_ACTION_REQUIRED,
    DeclineCode.AUTHENTICATION_FAILED: RetryAdvice.CUSTOMER_ACTION_REQUIRED,
    DeclineCode.DO_NOT_HONOR: RetryAdvice.DO_NOT_RETRY,
    DeclineCode.FRAUDULENT: RetryAdvice.DO_NOT_RETRY,
    DeclineCode.LOST_OR_STOLEN: RetryAdvice.DO_NOT_RETRY,
    DeclineCode.CARD_NOT_SUPPORTED: RetryAdvice.DO_NOT_RETRY,
    DeclineCode.CURRENCY_NOT_SUPPORTED: RetryAdvice.DO_NOT_RETRY,
    DeclineCode.LIMIT_EXCEEDED: RetryAdvice.RETRY_LATER,
    DeclineCode.PROCESSING_ERROR: RetryAdvice.RETRY_LATER,
    DeclineCode.PAYER_ACTION_REQUIRED: RetryAdvice.CUSTOMER_ACTION_REQUIRED,
    DeclineCode.INSTRUMENT_DECLINED: RetryAdvice.CUSTOMER_ACTION_REQUIRED,
    DeclineCode.UNKNOWN: RetryAdvice.DO_NOT_RETRY,
}


@dataclass(frozen=True, slots=True)
class Decline:
    """Why a payment failed, in our taxonomy, with the provider's own code kept."""

    code: DeclineCode
    message: str
    provider_code: str | None = None

    @property
    def advice(self) -> RetryAdvice:
        return ADVICE[self.code]


def decline_from(table: dict[str, DeclineCode], provider_code: str | None, message: str) -> Decline:
    """A decline from a provider code via its adapter's mapping table."""
    code = table.get(provider_code or "", DeclineCode.UNKNOWN)
    return Decline(code=code, message=message, provider_code=provider_code)
