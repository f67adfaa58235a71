"""Usage-based pricing: meters' aggregations and the price models that turn a quantity
into money, exactly.

Quantities and unit amounts are exact (``Fraction``; unit amounts are decimals of minor
units, so 0.0025 USD per call is 0.25 cents): a line's amount is computed exactly and
rounded once, half to even, to the minor unit (never per unit or per tier). Tiers follow
Stripe's semantics:

- ``TIERED_GRADUATED``: each tier prices the units that fall into it; a tier's flat fee is
  charged when the quantity reaches into that tier;
- ``TIERED_VOLUME``: the tier the whole quantity falls into prices every unit, plus that
  tier's flat fee;
- ``PACKAGE``: the unit amount is the price of a package of ``package_size`` units, and
  a started package is paid in full (rounded up).

A quantity of zero costs nothing under every model.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from app.domain.errors import ErrorCode, Problems

MAX_TIERS = 20
MAX_PACKAGE_SIZE = 1_000_000_000
# Sub-minor unit amounts: up to 12 decimal places of a minor unit (as Stripe's
# ``unit_amount_decimal``), and below 10^15 minor units.
UNIT_DECIMAL_PLACES = 12
_DECIMAL = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,18})?")


class Aggregation(enum.Enum):
    """How a meter turns a period's events into one quantity."""

    COUNT = "count"  # the number of events
    SUM = "sum"  # the sum of their values
    MAX = "max"  # the largest value
    UNIQUE_COUNT = "unique_count"  # the number of distinct values of a property
    LATEST = "latest"  # the value of the last event of the period
    # Values are changes (+3 seats, -1 seat) of a running total that carries over from one
    # period to the next; the quantity is that total's time-weighted average over the
    # period (5 seats for the first half of a month and 10 for the second: 7.5).
    WEIGHTED_SUM = "weighted_sum"


NUMERIC = frozenset(
    {Aggregation.SUM, Aggregation.MAX, Aggregation.LATEST, Aggregation.WEIGHTED_SUM}
)


class PriceModel(enum.Enum):
    PER_UNIT = "per_unit"
    TIERED_GRADUATED = "tiered_graduated"
    TIERED_VOLUME = "tiered_volume"
    PACKAGE = "package"


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: int | None  # the last unit of the tier, inclusive; None: every unit above
    unit_amount: Fraction  # minor units per unit, exact
    flat_amount_minor: int = 0


@dataclass(frozen=True, slots=True)
class PriceScheme:
    model: PriceModel
    unit_amount: Fraction  # minor units per unit (PER_UNIT) or per package (PACKAGE)
    tiers: tuple[Tier, ...] = ()
    package_size: int | None = None


def exact_amount(scheme: PriceScheme, quantity: Fraction) -> Fraction:
    """What ``quantity`` units cost, in minor units, before rounding."""
    if quantity < 0:
        raise ValueError("a negative quantity has no price")
    if quantity == 0:
        return Fraction(0)
    if scheme.model is PriceModel.PER_UNIT:
        return quantity * scheme.unit_amount
    if scheme.model is PriceModel.PACKAGE:
        assert scheme.package_size is not None
        return math.ceil(quantity / scheme.package_size) * scheme.unit_amount
    if scheme.model is PriceModel.TIERED_VOLUME:
        tier = next(t for t in scheme.tiers if t.up_to is None or quantity <= t.up_to)
        return quantity * tier.unit_amount + tier.flat_amount_minor
    total, below = Fraction(0), 0
    for tier in scheme.tiers:
        if quantity <= below:
            break
        top = quantity if tier.up_to is None else min(quantity, Fraction(tier.up_to))
        total += (top - below) * tier.unit_amount + tier.flat_amount_minor
        if tier.up_to is None:
            break
        below = tier.up_to
    return total


def line_amount(scheme: PriceScheme, quantity: Fraction) -> int:
    """The amount of one invoice line: exact, then rounded once, half to even."""
    return round(exact_amount(scheme, quantity))


