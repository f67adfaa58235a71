"""The networks' caps and the customer-facing stop messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.domain.dunning import CollectionStopReason, CustomerAction, stop_message, within_caps

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_fifteen_attempts_in_thirty_days_and_no_more() -> None:
    daily = [T0 + timedelta(days=n) for n in range(14)]
    assert within_caps(daily, T0 + timedelta(days=14))  # the 15th
    daily.append(T0 + timedelta(days=14))
    assert not within_caps(daily, T0 + timedelta(days=15))  # a 16th within 30 days
    assert within_caps(daily, T0 + timedelta(days=30))  # the first left the window


def test_ten_attempts_in_twenty_four_hours_and_no_more() -> None:
    hourly = [T0 + timedelta(hours=n) for n in range(10)]
    assert not within_caps(hourly, T0 + timedelta(hours=10))
    assert within_caps(hourly[:9], T0 + timedelta(hours=10))
    assert within_caps(hourly, T0 + timedelta(hours=24))


@given(st.lists(st.integers(min_value=0, max_value=60 * 24), max_size=40))
def test_a_card_within_the_caps_after_any_history(minutes: list[int]) -> None:
    """Attempts made only when within_caps allows them never exceed a cap in any window."""
    made: list[datetime] = []
    for offset in sorted(minutes):
        at = T0 + timedelta(minutes=offset * 30)
        if within_caps(made, at):
            made.append(at)
    for start in made:
        assert sum(1 for t in made if start <= t < start + timedelta(days=30)) <= 15
        assert sum(1 for t in made if start <= t < start + timedelta(hours=24)) <= 10


def test_stop_messages_never_disclose_the_reason_of_a_decline() -> None:
    for reason in CollectionStopReason:
        for action in CustomerAction:
            message = stop_message(reason, action).lower()
            assert message.endswith(".")
            assert not any(word in message for word in ("lost", "stolen", "fraud", "pick"))
