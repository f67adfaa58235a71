"""The risk decision, pure: Radar's order and precedence, the score's levels, each
condition; and the client's address behind proxies."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.risk import (
    DEFAULT_RULES,
    AmountAbove,
    AmountAboveUsual,
    AttemptKind,
    CardTesting,
    CountryMismatch,
    Facts,
    OnList,
    RiskAction,
    RiskDimension,
    RiskLevel,
    RiskListKind,
    Rule,
    Velocity,
    Window,
    from_document,
    judge,
    level_of,
    to_document,
)
from app.security.client_ip import client_address, device_id

HOUR = timedelta(hours=1)
VELOCITY = Velocity(RiskDimension.IP_ADDRESS, HOUR, 5)


def facts(**changes: object) -> Facts:
    base: dict[str, object] = {
        "kind": AttemptKind.CHARGE,
        "amount_minor": 1000,
        "currency": "USD",
        "card_country": "US",
        "customer_country": "US",
    }
    return Facts(**{**base, **changes})  # type: ignore[arg-type]


def rule(
    key: str, condition: object, action: RiskAction, score: int = 10, position: int = 0
) -> Rule:
    return Rule(key, key, condition, action, score, position)  # type: ignore[arg-type]


def test_allow_wins_over_block_and_block_over_review() -> None:
    listed = facts(windows={VELOCITY: Window(attempts=9)}, listed=frozenset({RiskListKind.ALLOW}))
    rules = [
        rule("review", VELOCITY, RiskAction.REVIEW, 30),
        rule("block", VELOCITY, RiskAction.BLOCK, 50),
        rule("allow", OnList(RiskListKind.ALLOW), RiskAction.ALLOW, 0),
    ]
    decided = judge(rules, listed)
    assert decided.action is RiskAction.ALLOW
    assert [r.rule_key for r in decided.reasons] == ["allow", "block", "review"]
    assert decided.score == 80 and decided.level is RiskLevel.HIGHEST
    without_allow = judge(rules[:2], listed)
    assert without_allow.action is RiskAction.BLOCK


def test_no_rule_matching_allows_with_no_reason() -> None:
    decided = judge([rule("v", VELOCITY, RiskAction.BLOCK)], facts())
    assert (decided.action, decided.score, decided.reasons) == (RiskAction.ALLOW, 0, ())


@given(st.integers(min_value=0, max_value=100))
def test_levels_follow_radar(score: int) -> None:
    expected = (
        RiskLevel.HIGHEST
        if score >= 75
        else RiskLevel.ELEVATED
        if score >= 65
        else RiskLevel.NORMAL
    )
    assert level_of(score) is expected


@pytest.mark.parametrize(
    ("condition", "seen", "holds"),
    [
        (VELOCITY, facts(windows={VELOCITY: Window(attempts=5)}), False),
        (VELOCITY, facts(windows={VELOCITY: Window(attempts=6)}), True),
        (VELOCITY, facts(), False),  # no address: nothing counted
        (
            CardTesting(RiskDimension.DEVICE_ID, HOUR, 3, None),
            facts(windows={CardTesting(RiskDimension.DEVICE_ID, HOUR, 3, None): Window(1, 4, 0)}),
            True,
        ),
        (
            CardTesting(RiskDimension.DEVICE_ID, HOUR, None, 3),
            facts(windows={CardTesting(RiskDimension.DEVICE_ID, HOUR, None, 3): Window(9, 9, 2)}),
            False,
        ),
        (CountryMismatch(), facts(card_country="NG"), True),
        (CountryMismatch(), facts(customer_country=None), False),
        (AmountAboveUsual(5, 3), facts(amount_minor=5001, usual=(3, 1000)), True),
        (AmountAboveUsual(5, 3), facts(amount_minor=5001, usual=(2, 1000)), False),
        (AmountAboveUsual(5, 3), facts(amount_minor=5000, usual=(3, 1000)), False),
        (AmountAbove(10000, "USD"), facts(amount_minor=10001), True),
        (AmountAbove(10000, "EUR"), facts(amount_minor=10001), False),
        (OnList(RiskListKind.BLOCK), facts(listed=frozenset({RiskListKind.ALLOW})), False),
    ],
)
def test_each_condition(condition: object, seen: Facts, holds: bool) -> None:
    decided = judge([rule("r", condition, RiskAction.BLOCK)], seen)
    assert (decided.action is RiskAction.BLOCK) is holds


@pytest.mark.parametrize(
    "default", DEFAULT_RULES, ids=lambda d: d[0] if isinstance(d, tuple) else ""
)
def test_conditions_are_stored_and_read_back(default: tuple[str, object, RiskAction, int]) -> None:
    condition = default[1]
    assert from_document(to_document(condition)) == condition  # type: ignore[arg-type]


PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # an untrusted peer's header: ignored
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # the rightmost
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # several headers, in order
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["10.0.0.9"], "10.0.0.9"),  # proxies all the way: the leftmost
        ("127.0.0.1", ["nonsense, 198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["198.51.100.1, nonsense"], None),  # a malformed hop: nothing believed
        ("127.0.0.1", [" 2001:db8::1 "], "2001:db8::1"),
        (None, ["198.51.100.1"], None),
    ],
)
def test_the_client_address_behind_proxies(
    peer: str | None, forwarded: list[str], client: str | None
) -> None:
    assert client_address(peer, forwarded, PROXIES) == client


def test_a_device_id_is_printable_and_bounded() -> None:
    assert device_id(" abc-123 ") == "abc-123"
    assert device_id("") is None and device_id("x" * 129) is None
    assert device_id("caf\u00e9") is None and device_id("a b") is None
