"""Stripe's objects (plain JSON dicts, as the API documents them) -> our dataclasses.

Pure functions, no SDK: ``client.py`` hands over ``to_dict()`` copies of what the SDK
returned, so every mapping here is tested with the JSON Stripe documents. Every status
table has an explicit unknown case (``PspBadResponse``); unknown decline codes become
``DeclineCode.UNKNOWN`` with Stripe's code kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from app.domain.declines import Decline, DeclineCode, RetryAdvice
from app.domain.money import Money
from app.domain.payments import DisputeStatus, PaymentStatus, RefundReason, RefundStatus
from app.psp.base import (
    DisputeInfo,
    NextAction,
    NextActionKind,
    PaymentMethodDetails,
    PaymentResult,
    RefundResult,
)
from app.psp.errors import PspBadResponse, PspInvalidRequest

PSP = "stripe"
Json = Mapping[str, Any]

# --- money -------------------------------------------------------------------------------

# Where Stripe's API amount unit differs from the ISO 4217 minor unit (Money.amount_minor):
# stripe_amount = amount_minor * 10**shift. Source: docs.stripe.com/currencies.
#   ISK  ISO 0 decimals; Stripe keeps ISK two-decimal in the API for backwards
#        compatibility ("an ISK amount of 100 represents 1 krona", multiples of 100 only).
#   MGA  ISO 2 decimals; Stripe lists MGA as a zero-decimal currency.
# Same unit as ISO, deliberately absent: HUF and TWD (two-decimal for charges; Stripe is
# zero-decimal for them only in payouts, which we do not make), UGX and the other
# zero-decimal currencies (ISO 0 as well), BHD/JOD/KWD/OMR/TND (three-decimal; Stripe
# refuses a last digit other than 0, and says so with an invalid-request error).
STRIPE_AMOUNT_SHIFT: dict[str, int] = {"ISK": 2, "MGA": -2}


def to_stripe_amount(money: Money) -> tuple[int, str]:
    """``(amount, currency)`` as Stripe's API takes them: its unit, lower-case code."""
    shift = STRIPE_AMOUNT_SHIFT.get(money.currency, 0)
    unit: int = 10 ** abs(shift)
    if shift >= 0:
        return money.amount_minor * unit, money.currency.lower()
    if money.amount_minor % unit:
        raise PspInvalidRequest(
            f"Stripe charges {money.currency} in whole units only; {money.decimal_string()} "
            "is not a whole amount.",
            psp=PSP,
            code="amount_not_whole_units",
        )
    return money.amount_minor // unit, money.currency.lower()


def money_from(amount: object, currency: object) -> Money:
    """Money from a Stripe ``amount`` and ``currency`` (lower-case on the wire)."""
    if not isinstance(amount, int) or isinstance(amount, bool) or not isinstance(currency, str):
        raise PspBadResponse("Stripe sent an amount without an integer and a currency", psp=PSP)
    code = currency.upper()
    minor: int = amount
    shift = STRIPE_AMOUNT_SHIFT.get(code, 0)
    unit: int = 10 ** abs(shift)
    if shift > 0:
        if minor % unit:
            raise PspBadResponse(f"Stripe sent a fractional {code} amount", psp=PSP)
        minor //= unit
    elif shift < 0:
        minor *= unit
    try:
        return Money(minor, code)
    except ValueError as error:
        raise PspBadResponse(
            f"Stripe sent an amount we cannot represent ({code})", psp=PSP
        ) from error


# --- small typed accessors ---------------------------------------------------------------


