"""Card numbers are recognised wherever they hide in free text."""

from __future__ import annotations

import pytest

from app.domain.pan import contains_card_number, luhn_valid


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4000-0566-5566-5556",
        "my card is 5555555555554444 thanks",
        "378282246310005",  # Amex, 15 digits
        "6011111111111117",
        "4222222222222",  # 13 digits
        "3782 822463 10005",  # Amex as printed, 4-6-5
        "card: 4242-4242-4242-4242.",
    ],
)
def test_card_numbers_are_found(text: str) -> None:
    assert contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # Luhn fails
        "order 123456789012",  # 12 digits
        "+1 415 555 2671",
        "2026-01-15",
        "",
        "ACME GmbH",
        "47123456-1234-5123-8123-123456789012",  # a UUID whose groups are all digits
        "sbxpay_4242424242424242aa",  # digits inside an identifier
        "4242424242424242x",
    ],
)
def test_ordinary_text_is_not_a_card_number(text: str) -> None:
    assert not contains_card_number(text)


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
