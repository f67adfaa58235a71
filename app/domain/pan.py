"""Card numbers must never enter the system (PCI DSS SAQ A scope).

A primary account number is 13 to 19 digits whose Luhn checksum is valid, written
contiguously or in groups of 3 to 6 digits separated by single spaces or dashes (how cards
are printed and typed: 4-4-4-4, 4-6-5). It stands apart from letters and other digits, so
that identifiers such as UUIDs (8-4-4-4-12 hex groups) or PSP ids are not mistaken for one.
Any input that contains one is refused.
"""

from __future__ import annotations

import re

_EDGE_BEFORE = r"(?<![0-9A-Za-z_-])"
_EDGE_AFTER = r"(?![0-9A-Za-z_-])"
_CANDIDATE = re.compile(
    rf"{_EDGE_BEFORE}(?:[0-9]{{13,19}}|[0-9]{{3,6}}(?:[ -][0-9]{{3,6}}){{2,5}}){_EDGE_AFTER}"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    """Whether ``text`` holds something shaped like a card number (see the module)."""
    for match in _CANDIDATE.finditer(text):
        digits = match.group().replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False
