"""The subscription's state machine, exhaustively: every pair of statuses with every reason.

The expected moves are written out here, from the lifecycle the README describes, rather
than read from the table under test.
"""

from __future__ import annotations

import itertools

import pytest

from app.domain.billing import DunningPolicy, SubscriptionStatus
from app.domain.errors import ErrorCode
from app.domain.subscription_states import (
    DUNNABLE,
    TRANSITIONS,
    InvalidTransition,
    Reason,
    initial,
    transition,
)

S, R = SubscriptionStatus, Reason
# How a subscription that has been billed (active, past due, unpaid) gets canceled.
ENDS_A_BILLED_ONE = {R.RETRIES_EXHAUSTED, R.CANCELED, R.PERIOD_ENDED, R.CUSTOMER_ERASED}

EXPECTED: dict[tuple[SubscriptionStatus, SubscriptionStatus], set[Reason]] = {
    (S.INCOMPLETE, S.ACTIVE): {R.INVOICE_PAID},
    (S.INCOMPLETE, S.INCOMPLETE_EXPIRED): {R.FIRST_INVOICE_UNPAID},
    (S.INCOMPLETE, S.CANCELED): {R.CANCELED, R.CUSTOMER_ERASED},
    (S.INCOMPLETE_EXPIRED, S.CANCELED): {R.CANCELED},
    (S.TRIALING, S.ACTIVE): {R.TRIAL_ENDED},
    (S.TRIALING, S.PAUSED): {R.PAUSED},
    (S.TRIALING, S.CANCELED): {R.CANCELED, R.PERIOD_ENDED, R.CUSTOMER_ERASED},
    (S.ACTIVE, S.ACTIVE): {R.INVOICE_PAID},
    (S.ACTIVE, S.PAST_DUE): {R.RETRY_SCHEDULED, R.PAYMENT_PENDING, R.COLLECTION_STOPPED},
    (S.ACTIVE, S.UNPAID): {R.RETRIES_EXHAUSTED},
    (S.ACTIVE, S.PAUSED): {R.PAUSED},
    (S.ACTIVE, S.CANCELED): ENDS_A_BILLED_ONE,
    (S.PAST_DUE, S.ACTIVE): {R.INVOICE_PAID},
    (S.PAST_DUE, S.PAST_DUE): {R.RETRY_SCHEDULED, R.PAYMENT_PENDING, R.COLLECTION_STOPPED},
    (S.PAST_DUE, S.UNPAID): {R.RETRIES_EXHAUSTED},
    (S.PAST_DUE, S.PAUSED): {R.PAUSED},
    (S.PAST_DUE, S.CANCELED): ENDS_A_BILLED_ONE,
    (S.UNPAID, S.ACTIVE): {R.INVOICE_PAID},
    (S.UNPAID, S.PAST_DUE): {R.RETRY_SCHEDULED},
    (S.UNPAID, S.UNPAID): {R.PAYMENT_PENDING, R.COLLECTION_STOPPED, R.RETRIES_EXHAUSTED},
    (S.UNPAID, S.CANCELED): ENDS_A_BILLED_ONE,
    (S.PAUSED, S.ACTIVE): {R.RESUMED},
    (S.PAUSED, S.CANCELED): {R.CANCELED, R.CUSTOMER_ERASED},
}

PAIRS = list(itertools.product(SubscriptionStatus, repeat=2))


@pytest.mark.parametrize(("current", "to"), PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS])
def test_every_move_with_every_reason(current: SubscriptionStatus, to: SubscriptionStatus) -> None:
    """Allowed moves succeed with their reasons, and with no other; the rest always raise."""
    allowed = EXPECTED.get((current, to), set())
    for reason in Reason:
        if reason in allowed:
            assert transition(current, to, reason) is to
        else:
            with pytest.raises(InvalidTransition) as raised:
                transition(current, to, reason)
            error = raised.value
            assert (error.current, error.to, error.reason) == (current, to, reason)
            assert error.problem().code is ErrorCode.INVALID_STATE
            assert error.problem().field == ("subscriptionId",)


def test_the_table_is_the_expected_one() -> None:
    """Nothing allowed beyond the expected moves (the same check, read from the table)."""
    from_table: dict[tuple[SubscriptionStatus, SubscriptionStatus], set[Reason]] = {}
    for reason, moves in TRANSITIONS.items():
        for move in moves:
            from_table.setdefault(move, set()).add(reason)
    assert from_table == EXPECTED
    assert set(TRANSITIONS) == set(Reason)  # every reason moves something


def test_canceled_is_final() -> None:
    assert not any(current is S.CANCELED for current, _ in EXPECTED)


def test_new_subscriptions_start_trialing_or_incomplete() -> None:
    assert initial(trial=True) is S.TRIALING
    assert initial(trial=False) is S.INCOMPLETE


@pytest.mark.parametrize("final", [S.UNPAID, S.CANCELED])
def test_dunning_reaches_every_final_status_a_policy_may_name(final: SubscriptionStatus) -> None:
    DunningPolicy(final_status=final)  # a valid policy
    for current in DUNNABLE:
        assert transition(current, final, Reason.RETRIES_EXHAUSTED) is final


def test_a_message_in_the_callers_words() -> None:
    error = InvalidTransition(S.CANCELED, S.PAUSED, Reason.PAUSED)
    assert str(error) == "A canceled subscription cannot become paused (paused)."
    assert error.problem("A canceled subscription cannot be paused.").message == (
        "A canceled subscription cannot be paused."
    )