def text(obj: Json, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise PspBadResponse(f"Stripe object lacks {key!r}", psp=PSP)
    return value


def optional_text(obj: Json, key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def sub(obj: Json, key: str) -> Json:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def ref(obj: Json, key: str) -> str | None:
    """An expandable field: an id, or the expanded object's id."""
    value = obj.get(key)
    if isinstance(value, Mapping):
        return optional_text(value, "id")
    return value if isinstance(value, str) and value else None


def timestamp(value: object) -> datetime | None:
    if type(value) is not int or value <= 0:
        return None
    return datetime.fromtimestamp(value, UTC)


# --- declines ------------------------------------------------------------------------------

# Stripe's decline codes (error.decline_code) and card error codes (error.code), as
# docs.stripe.com/declines/codes lists them, onto our codes (whose advice follows the
# networks: app/domain/declines.py). Every code of the card table is mapped;
# tests/psp/test_stripe.py holds the same table, written from Stripe's documentation.
_BY_CODE: dict[DeclineCode, str] = {
    DeclineCode.CARD_DECLINED: "card_declined generic_decline no_action_taken "
    "duplicate_transaction",
    DeclineCode.DO_NOT_HONOR: "do_not_honor call_issuer security_violation",
    DeclineCode.INSUFFICIENT_FUNDS: "insufficient_funds",
    DeclineCode.LIMIT_EXCEEDED: "card_velocity_exceeded withdrawal_count_limit_exceeded "
    "card_decline_rate_limit_exceeded invalid_amount",
    DeclineCode.ISSUER_UNAVAILABLE: "issuer_not_available",
    DeclineCode.TRY_AGAIN_LATER: "try_again_later reenter_transaction approve_with_id",
    DeclineCode.PROCESSING_ERROR: "processing_error",
    DeclineCode.RESTRICTED_CARD: "restricted_card",
    DeclineCode.FRAUDULENT: "fraudulent merchant_blacklist",
    DeclineCode.EXPIRED_CARD: "expired_card invalid_expiry_month invalid_expiry_year",
    DeclineCode.INCORRECT_CVC: "incorrect_cvc invalid_cvc",
    # testmode_decline: a test card used live; a genuine card is needed
    DeclineCode.INCORRECT_NUMBER: "incorrect_number invalid_number testmode_decline",
    # billing details the issuer refused: the customer must correct them
    DeclineCode.PAYER_ACTION_REQUIRED: "incorrect_zip incorrect_address",
    DeclineCode.LOST_CARD: "lost_card",
    DeclineCode.STOLEN_CARD: "stolen_card",
    DeclineCode.PICKUP_CARD: "pickup_card",
    DeclineCode.INVALID_ACCOUNT: "invalid_account new_account_information_available",
    DeclineCode.PAYMENT_STOPPED: "stop_payment_order revocation_of_authorization "
    "revocation_of_all_authorizations",
    DeclineCode.DO_NOT_TRY_AGAIN: "do_not_try_again",
    DeclineCode.CARD_NOT_SUPPORTED: "card_not_supported transaction_not_allowed "
    "service_not_allowed not_permitted",
    DeclineCode.CURRENCY_NOT_SUPPORTED: "currency_not_supported",
    DeclineCode.AUTHENTICATION_REQUIRED: "authentication_required authentication_not_handled "
    "mobile_device_authentication_required offline_pin_required online_or_offline_pin_required",
    DeclineCode.AUTHENTICATION_FAILED: "payment_intent_authentication_failure incorrect_pin "
    "invalid_pin pin_try_exceeded",
}
DECLINE_CODES: dict[str, DeclineCode] = {
    stripe: ours for ours, codes in _BY_CODE.items() for stripe in codes.split()
}
# error.advice_code: Stripe's own reading of the issuer's and network's advice
# (docs.stripe.com/declines/card#retrying-issuer-declines).
ADVICE_CODES: dict[str, RetryAdvice] = {
    "try_again_later": RetryAdvice.RETRY_LATER,
    "do_not_try_again": RetryAdvice.DO_NOT_RETRY,
    "confirm_card_data": RetryAdvice.CUSTOMER_ACTION_REQUIRED,
}


def decline_of(error: Json) -> Decline:
    """Our decline for a Stripe error object (``last_payment_error`` or a 402 ``error``).
    The issuer's ``decline_code`` is more specific than ``code``, so it is tried first;
    the provider code kept is the most specific one Stripe gave. The network's codes
    (``network_decline_code``, ``network_advice_code``, API 2024-12-18.acacia) and Stripe's
    ``advice_code`` are kept too, with the card's brand, whose network's rules apply."""
    decline_code, code = optional_text(error, "decline_code"), optional_text(error, "code")
    message = optional_text(error, "message") or "The payment was declined."
    ours = DeclineCode.UNKNOWN
    for candidate in (decline_code, code):
        if candidate in DECLINE_CODES:
            ours = DECLINE_CODES[candidate]
            break
    return Decline(
        ours,
        message,
        decline_code or code,
        network=optional_text(sub(sub(error, "payment_method"), "card"), "brand"),
        network_decline_code=optional_text(error, "network_decline_code"),
        network_advice_code=optional_text(error, "network_advice_code"),
        provider_advice=ADVICE_CODES.get(optional_text(error, "advice_code") or ""),
    )


# --- payment intents --------------------------------------------------------------------


def payment_result(intent: Json) -> PaymentResult:
    status = text(intent, "status")
    amount = money_from(intent.get("amount"), intent.get("currency"))
    currency = intent.get("currency")
    result = PaymentResult(
        psp_reference=text(intent, "id"),
        status=PaymentStatus.PROCESSING,
        amount=amount,
        amount_capturable=money_from(intent.get("amount_capturable", 0), currency),
        amount_received=money_from(intent.get("amount_received", 0), currency),
        raw_status=status,
    )
    sdk = _sdk_action(intent)
    match status:
        case "succeeded":
            return _replace(result, PaymentStatus.SUCCEEDED)
        case "processing":
            return result
        case "requires_capture":
            return _replace(result, PaymentStatus.REQUIRES_CAPTURE)
        case "canceled":
            return _replace(result, PaymentStatus.CANCELED)
        case "requires_action":
            return _replace(result, PaymentStatus.REQUIRES_ACTION, next_action=_next_action(intent))
        case "requires_confirmation":
            # Confirmed neither by us nor yet in the browser: confirm_payment, or Stripe.js.
            return _replace(result, PaymentStatus.REQUIRES_ACTION, next_action=sdk)
        case "requires_payment_method":
            error = sub(intent, "last_payment_error")
            if error:  # an attempt failed: declined, or authentication failed
                return _replace(result, PaymentStatus.FAILED, decline=decline_of(error))
            return _replace(result, PaymentStatus.REQUIRES_ACTION, next_action=sdk)
    raise PspBadResponse(f"Stripe sent an unknown PaymentIntent status {status!r}", psp=PSP)


def _replace(
    result: PaymentResult,
    status: PaymentStatus,
    *,
    next_action: NextAction | None = None,
    decline: Decline | None = None,
) -> PaymentResult:
    return PaymentResult(
        psp_reference=result.psp_reference,
        status=status,
        amount=result.amount,
        amount_capturable=result.amount_capturable,
        amount_received=result.amount_received,
        next_action=next_action,
        decline=decline,
        raw_status=result.raw_status,
    )


def _sdk_action(intent: Json) -> NextAction | None:
    secret = optional_text(intent, "client_secret")
    return NextAction(NextActionKind.USE_SDK, client_secret=secret) if secret else None


def _next_action(intent: Json) -> NextAction:
    action = sub(intent, "next_action")
    if action.get("type") == "redirect_to_url":
        url = optional_text(sub(action, "redirect_to_url"), "url")
        if url is None:
            raise PspBadResponse("Stripe sent redirect_to_url without a url", psp=PSP)
        return NextAction(NextActionKind.REDIRECT, redirect_url=url)
    # use_stripe_sdk, and every other kind (Stripe.js handleNextAction knows them all)
    sdk = _sdk_action(intent)
    if sdk is None:
        raise PspBadResponse("Stripe sent requires_action without a client_secret", psp=PSP)
    return sdk


# --- refunds --------------------------------------------------------------------------------

REFUND_STATUSES: dict[str, RefundStatus] = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,  # the customer must give refund details first
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.CANCELED,
}

# RefundReason.OTHER has no Stripe equivalent: no reason, and our reason in metadata.
StripeRefundReason = Literal["requested_by_customer", "duplicate", "fraudulent"]
REFUND_REASONS: dict[RefundReason, StripeRefundReason] = {
    RefundReason.REQUESTED_BY_CUSTOMER: "requested_by_customer",
    RefundReason.DUPLICATE: "duplicate",
    RefundReason.FRAUDULENT: "fraudulent",
}


def refund_result(refund: Json) -> RefundResult:
    status = text(refund, "status")
    if status not in REFUND_STATUSES:
        raise PspBadResponse(f"Stripe sent an unknown Refund status {status!r}", psp=PSP)
    payment = ref(refund, "payment_intent") or ref(refund, "charge")
    if payment is None:
        raise PspBadResponse("Stripe sent a Refund without its payment", psp=PSP)
    return RefundResult(
        psp_reference=text(refund, "id"),
        payment_reference=payment,
        status=REFUND_STATUSES[status],
        amount=money_from(refund.get("amount"), refund.get("currency")),
        failure_reason=optional_text(refund, "failure_reason"),
        raw_status=status,
    )


# --- disputes ---------------------------------------------------------------------------------

DISPUTE_STATUSES: dict[str, DisputeStatus] = {
    "warning_needs_response": DisputeStatus.NEEDS_RESPONSE,
    "warning_under_review": DisputeStatus.UNDER_REVIEW,
    "warning_closed": DisputeStatus.WARNING_CLOSED,
    "needs_response": DisputeStatus.NEEDS_RESPONSE,
    "under_review": DisputeStatus.UNDER_REVIEW,
    # A lost dispute appealed (its evidence is asked for again, then reviewed again).
    "appeal_needs_response": DisputeStatus.NEEDS_RESPONSE,
    "appeal_under_review": DisputeStatus.UNDER_REVIEW,
    "won": DisputeStatus.WON,
    "lost": DisputeStatus.LOST,
    # Closed before becoming a chargeback (e.g. refunded through Visa RDR): like an inquiry
    # closed without one. charge_refunded: the dispute of a refunded charge, in API versions
    # before 2014-11-20 (Stripe's changelog).
    "prevented": DisputeStatus.WARNING_CLOSED,
    "charge_refunded": DisputeStatus.WARNING_CLOSED,
}


def dispute_info(dispute: Json) -> DisputeInfo:
    status = text(dispute, "status")
    if status not in DISPUTE_STATUSES:
        raise PspBadResponse(f"Stripe sent an unknown Dispute status {status!r}", psp=PSP)
    payment = ref(dispute, "payment_intent") or ref(dispute, "charge")
    if payment is None:
        raise PspBadResponse("Stripe sent a Dispute without its payment", psp=PSP)
    return DisputeInfo(
        psp_reference=text(dispute, "id"),
        payment_reference=payment,
        amount=money_from(dispute.get("amount"), dispute.get("currency")),
        reason=optional_text(dispute, "reason") or "general",
        status=DISPUTE_STATUSES[status],
        evidence_due_by=timestamp(sub(dispute, "evidence_details").get("due_by")),
        raw_status=status,
    )


# --- payment methods ---------------------------------------------------------------------------


def _country(code: str | None) -> str | None:
    """A card's ``country`` (two-letter code of its issuing country), if it is one."""
    return code.upper() if code and len(code) == 2 and code.isalpha() else None


def payment_method_details(method: Json) -> PaymentMethodDetails:
    """Only what PCI DSS SAQ A lets us keep: brand, last4, expiry month/year, fingerprint."""
    kind = text(method, "type")
    card = sub(method, "card")
    exp_month, exp_year = card.get("exp_month"), card.get("exp_year")
    return PaymentMethodDetails(
        psp_reference=text(method, "id"),
        type=kind,
        brand=optional_text(card, "brand"),
        last4=optional_text(card, "last4"),
        exp_month=exp_month if type(exp_month) is int else None,
        exp_year=exp_year if type(exp_year) is int else None,
        wallet=optional_text(sub(card, "wallet"), "type"),
        fingerprint=optional_text(card, "fingerprint"),
        country=_country(optional_text(card, "country")),
        email=optional_text(sub(method, "billing_details"), "email"),
    )
