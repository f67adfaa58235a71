"""Dunning's vocabulary: why automatic collection of an invoice stopped, what the customer
must do about it, and the card networks' caps on charging one card for one payment.

Plain data and arithmetic (no database): the services decide, this module names.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


class CollectionStopReason(enum.Enum):
    """Why paygate stopped charging an invoice on its own."""

    # A decline that must not be retried with this payment method (Visa category 1, a
    # network's "do not try again", a stopped payment…): a new payment method is needed.
    PAYMENT_METHOD_REFUSED = "payment_method_refused"
    # The customer must act before a charge can succeed (authenticate, fix card details,
    # call their bank): nothing is retried blindly meanwhile.
    CUSTOMER_ACTION_REQUIRED = "customer_action_required"
    # Every retry of the dunning schedule failed.
    RETRIES_EXHAUSTED = "retries_exhausted"
    # The card was tried as often as the networks allow for this invoice (see CAPS).
    RETRY_LIMIT_REACHED = "retry_limit_reached"
    # Nothing to charge: no default payment method, or it was detached.
    NO_PAYMENT_METHOD = "no_payment_method"


class CustomerAction(enum.Enum):
    """What the customer must do so that the invoice can be paid."""

    ADD_PAYMENT_METHOD = "add_payment_method"
    AUTHENTICATE = "authenticate"
    UPDATE_PAYMENT_DETAILS = "update_payment_details"
    CONTACT_BANK = "contact_bank"


# Collection stopped for one of these waits for a new payment method: later renewals are
# invoiced but not charged to the refused one.
WAITS_FOR_NEW_METHOD = frozenset(
    {
        CollectionStopReason.PAYMENT_METHOD_REFUSED,
        CollectionStopReason.RETRY_LIMIT_REACHED,
        CollectionStopReason.NO_PAYMENT_METHOD,
    }
)

_WHY = {
    CollectionStopReason.PAYMENT_METHOD_REFUSED: (
        "Your payment method was declined and can't be charged again for this payment."
    ),
    CollectionStopReason.CUSTOMER_ACTION_REQUIRED: "Your payment could not be completed.",
    CollectionStopReason.RETRIES_EXHAUSTED: (
        "We tried to collect this payment several times without success."
    ),
    CollectionStopReason.RETRY_LIMIT_REACHED: (
        "Your card has been tried as many times as card network rules allow for this payment."
    ),
    CollectionStopReason.NO_PAYMENT_METHOD: "There is no payment method to charge.",
}
_WHAT = {
    CustomerAction.ADD_PAYMENT_METHOD: "Add a new payment method to pay this invoice.",
    CustomerAction.AUTHENTICATE: (
        "Your bank needs you to confirm it: pay the invoice while signed in to complete "
        "the bank's check."
    ),
    CustomerAction.UPDATE_PAYMENT_DETAILS: (
        "Update your card's details (such as its expiry date or security code), or add "
        "another payment method."
    ),
    CustomerAction.CONTACT_BANK: (
        "Contact your bank, then pay the invoice again, or add another payment method."
    ),
}


def stop_message(reason: CollectionStopReason, action: CustomerAction) -> str:
    """A sentence for the customer: why collection stopped and what to do. It never names a
    decline the networks ask merchants not to disclose (lost, stolen, fraud): those are
    all "declined, add a new payment method" (Stripe's decline-code guidance)."""
    return f"{_WHY[reason]} {_WHAT[action]}"


@dataclass(frozen=True, slots=True)
class RetryCap:
    """At most ``attempts`` charges of one card for one invoice in any ``window``."""

    window: timedelta
    attempts: int
    rule: str


# The networks' excessive-retry rules, applied to every card (whatever its brand) and
# counting every attempt, the first included, so that both ways of reading "reattempts"
# stay within them:
# - Visa's Excessive Reattempts rule: no more than 15 reattempts of one transaction in 30
#   days after a category 2, 3 or 4 decline, none after category 1 (Stripe, "Payment
#   blocked due to excessive retries"; Worldpay, "Raw response codes"). Visa's Core Rules
#   of April 2026 allow 20; 15 stays within both.
# - Mastercard's Excessive Attempts (Transaction Processing Excellence): no more than 10
#   attempts on one card in 24 hours (TabaPay, "Excessive Retry Rules").
CAPS: tuple[RetryCap, ...] = (
    RetryCap(timedelta(days=30), 15, "Visa: 15 reattempts in 30 days"),
    RetryCap(timedelta(hours=24), 10, "Mastercard: 10 attempts in 24 hours"),
)


def within_caps(earlier: Sequence[datetime], at: datetime, caps: Sequence[RetryCap] = CAPS) -> bool:
    """Whether one more attempt at ``at`` keeps the card within every cap, given the times
    of its other attempts for the same invoice (one recorded after ``at``, by a clock that
    ran ahead, counts too: the cautious reading)."""
    return all(
        sum(1 for moment in earlier if moment > at - cap.window) < cap.attempts for cap in caps
    )
