"""One decline taxonomy for every PSP, with retry advice that follows the card networks.

The vocabulary is the domain's: each PSP adapter (``app/psp/<provider>/``) maps its
provider's codes onto :class:`DeclineCode` (tests cover every mapping); anything it does
not know becomes ``UNKNOWN`` with the provider's code kept. A
:class:`Decline` also keeps what the network said, when the PSP passes it on: the issuer's
response code and the network's merchant advice code, which refine the advice (the README's
"Retry advice" table lists every rule and its source).

Visa sorts decline response codes into four categories (Visa Core Rules, "Excessive
Reattempts"; as published by Worldpay, "Raw response codes", and Checkout.com, "Visa
response codes"): 1 the issuer will never approve (never reattempt), 2 it cannot approve
now, 3 data quality (revalidate first), 4 generic; 2 to 4 may be reattempted within the
caps of ``app.domain.dunning.CAPS``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from app.domain.dunning import CustomerAction


class RetryAdvice(enum.Enum):
    RETRY_LATER = "retry_later"  # a later attempt with the same method may succeed
    DO_NOT_RETRY = "do_not_retry"  # never retry this method for this payment
    CUSTOMER_ACTION_REQUIRED = "customer_action_required"  # the customer must act first


class NetworkCategory(enum.Enum):
    """Visa's decline category of a code, or none (a PSP's or a merchant's refusal)."""

    NEVER_APPROVE = "1"
    CANNOT_APPROVE_NOW = "2"
    DATA_QUALITY = "3"
    GENERIC = "4"
    NONE = "-"


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
    LOST_OR_STOLEN = "lost_or_stolen"  # a PSP that does not tell which (PayPal 9520)
    LOST_CARD = "lost_card"
    STOLEN_CARD = "stolen_card"
    PICKUP_CARD = "pickup_card"
    INVALID_ACCOUNT = "invalid_account"
    PAYMENT_STOPPED = "payment_stopped"
    DO_NOT_TRY_AGAIN = "do_not_try_again"
    RESTRICTED_CARD = "restricted_card"
    CARD_NOT_SUPPORTED = "card_not_supported"
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
    LIMIT_EXCEEDED = "limit_exceeded"
    ISSUER_UNAVAILABLE = "issuer_unavailable"
    TRY_AGAIN_LATER = "try_again_later"
    PROCESSING_ERROR = "processing_error"
    PAYER_ACTION_REQUIRED = "payer_action_required"
    INSTRUMENT_DECLINED = "instrument_declined"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Rule:
    """What a decline code means for retries, and why (``source``)."""

    category: NetworkCategory
    advice: RetryAdvice
    action: CustomerAction  # what the customer must do if collection stops on it
    summary: str  # for people: the GraphQL enum value's description
    source: str


