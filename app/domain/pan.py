"""Card numbers must never enter the system (PCI DSS SAQ A scope).

A primary account number is 13 to 19 digits, optionally grouped by spaces or dashes, whose
Luhn checksum is valid. Any free-text input that contains one is refused.
"""

from __future__ import annotations

import re

# A run of 13-19 digits, each optionally followed by one space or dash.
_CANDIDATE = re.compile(r"(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    """Whether ``text`` holds something shaped like a card number (Luhn-valid 13-19 digits)."""
    for match in _CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        # Any 13-19 digit window of a longer grouped run may be the number.
        for length in range(13, min(19, len(digits)) + 1):
            for start in range(len(digits) - length + 1):
                if luhn_valid(digits[start : start + length]):
                    return True
    return False
