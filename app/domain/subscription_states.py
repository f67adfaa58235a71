"""The subscription's state machine: which status may follow which, and why.

Every change of a subscription's status goes through :func:`transition`, naming the
:class:`Reason` for it; a change the table does not allow for that reason raises
:class:`InvalidTransition`, which the services turn into an ``INVALID_STATE`` user error
where a caller can ask for it (pause, resume). Statuses and their moves follow Stripe's
subscription lifecycle: ``incomplete`` until the first invoice is paid (or
``incomplete_expired`` after 23 hours), ``trialing`` until the trial ends, ``past_due``
while dunning retries, then the dunning policy's final status (``unpaid`` or ``canceled``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from app.domain.billing import SubscriptionStatus
from app.domain.errors import DomainError, ErrorCode, Problem

_S = SubscriptionStatus


class Reason(enum.Enum):
    """Why a subscription's status changes."""

    INVOICE_PAID = "invoice_paid"  # a payment of its invoice succeeded (or nothing was due)
    TRIAL_ENDED = "trial_ended"  # the trial's period is over: the first renewal
    FIRST_INVOICE_UNPAID = "first_invoice_unpaid"  # unpaid 23 hours after creation
    RETRY_SCHEDULED = "retry_scheduled"  # a charge failed: dunning retries it later
    PAYMENT_PENDING = "payment_pending"  # a charge's outcome is not known yet (its answer settles)
    COLLECTION_STOPPED = "collection_stopped"  # a decline not to retry, or the customer must act
    RETRIES_EXHAUSTED = "retries_exhausted"  # dunning's schedule ended: the policy's final status
    PAUSED = "paused"  # pauseSubscription
    RESUMED = "resumed"  # resumeSubscription: a new period starts
    CANCELED = "canceled"  # cancelSubscription, at once
    PERIOD_ENDED = "period_ended"  # canceled at period end, and the period is over
    CUSTOMER_ERASED = "customer_erased"  # the customer was erased (GDPR): nothing is billed again


def _into(target: SubscriptionStatus, *sources: SubscriptionStatus) -> frozenset[tuple[_S, _S]]:
    return frozenset((source, target) for source in sources)


# Statuses whose collection attempts dunning moves on.
DUNNABLE = frozenset({_S.ACTIVE, _S.PAST_DUE, _S.UNPAID})

# Past due, or still unpaid when dunning had already given up.
_PAST_DUE_OR_STILL_UNPAID = _into(_S.PAST_DUE, _S.ACTIVE, _S.PAST_DUE) | _into(_S.UNPAID, _S.UNPAID)

# reason -> the (from, to) moves it allows
TRANSITIONS: Mapping[Reason, frozenset[tuple[SubscriptionStatus, SubscriptionStatus]]] = {
    Reason.INVOICE_PAID: _into(_S.ACTIVE, _S.INCOMPLETE, _S.ACTIVE, _S.PAST_DUE, _S.UNPAID),
    Reason.TRIAL_ENDED: _into(_S.ACTIVE, _S.TRIALING),
    Reason.FIRST_INVOICE_UNPAID: _into(_S.INCOMPLETE_EXPIRED, _S.INCOMPLETE),
    # A new default payment method retries an unpaid subscription's invoice: a retry
    # after that charge fails restarts the schedule.
    Reason.RETRY_SCHEDULED: _into(_S.PAST_DUE, _S.ACTIVE, _S.PAST_DUE, _S.UNPAID),
    Reason.PAYMENT_PENDING: _PAST_DUE_OR_STILL_UNPAID,
    Reason.COLLECTION_STOPPED: _PAST_DUE_OR_STILL_UNPAID,
    # ``DunningPolicy.final_status``; from active when the policy has no retries at all.
    Reason.RETRIES_EXHAUSTED: _into(_S.UNPAID, *DUNNABLE) | _into(_S.CANCELED, *DUNNABLE),
    Reason.PAUSED: _into(_S.PAUSED, _S.TRIALING, _S.ACTIVE, _S.PAST_DUE),
    Reason.RESUMED: _into(_S.ACTIVE, _S.PAUSED),
    Reason.CANCELED: _into(_S.CANCELED, *(s for s in _S if s is not _S.CANCELED)),
    Reason.PERIOD_ENDED: _into(_S.CANCELED, _S.TRIALING, _S.ACTIVE, _S.PAST_DUE, _S.UNPAID),
    Reason.CUSTOMER_ERASED: _into(
        _S.CANCELED, _S.INCOMPLETE, _S.TRIALING, _S.ACTIVE, _S.PAST_DUE, _S.UNPAID, _S.PAUSED
    ),
}


class InvalidTransition(DomainError):
    """A status change the state machine does not allow for its reason."""

    def __init__(self, current: SubscriptionStatus, to: SubscriptionStatus, reason: Reason) -> None:
        self.current, self.to, self.reason = current, to, reason
        super().__init__(
            f"A {current.value} subscription cannot become {to.value} ({reason.value})."
        )

    def problem(self, message: str | None = None) -> Problem:
        """As a user error about the subscription (``message`` in the caller's words)."""
        return Problem(ErrorCode.INVALID_STATE, message or str(self), ("subscriptionId",))


def initial(*, trial: bool) -> SubscriptionStatus:
    """A new subscription's status: trialing, or incomplete until its first invoice is paid."""
    return _S.TRIALING if trial else _S.INCOMPLETE


def allows(current: SubscriptionStatus, to: SubscriptionStatus, reason: Reason) -> bool:
    return (current, to) in TRANSITIONS[reason]


def transition(
    current: SubscriptionStatus, to: SubscriptionStatus, reason: Reason
) -> SubscriptionStatus:
    """``to``, when ``reason`` allows moving there from ``current``; otherwise
    :class:`InvalidTransition`."""
    if not allows(current, to, reason):
        raise InvalidTransition(current, to, reason)
    return to
