"""Money: an integer of minor units plus an ISO 4217 currency.

Never floats, never ``* 100``: the number of decimal places comes from the ISO 4217
table (JPY 0, USD 2, KWD 3). Amounts must fit a signed 64-bit integer, the column type
that stores them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberPattern, parse_pattern

from app.domain.currencies import get_currency
from app.domain.errors import ErrorCode, Problem, UserInputError

MIN_MINOR = -(2**63)
MAX_MINOR = 2**63 - 1
_AMOUNT = re.compile(r"(-)?([0-9]+)(?:\.([0-9]+))?")
_MAX_AMOUNT_CHARS = 40


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of one currency, in minor units (cents for USD, yen for JPY)."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount_minor) is not int:
            raise TypeError("amount_minor must be an int")
        if not MIN_MINOR <= self.amount_minor <= MAX_MINOR:
            raise ValueError("amount does not fit in 64 bits")
        if get_currency(self.currency) is None:
            raise ValueError(f"unknown currency {self.currency!r}")

    @property
    def exponent(self) -> int:
        """Decimal places of the currency (ISO 4217 minor units)."""
        return exponent_of(self.currency)

    def to_decimal(self) -> Decimal:
        """The exact decimal value in major units, with the currency's number of places."""
        return Decimal(self.amount_minor).scaleb(-self.exponent)

    def decimal_string(self) -> str:
        """``"12.30"`` for 1230 USD, ``"1200"`` for 1200 JPY, ``"-0.005"`` for -5 KWD."""
        return f"{self.to_decimal():.{self.exponent}f}"

    def formatted(self, locale: str = "en-US") -> str:
        """The amount as a person reads it in ``locale`` (``"$12.30"``, ``"12,30 €"``)."""
        pattern = _currency_pattern(locale, self.exponent)
        return str(pattern.apply(self.to_decimal(), pattern_locale(locale), currency=self.currency))

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split into parts proportional to ``weights`` without losing a minor unit."""
        return [Money(part, self.currency) for part in allocate(self.amount_minor, weights)]


def exponent_of(currency: str) -> int:
    found = get_currency(currency)
    if found is None:
        raise ValueError(f"unknown currency {currency!r}")
    return found.minor_units


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Largest-remainder split of ``total`` by non-negative integer ``weights``.

    The parts always sum to ``total``; ties in the remainder go to the earlier part.
    """
    if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
        raise ValueError("weights must be non-negative with a positive sum")
    sign, magnitude, weight_sum = (-1 if total < 0 else 1), abs(total), sum(weights)
    parts = [magnitude * w // weight_sum for w in weights]
    remainders = [magnitude * w % weight_sum for w in weights]
    short = magnitude - sum(parts)
    for index in sorted(range(len(weights)), key=lambda i: -remainders[i])[:short]:
        parts[index] += 1
    return [sign * part for part in parts]


def parse_money(
    amount: str,
    currency: str,
    *,
    allow_negative: bool = False,
    field: tuple[str, ...] = (),
) -> Money:
    """Parse a decimal string such as ``"12.30"`` into :class:`Money`, exactly.

    Raises :class:`UserInputError` for an unknown currency, a string that is not a plain
    decimal number, more decimal places than the currency has, a negative amount (unless
    allowed) or an amount beyond 64 bits of minor units.
    """
    if get_currency(currency) is None:
        raise UserInputError(
            Problem(
                ErrorCode.UNKNOWN_CURRENCY,
                f"{currency!r} is not an active ISO 4217 currency code (e.g. USD, EUR, JPY).",
                (*field, "currency"),
            )
        )
    at = (*field, "amount")
    match = _AMOUNT.fullmatch(amount) if len(amount) <= _MAX_AMOUNT_CHARS else None
    if match is None:
        raise UserInputError(
            Problem(
                ErrorCode.INVALID_AMOUNT,
                'Amount must be a decimal string such as "12.30", without exponent, '
                "spaces or thousands separators.",
                at,
            )
        )
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    exponent = exponent_of(currency)
    if len(fraction) > exponent:
        raise UserInputError(
            Problem(
                ErrorCode.AMOUNT_TOO_PRECISE,
                f"{currency} has {exponent} decimal places; {amount!r} has {len(fraction)}.",
                at,
            )
        )
    minor = int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
    if sign:
        minor = -minor
    if minor < 0 and not allow_negative:
        raise UserInputError(Problem(ErrorCode.NEGATIVE_AMOUNT, "Amount must not be negative.", at))
    if not MIN_MINOR <= minor <= MAX_MINOR:
        raise UserInputError(
            Problem(
                ErrorCode.AMOUNT_OUT_OF_RANGE,
                "Amount is too large: in minor units it must fit in a signed 64-bit integer.",
                at,
            )
        )
    return Money(minor, currency)


@lru_cache(maxsize=256)
def pattern_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en_US")


@lru_cache(maxsize=1024)
def _currency_pattern(locale: str, exponent: int) -> NumberPattern:
    pattern = copy.copy(parse_pattern(pattern_locale(locale).currency_formats["standard"]))
    pattern.frac_prec = (exponent, exponent)
    return pattern
