"""An experiment's lifecycle: ``draft → running ⇄ paused → concluded | archived``."""

from __future__ import annotations

import enum


class ExperimentStatus(enum.Enum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CONCLUDED = "concluded"
    ARCHIVED = "archived"


class Platform(enum.Enum):
    """Where a visitor sees an offer."""

    WEB = "web"
    IOS = "ios"
    ANDROID = "android"


class GuardrailMetric(enum.Enum):
    """What a guardrail watches, over the payments of a variant's subscriptions."""

    REFUND_RATE = "refund_rate"  # refunds per successful payment
    DISPUTE_RATE = "dispute_rate"  # disputes per successful payment
    PAYMENT_FAILURE_RATE = "payment_failure_rate"  # failed payments per attempt


class Action(enum.Enum):
    START = "start"
    PAUSE = "pause"
    CONCLUDE = "conclude"
    ARCHIVE = "archive"
    UPDATE = "update"


_S = ExperimentStatus
# action -> the statuses it may be taken from, and the status it leads to
TRANSITIONS: dict[Action, tuple[frozenset[ExperimentStatus], ExperimentStatus]] = {
    Action.START: (frozenset({_S.DRAFT, _S.PAUSED}), _S.RUNNING),
    Action.PAUSE: (frozenset({_S.RUNNING}), _S.PAUSED),
    Action.CONCLUDE: (frozenset({_S.RUNNING, _S.PAUSED}), _S.CONCLUDED),
    Action.ARCHIVE: (frozenset({_S.DRAFT, _S.RUNNING, _S.PAUSED, _S.CONCLUDED}), _S.ARCHIVED),
    Action.UPDATE: (frozenset({_S.DRAFT}), _S.DRAFT),
}

# Statuses that hold a range of their layer's buckets.
HOLDS_TRAFFIC = frozenset({_S.RUNNING, _S.PAUSED})


class TransitionError(ValueError):
    """The action is not allowed from the experiment's status."""


def transition(status: ExperimentStatus, action: Action) -> ExperimentStatus:
    """The status after ``action``; :class:`TransitionError` when it is not allowed."""
    sources, target = TRANSITIONS[action]
    if status not in sources:
        allowed = ", ".join(sorted(s.value for s in sources))
        raise TransitionError(
            f"A {status.value} experiment cannot {action.value} (only from: {allowed})."
        )
    return target