def parse_unit_amount(problems: Problems, text: str, exponent: int, *field: str) -> Fraction | None:
    """A decimal amount of major units (``"0.0025"`` USD) as an exact fraction of minor
    units, at most ``UNIT_DECIMAL_PLACES`` places below the minor unit."""
    if not _DECIMAL.fullmatch(text.strip()):
        problems.add(ErrorCode.INVALID_AMOUNT, "Give a non-negative decimal, e.g. 0.0025.", *field)
        return None
    try:
        value = Decimal(text.strip()).scaleb(exponent)
    except InvalidOperation:  # pragma: no cover - the pattern admits decimals only
        problems.add(ErrorCode.INVALID_AMOUNT, "Give a non-negative decimal.", *field)
        return None
    exponent_of_value = value.as_tuple().exponent
    assert isinstance(exponent_of_value, int)
    if -exponent_of_value > UNIT_DECIMAL_PLACES and value != value.quantize(
        Decimal(1).scaleb(-UNIT_DECIMAL_PLACES)
    ):
        problems.add(
            ErrorCode.AMOUNT_TOO_PRECISE,
            f"At most {UNIT_DECIMAL_PLACES} decimal places below the currency's minor unit.",
            *field,
        )
        return None
    if value >= Decimal(10) ** 15:
        problems.add(ErrorCode.AMOUNT_OUT_OF_RANGE, "The unit amount is too large.", *field)
        return None
    return Fraction(value)


def decimal_text(value: Fraction) -> str:
    """A fraction with a finite decimal expansion (a unit amount) as plain decimal text."""
    decimal = Decimal(value.numerator) / Decimal(value.denominator)
    text = format(decimal.normalize(), "f")
    return text


def check_tiers(problems: Problems, tiers: Sequence[Tier], *field: str) -> None:
    """Tiers rise strictly, the last one has no upper bound."""
    if not 1 <= len(tiers) <= MAX_TIERS:
        problems.add(ErrorCode.INVALID, f"Give 1 to {MAX_TIERS} tiers.", *field)
        return
    previous = 0
    for index, tier in enumerate(tiers):
        last = index == len(tiers) - 1
        where = (*field, str(index), "upTo")
        if last and tier.up_to is not None:
            problems.add(ErrorCode.INVALID, "The last tier has no upper bound (null).", *where)
        elif not last and tier.up_to is None:
            problems.add(ErrorCode.INVALID, "Only the last tier has no upper bound.", *where)
        elif tier.up_to is not None and tier.up_to <= previous:
            problems.add(ErrorCode.INVALID, "Tiers' upper bounds rise strictly from 1.", *where)
        if tier.flat_amount_minor < 0:
            problems.add(
                ErrorCode.NEGATIVE_AMOUNT,
                "A flat amount is not negative.",
                *field,
                str(index),
                "flatAmount",
            )
        previous = tier.up_to if tier.up_to is not None else previous


@dataclass(frozen=True, slots=True)
class Reading:
    """What a meter measured over part of a period, in a form that merges exactly (the
    hours of the roll-up table, and the raw events of the hours a period cuts)."""

    count: int = 0
    total: Fraction = Fraction(0)
    maximum: Fraction | None = None
    latest: tuple[datetime, str, Fraction] | None = None  # (time, tie-break key, value)
    weighted: Fraction = Fraction(0)  # sum of value x epoch seconds

    def merge(self, other: Reading) -> Reading:
        maxima = [m for m in (self.maximum, other.maximum) if m is not None]
        latests = [x for x in (self.latest, other.latest) if x is not None]
        return Reading(
            count=self.count + other.count,
            total=self.total + other.total,
            maximum=max(maxima) if maxima else None,
            latest=max(latests, key=lambda x: (x[0], x[1])) if latests else None,
            weighted=self.weighted + other.weighted,
        )


def quantity_of(
    aggregation: Aggregation,
    reading: Reading,
    *,
    distinct: int = 0,
    carried: Fraction = Fraction(0),
    start_epoch: Fraction = Fraction(0),
    end_epoch: Fraction = Fraction(1),
) -> Fraction:
    """The period's quantity. ``carried`` is the running total before the period (for
    ``WEIGHTED_SUM``); epochs are the period's bounds in seconds."""
    if aggregation is Aggregation.COUNT:
        return Fraction(reading.count)
    if aggregation is Aggregation.SUM:
        return reading.total
    if aggregation is Aggregation.MAX:
        return reading.maximum if reading.maximum is not None else Fraction(0)
    if aggregation is Aggregation.LATEST:
        return reading.latest[2] if reading.latest is not None else Fraction(0)
    if aggregation is Aggregation.UNIQUE_COUNT:
        return Fraction(distinct)
    length = end_epoch - start_epoch
    # integral of the running total = carried x length + sum of value x (end - t)
    integral = carried * length + reading.total * end_epoch - reading.weighted
    return integral / length


def quantity_text(quantity: Fraction) -> str:
    """A quantity as decimal text: exact when it has a finite expansion within 12 places
    (counts, sums), else rounded to 12 places, half to even (a time-weighted average)."""
    scaled = round(quantity * 10**12)
    whole, part = divmod(abs(scaled), 10**12)
    text = f"{whole}.{part:012d}".rstrip("0").rstrip(".")
    return "-" + text if scaled < 0 else text
