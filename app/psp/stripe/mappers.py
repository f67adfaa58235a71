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

from app.domain.money import Money
from app.psp.base import (
    DisputeInfo,
    DisputeStatus,
    NextAction,
    NextActionKind,
    PaymentMethodDetails,
    PaymentResult,
    PaymentStatus,
    RefundReason,
    RefundResult,
    RefundStatus,
)
from app.psp.declines import Decline, DeclineCode
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

# Stripe's decline codes (error.decline_code: every row of the card table of
# docs.stripe.com/declines/codes) and card error codes (error.code, docs.stripe.com/error-codes).
# tests/psp/test_stripe.py holds the same table, written from Stripe's documentation.
DECLINE_CODES: dict[str, DeclineCode] = {
    "card_declined": DeclineCode.CARD_DECLINED,
    "generic_decline": DeclineCode.CARD_DECLINED,
    "insufficient_funds": DeclineCode.INSUFFICIENT_FUNDS,
    "expired_card": DeclineCode.EXPIRED_CARD,
    "invalid_expiry_month": DeclineCode.EXPIRED_CARD,
    "invalid_expiry_year": DeclineCode.EXPIRED_CARD,
    # the card was replaced: the details on file are out of date
    "new_account_information_available": DeclineCode.EXPIRED_CARD,
    "incorrect_cvc": DeclineCode.INCORRECT_CVC,
    "invalid_cvc": DeclineCode.INCORRECT_CVC,
    "incorrect_number": DeclineCode.INCORRECT_NUMBER,
    "invalid_number": DeclineCode.INCORRECT_NUMBER,
    "invalid_account": DeclineCode.INCORRECT_NUMBER,  # the number names no valid account
    "testmode_decline": DeclineCode.INCORRECT_NUMBER,  # a test card: a genuine one is needed
    # billing details the issuer refused: the customer must correct them
    "incorrect_zip": DeclineCode.PAYER_ACTION_REQUIRED,
    "incorrect_address": DeclineCode.PAYER_ACTION_REQUIRED,
    "authentication_required": DeclineCode.AUTHENTICATION_REQUIRED,
    "authentication_not_handled": DeclineCode.AUTHENTICATION_REQUIRED,
    "mobile_device_authentication_required": DeclineCode.AUTHENTICATION_REQUIRED,
    "offline_pin_required": DeclineCode.AUTHENTICATION_REQUIRED,  # card readers only
    "online_or_offline_pin_required": DeclineCode.AUTHENTICATION_REQUIRED,
    "payment_intent_authentication_failure": DeclineCode.AUTHENTICATION_FAILED,
    "incorrect_pin": DeclineCode.AUTHENTICATION_FAILED,  # card readers only
    "invalid_pin": DeclineCode.AUTHENTICATION_FAILED,
    "pin_try_exceeded": DeclineCode.AUTHENTICATION_FAILED,
    "do_not_honor": DeclineCode.DO_NOT_HONOR,
    "do_not_try_again": DeclineCode.DO_NOT_HONOR,
    "call_issuer": DeclineCode.DO_NOT_HONOR,
    "no_action_taken": DeclineCode.DO_NOT_HONOR,
    "security_violation": DeclineCode.DO_NOT_HONOR,
    "stop_payment_order": DeclineCode.DO_NOT_HONOR,
    "revocation_of_authorization": DeclineCode.DO_NOT_HONOR,
    "revocation_of_all_authorizations": DeclineCode.DO_NOT_HONOR,
    "fraudulent": DeclineCode.FRAUDULENT,
    "merchant_blacklist": DeclineCode.FRAUDULENT,
    "lost_card": DeclineCode.LOST_OR_STOLEN,
    "stolen_card": DeclineCode.LOST_OR_STOLEN,
    "pickup_card": DeclineCode.LOST_OR_STOLEN,
    "restricted_card": DeclineCode.LOST_OR_STOLEN,
    "card_not_supported": DeclineCode.CARD_NOT_SUPPORTED,
    "transaction_not_allowed": DeclineCode.CARD_NOT_SUPPORTED,
    "service_not_allowed": DeclineCode.CARD_NOT_SUPPORTED,
    "not_permitted": DeclineCode.CARD_NOT_SUPPORTED,
    "currency_not_supported": DeclineCode.CURRENCY_NOT_SUPPORTED,
    "card_velocity_exceeded": DeclineCode.LIMIT_EXCEEDED,
    "withdrawal_count_limit_exceeded": DeclineCode.LIMIT_EXCEEDED,
    "card_decline_rate_limit_exceeded": DeclineCode.LIMIT_EXCEEDED,
    "invalid_amount": DeclineCode.LIMIT_EXCEEDED,
    "processing_error": DeclineCode.PROCESSING_ERROR,
    "try_again_later": DeclineCode.PROCESSING_ERROR,
    "issuer_not_available": DeclineCode.PROCESSING_ERROR,
    "reenter_transaction": DeclineCode.PROCESSING_ERROR,
    "approve_with_id": DeclineCode.PROCESSING_ERROR,
    # refused as a repeat of a very recent attempt, not for the card: a later one may pass
    "duplicate_transaction": DeclineCode.PROCESSING_ERROR,
}


def decline_of(error: Json) -> Decline:
    """Our decline for a Stripe error object (``last_payment_error`` or a 402 ``error``).
    The issuer's ``decline_code`` is more specific than ``code``, so it is tried first;
    the provider code kept is the most specific one Stripe gave."""
    decline_code, code = optional_text(error, "decline_code"), optional_text(error, "code")
    message = optional_text(error, "message") or "The payment was declined."
    for candidate in (decline_code, code):
        if candidate in DECLINE_CODES:
            return Decline(DECLINE_CODES[candidate], message, decline_code or code)
    return Decline(DeclineCode.UNKNOWN, message, decline_code or code)


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
        email=optional_text(sub(method, "billing_details"), "email"),
    )
