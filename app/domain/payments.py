"""Payments as a state machine: statuses, and how a newer report merges into what we know.

PSPs report snapshots (webhooks, synchronous responses, reconciliation) in any order and
any number of times. Merging keeps a payment moving forward only: a late ``processing``
after ``succeeded`` changes nothing, amounts received only grow, and terminal states stay.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class PaymentStatus(enum.Enum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    FAILED = "failed"


class CaptureMethod(enum.Enum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class RefundStatus(enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class RefundReason(enum.Enum):
    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    OTHER = "other"


class DisputeStatus(enum.Enum):
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"
    WARNING_CLOSED = "warning_closed"


# Progress of a payment; a report only applies when it moves the payment forward.
RANK = {
    PaymentStatus.REQUIRES_PAYMENT_METHOD: 0,
    PaymentStatus.REQUIRES_CONFIRMATION: 1,
    PaymentStatus.REQUIRES_ACTION: 2,
    PaymentStatus.PROCESSING: 3,
    PaymentStatus.REQUIRES_CAPTURE: 4,
    PaymentStatus.SUCCEEDED: 5,
    PaymentStatus.CANCELED: 5,
    PaymentStatus.FAILED: 5,
}
TERMINAL = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.CANCELED, PaymentStatus.FAILED})
REFUND_TERMINAL = frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.CANCELED})
DISPUTE_RANK = {
    DisputeStatus.NEEDS_RESPONSE: 0,
    DisputeStatus.UNDER_REVIEW: 1,
    DisputeStatus.WON: 2,
    DisputeStatus.LOST: 2,
    DisputeStatus.WARNING_CLOSED: 2,
}


@dataclass(frozen=True, slots=True)
class PaymentState:
    """What we know of a payment's progress at its PSP (minor units)."""

    status: PaymentStatus
    capturable: int
    received: int


def merge(current: PaymentState, report: PaymentState) -> PaymentState:
    """The state after ``report``; ``current`` itself when the report is stale."""
    if current.status in TERMINAL:
        if report.status is current.status and report.received > current.received:
            return replace(current, received=report.received, capturable=0)
        return current
    if RANK[report.status] > RANK[current.status]:
        return report
    if report.status is current.status and report.received > current.received:
        return report
    return current


def refund_moves(current: RefundStatus, report: RefundStatus) -> bool:
    """Whether a refund report changes the refund: only pending refunds change."""
    return current not in REFUND_TERMINAL and report is not current


def dispute_moves(current: DisputeStatus, report: DisputeStatus) -> bool:
    return DISPUTE_RANK[report] > DISPUTE_RANK[current]