_NEVER, _NOW, _DATA, _GENERIC, _NONE = NetworkCategory
_RETRY, _STOP, _CUSTOMER = (
    RetryAdvice.RETRY_LATER,
    RetryAdvice.DO_NOT_RETRY,
    RetryAdvice.CUSTOMER_ACTION_REQUIRED,
)
_ADD, _AUTH, _UPDATE, _BANK = (
    CustomerAction.ADD_PAYMENT_METHOD,
    CustomerAction.AUTHENTICATE,
    CustomerAction.UPDATE_PAYMENT_DETAILS,
    CustomerAction.CONTACT_BANK,
)
D = DeclineCode
RULES: dict[DeclineCode, Rule] = {
    # Category 1: the issuer will never approve. Visa fees every reattempt.
    D.LOST_CARD: Rule(_NEVER, _STOP, _ADD, "The card was reported lost.", "Visa 41"),
    D.STOLEN_CARD: Rule(_NEVER, _STOP, _ADD, "The card was reported stolen.", "Visa 43"),
    D.LOST_OR_STOLEN: Rule(
        _NEVER, _STOP, _ADD, "The card was reported lost or stolen.",
        "Visa 41, 43; PayPal 9520: do not retry the same card",
    ),
    D.PICKUP_CARD: Rule(
        _NEVER, _STOP, _ADD, "The issuer asks for the card to be retained (pick up).",
        "Visa 04, 07; PayPal 5150: do not retry the same card",
    ),
    D.INVALID_ACCOUNT: Rule(
        _NEVER, _STOP, _ADD, "The card's account is closed, invalid or unknown to the issuer.",
        "Visa 14 (PAN), 15, 46",
    ),
    D.INCORRECT_NUMBER: Rule(
        _NEVER, _STOP, _ADD, "The card number is not valid.",
        "Visa 14; a saved method's number cannot be corrected",
    ),
    D.CARD_NOT_SUPPORTED: Rule(
        _NEVER, _STOP, _ADD, "The card cannot be used for this kind of payment.",
        "Visa 12, 57",
    ),
    D.PAYMENT_STOPPED: Rule(
        _NEVER, _STOP, _ADD, "The cardholder asked their bank to stop this merchant's payments.",
        "Visa R0, R1, R3; Mastercard MAC 21",
    ),
    D.DO_NOT_TRY_AGAIN: Rule(
        _NEVER, _STOP, _ADD, "The issuer or network said not to try this card again.",
        "Mastercard MAC 03; Stripe advice_code do_not_try_again",
    ),
    # Category 2: the issuer cannot approve now; retried within the caps.
    D.INSUFFICIENT_FUNDS: Rule(
        _NOW, _RETRY, _ADD, "The card has insufficient funds.", "Visa 51"
    ),
    D.LIMIT_EXCEEDED: Rule(
        _NOW, _RETRY, _BANK, "An amount or frequency limit of the card was exceeded.",
        "Visa 61, 65",
    ),
    D.ISSUER_UNAVAILABLE: Rule(
        _NOW, _RETRY, _ADD, "The issuer could not be reached.", "Visa 91, 96"
    ),
    D.TRY_AGAIN_LATER: Rule(
        _NOW, _RETRY, _ADD, "The issuer asks for the payment to be tried again later.",
        "Visa 19; Mastercard MAC 02",
    ),
    D.RESTRICTED_CARD: Rule(
        _NOW, _CUSTOMER, _BANK, "The card is restricted by its issuer.",
        "Visa 62 (category 2); Stripe: may be lost or stolen, the customer contacts the "
        "issuer, so it is never retried blindly",
    ),
    D.FRAUDULENT: Rule(
        _NONE, _STOP, _ADD, "The payment was refused as suspected fraud.",
        "a risk block (Stripe's fraudulent: Radar; a payee's block list; PayPal 9500: do not "
        "retry the same card) refuses the same card again; an issuer's own 59 would be "
        "category 2, but is not told apart: never retried",
    ),
    # Category 3: data quality; the customer revalidates before a reattempt.
    D.EXPIRED_CARD: Rule(_DATA, _CUSTOMER, _UPDATE, "The card has expired.", "Visa 54"),
    D.INCORRECT_CVC: Rule(
        _DATA, _CUSTOMER, _UPDATE, "The card's security code is incorrect.", "Visa 82, N7"
    ),
    # Category 4: generic; retried within the caps.
    D.CARD_DECLINED: Rule(
        _GENERIC, _RETRY, _BANK, "The issuer declined without a reason.",
        "Visa category 4 (generic)",
    ),
    D.DO_NOT_HONOR: Rule(
        _GENERIC, _RETRY, _BANK, "The issuer declined: do not honor.", "Visa 05 (category 4)"
    ),
    # Not a network decline category: authentication, PSP and request failures.
    D.AUTHENTICATION_REQUIRED: Rule(
        _NONE, _CUSTOMER, _AUTH, "The issuer requires the customer to authenticate (3-D Secure).",
        "PSD2 strong customer authentication: only the customer can",
    ),
    D.AUTHENTICATION_FAILED: Rule(
        _NONE, _CUSTOMER, _AUTH, "The customer did not complete authentication.",
        "3-D Secure: only the customer can",
    ),
    D.PAYER_ACTION_REQUIRED: Rule(
        _NONE, _CUSTOMER, _AUTH, "The payer must approve the payment at the PSP.",
        "PayPal PAYER_ACTION_REQUIRED",
    ),
    D.INSTRUMENT_DECLINED: Rule(
        _NONE, _CUSTOMER, _ADD, "The PayPal funding source was declined.",
        "PayPal INSTRUMENT_DECLINED: the payer chooses another funding source",
    ),
    D.CURRENCY_NOT_SUPPORTED: Rule(
        _NONE, _STOP, _ADD, "The card does not support the currency.",
        "the same request fails the same way",
    ),
    D.PROCESSING_ERROR: Rule(
        _NONE, _RETRY, _ADD, "The PSP or processor failed to process the payment.",
        "Stripe processing_error: try again",
    ),
    D.UNKNOWN: Rule(
        _NONE, _CUSTOMER, _BANK, "A decline the PSP's code does not tell us more about.",
        "could be category 1, which Visa fees at every reattempt: never retried blindly; "
        "the customer may pay again, and a network advice code decides when given",
    ),
}  # fmt: skip
del D

