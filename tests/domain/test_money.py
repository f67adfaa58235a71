"""Money: exact parsing, formatting and allocation (property-based)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.currencies import CURRENCIES
from app.domain.errors import ErrorCode, UserInputError
from app.domain.money import MAX_MINOR, MIN_MINOR, Money, allocate, parse_money

currencies = st.sampled_from(sorted(CURRENCIES))
minor_amounts = st.integers(min_value=MIN_MINOR, max_value=MAX_MINOR)


@given(minor=minor_amounts, currency=currencies)
def test_decimal_string_round_trips_exactly(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert parse_money(money.decimal_string(), currency, allow_negative=True) == money


@given(
    total=minor_amounts,
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12).filter(
        lambda w: sum(w) > 0
    ),
)
def test_allocation_never_loses_a_minor_unit(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = total * weight / weight_sum
        assert abs(part - exact) < 1 + 1e-9 * abs(exact)  # within one minor unit
        if weight == 0:
            assert part == 0


def test_allocation_examples() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate(5, [0, 1]) == [0, 5]
    assert Money(1000, "JPY").allocate([1, 2]) == [Money(333, "JPY"), Money(667, "JPY")]
    with pytest.raises(ValueError, match="weights"):
        allocate(1, [0, 0])


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.30", "USD", 1230), ("12.3", "USD", 1230), ("1200", "JPY", 1200), ("0.001", "KWD", 1)],
)
def test_parse_examples(amount: str, currency: str, minor: int) -> None:
    assert parse_money(amount, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        ("1.001", "USD", ErrorCode.AMOUNT_TOO_PRECISE),
        ("1.0", "JPY", ErrorCode.AMOUNT_TOO_PRECISE),
        ("-1", "USD", ErrorCode.NEGATIVE_AMOUNT),
        ("92233720368547758.08", "USD", ErrorCode.AMOUNT_OUT_OF_RANGE),
        ("+1", "USD", ErrorCode.INVALID_AMOUNT),
        ("1.", "USD", ErrorCode.INVALID_AMOUNT),
        (".5", "USD", ErrorCode.INVALID_AMOUNT),
        ("١٢", "USD", ErrorCode.INVALID_AMOUNT),  # non-ASCII digits
        ("Infinity", "USD", ErrorCode.INVALID_AMOUNT),
        ("1", "EURO", ErrorCode.UNKNOWN_CURRENCY),
    ],
)
def test_parse_refusals(amount: str, currency: str, code: ErrorCode) -> None:
    with pytest.raises(UserInputError) as raised:
        parse_money(amount, currency)
    assert [p.code for p in raised.value.problems] == [code]


def test_money_refuses_floats_mixed_currencies_and_overflow() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="64 bits"):
        Money(MAX_MINOR + 1, "USD")
    with pytest.raises(ValueError, match="combine"):
        _ = Money(1, "USD") + Money(1, "EUR")
    assert Money(150, "USD") - Money(50, "USD") == Money(100, "USD")


@pytest.mark.parametrize(
    ("money", "locale", "text"),
    [
        (Money(123456, "EUR"), "de-DE", "1.234,56\xa0€"),
        (Money(123456, "JPY"), "ja-JP", "￥123,456"),
        (Money(1234, "KWD"), "en-US", "KWD1.234"),
        (Money(-500, "USD"), "en-US", "-$5.00"),
        (Money(500, "USD"), "not-a-locale", "$5.00"),
    ],
)
def test_formatting_follows_locale_and_currency_places(
    money: Money, locale: str, text: str
) -> None:
    assert money.formatted(locale) == text
