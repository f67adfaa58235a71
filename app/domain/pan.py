"""Card numbers must never enter the system (PCI DSS SAQ A scope).

A primary account number is 13 to 19 digits, optionally grouped by spaces or dashes, whose
Luhn checksum is valid. Any free-text input that contains one is refused.
"""

from __future__ import annotations

import re

# A maximal run of digits, single spaces or dashes allowed between them.
_DIGIT_RUN = re.compile(r"[0-9](?:[ -]?[0-9])*")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    """Whether ``text`` holds something shaped like a card number: a run of 13-19 digits
    (maybe grouped by spaces or dashes) whose Luhn checksum is valid."""
    for match in _DIGIT_RUN.finditer(text):
        digits = match.group().replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False