ADVICE: dict[DeclineCode, RetryAdvice] = {code: rule.advice for code, rule in RULES.items()}

# --- network advice codes -----------------------------------------------------------------

# Mastercard's Merchant Advice Codes (MAC) and the advice codes Visa sends with recurring
# payments, as PayPal's Orders API documents them (processor_response.payment_advice_code,
# paypal-server-sdk PaymentAdviceCode) and Braintree ("Merchant Advice Codes"). "02" means
# "retry in 72 hours" from Mastercard but "stop this payment" from Visa: with no known
# network it is read the cautious way. Codes without retry advice (04, 22, 40, 43) defer to
# the decline code.
_MASTERCARD: dict[str, tuple[RetryAdvice, timedelta | None]] = {
    "01": (_CUSTOMER, None),  # new account information available
    "02": (_RETRY, timedelta(hours=72)),  # cannot approve now: retry 72 hours later
    "03": (_STOP, None),  # do not try again
    "21": (_STOP, None),  # payment cancellation: stop recurring payments
    "24": (_RETRY, timedelta(hours=1)),
    "25": (_RETRY, timedelta(hours=24)),
    "26": (_RETRY, timedelta(days=2)),
    "27": (_RETRY, timedelta(days=4)),
    "28": (_RETRY, timedelta(days=6)),
    "29": (_RETRY, timedelta(days=8)),
    "30": (_RETRY, timedelta(days=10)),
}
_VISA: dict[str, tuple[RetryAdvice, timedelta | None]] = {
    "02": (_STOP, None),  # stop this one payment (resubmitting it is not allowed)
    "03": (_STOP, None),  # stop all recurring payments to this merchant
    "21": (_STOP, None),  # all recurring payments cancelled for the card
}
_UNKNOWN_NETWORK = {
    code: advice for code, advice in _MASTERCARD.items() if _VISA.get(code, advice) == advice
} | {"02": (_STOP, None)}


def network_advice(
    code: str | None, network: str | None
) -> tuple[RetryAdvice, timedelta | None] | None:
    """What a network advice code advises (and the least wait before a retry), or None."""
    if not code:
        return None
    table = {"mastercard": _MASTERCARD, "visa": _VISA}.get((network or "").lower())
    return (table if table is not None else _UNKNOWN_NETWORK).get(code)


def advise(
    code: DeclineCode,
    network_advice_code: str | None = None,
    network: str | None = None,
    provider_advice: RetryAdvice | None = None,
) -> RetryAdvice:
    """The advice of a decline: any source that says "never" wins (a reattempt would be
    fee'd); otherwise what the network (or the PSP, for it) said of this very payment
    overrides the table's advice for the code."""
    table = RULES[code].advice
    said = network_advice(network_advice_code, network)
    signals = [s for s in (said[0] if said else None, provider_advice) if s is not None]
    if _STOP in (table, *signals):
        return _STOP
    return signals[0] if signals else table


def customer_action(code: DeclineCode, advice: RetryAdvice) -> CustomerAction:
    """What the customer must do when collection stops on a decline with ``advice``: the
    code's own action, unless a network's advice changed the advice (then a new method,
    or, for "new account information" / "confirm card data", updated details)."""
    rule = RULES[code]
    if advice is rule.advice:
        return rule.action
    return _ADD if advice is not _CUSTOMER else _UPDATE


def retry_wait(network_advice_code: str | None, advice: RetryAdvice) -> timedelta | None:
    """The least wait before retrying that the network asked for (Mastercard MAC 02,
    24-30), when the advice is to retry."""
    said = _MASTERCARD.get(network_advice_code or "")
    return said[1] if said and advice is _RETRY else None


@dataclass(frozen=True, slots=True)
class Decline:
    """Why a payment failed, in our taxonomy, with the provider's and network's codes."""

    code: DeclineCode
    message: str
    provider_code: str | None = None
    network: str | None = None  # the card network whose rules apply ("visa", "mastercard")
    network_decline_code: str | None = None  # the issuer's response code, e.g. "05", "51"
    network_advice_code: str | None = None  # e.g. Mastercard's merchant advice code "03"
    provider_advice: RetryAdvice | None = None  # the PSP's own reading (Stripe advice_code)

    @property
    def advice(self) -> RetryAdvice:
        return advise(self.code, self.network_advice_code, self.network, self.provider_advice)
