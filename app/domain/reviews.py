"""The review queue's states: a payment held for a person to decide (Stripe Radar's
reviews: docs.stripe.com/radar/reviews)."""

from __future__ import annotations

import enum


class ReviewStatus(enum.Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class ReviewClosedReason(enum.Enum):
    APPROVED = "APPROVED"  # captured (or left to the merchant's manual capture)
    REJECTED = "REJECTED"  # authorisation cancelled, or the charge refunded
    EXPIRED = "EXPIRED"  # nobody decided in time: the default action was applied


class ReviewDefault(enum.Enum):
    """What happens to a review nobody decided before its time ran out."""

    APPROVE = "APPROVE"
    REJECT = "REJECT"
