"""Removing one person's data from stored text and JSON (GDPR erasure).

Two tools, used together by the erasure service:

- **Needles**: the person's own values (email, name, metadata values, a PayPal account's
  email) are replaced by ``[erased]`` wherever they occur in a string, case-insensitively.
  Values shorter than ``MIN_SUBSTRING`` only replace a string equal to them: a two-letter
  metadata value must not punch holes in ids and amounts.
- **Personal keys**: PSP payloads about the person hold personal data we never had as a
  value (a billing address, a payer id, the PSP's copy of the name): every string under a
  key of ``PERSONAL_KEYS`` becomes ``[erased]``. Applied only to payloads known to be
  about the person.

Plain Python on plain values: no database, no framework.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

ERASED = "[erased]"
MIN_SUBSTRING = 4

# Keys under which Stripe and PayPal objects carry personal data (customers, charges,
# payment methods, disputes' evidence, PayPal payers, vault tokens, shipping).
PERSONAL_KEYS = frozenset(
    {
        # Stripe
        "email",
        "name",
        "phone",
        "address",
        "shipping",
        "billing_details",
        "receipt_email",
        "description",
        "metadata",
        "fingerprint",
        "customer_email_address",
        "customer_name",
        "customer_purchase_ip",
        "billing_address",
        "shipping_address",
        "ip_address",
        # PayPal
        "payer",
        "email_address",
        "given_name",
        "surname",
        "full_name",
        "phone_number",
        "payer_id",
        "account_id",
        "note_to_payer",
    }
)


@dataclass(frozen=True, slots=True)
class Needles:
    """The values to remove: long ones anywhere in a string, short ones as whole strings."""

    substrings: tuple[str, ...]  # longest first
    whole: frozenset[str]  # case-folded
    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, values: Iterable[str | None]) -> Needles:
        cleaned = {v.strip() for v in values if v and v.strip() and v.strip() != ERASED}
        long = tuple(sorted((v for v in cleaned if len(v) >= MIN_SUBSTRING), key=len, reverse=True))
        pattern = re.compile("|".join(re.escape(v) for v in long), re.IGNORECASE) if long else None
        return cls(long, frozenset(v.casefold() for v in cleaned), pattern)

    def __bool__(self) -> bool:
        return bool(self.whole)


def scrub_text(text: str, needles: Needles) -> str:
    if text.strip().casefold() in needles.whole:
        return ERASED
    pattern = needles.pattern
    return pattern.sub(ERASED, text) if pattern is not None else text


def scrub_optional(text: str | None, needles: Needles) -> str | None:
    return None if text is None else scrub_text(text, needles)


def scrub_json(value: Any, needles: Needles, *, personal_keys: bool = False) -> Any:
    """A copy of ``value`` without the needles (and, with ``personal_keys``, without any
    string under a personal key). Keys, numbers, booleans and nulls stay."""
    if isinstance(value, str):
        return scrub_text(value, needles)
    if isinstance(value, list):
        return [scrub_json(item, needles, personal_keys=personal_keys) for item in value]
    if isinstance(value, dict):
        return {
            key: (
                _erase_strings(item)
                if personal_keys and key in PERSONAL_KEYS
                else scrub_json(item, needles, personal_keys=personal_keys)
            )
            for key, item in value.items()
        }
    return value


def strip_personal(value: Any) -> Any:
    """A PSP payload about an erased person, minus every string under a personal key."""
    return scrub_json(value, Needles.of([]), personal_keys=True)


def strings(value: Any) -> Iterator[str]:
    """Every string value inside JSON ``value``."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)


def _erase_strings(value: Any) -> Any:
    if isinstance(value, str):
        return ERASED if value else value
    if isinstance(value, list):
        return [_erase_strings(item) for item in value]
    if isinstance(value, dict):
        return {key: _erase_strings(item) for key, item in value.items()}
    return value


def mentions(value: Any, needles: Needles) -> bool:
    """Whether ``value`` (text or JSON) holds a needle."""
    return bool(scrub_json(value, needles) != value)
