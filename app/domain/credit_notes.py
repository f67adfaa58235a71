"""Credit notes: the vocabulary and the arithmetic of crediting an invoice's lines.

A credit note never edits its invoice: it credits part of what each line billed (its
discounted amount) and the same part of the line's tax. The tax a note credits is a share
of what is left of the line's tax, in the ratio of the amount credited to what is left of
the line's amount, rounded half to even: so the tax credited over all notes of a line never
exceeds the line's tax, and the note that credits the rest of a line credits the rest of
its tax, exactly ("the last note takes the rest"). A note of a total amount spreads it over
the lines in proportion to what is left of each (largest remainder: no minor unit lost).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

from app.domain.billing import round_half_even
from app.domain.money import allocate


class CreditNoteStatus(enum.Enum):
    ISSUED = "issued"
    VOID = "void"


class CreditNoteReason(enum.Enum):
    """Stripe's credit note reasons."""

    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    ORDER_CHANGE = "order_change"
    PRODUCT_UNSATISFACTORY = "product_unsatisfactory"


@dataclass(frozen=True, slots=True)
class Creditable:
    """What is left to credit of one invoice line: its amount (after discount), the
    exclusive tax added on it and the inclusive tax inside that amount."""

    amount: int
    tax: int
    tax_included: int

    @property
    def total(self) -> int:
        return self.amount + self.tax


@dataclass(frozen=True, slots=True)
class LineCredit:
    amount: int
    tax: int
    tax_included: int

    @property
    def total(self) -> int:
        return self.amount + self.tax


def _share(part: int, whole: int, of: int) -> int:
    return of if part == whole else round_half_even(Fraction(of * part, whole))


def credit_amount(left: Creditable, amount: int) -> LineCredit:
    """Credit ``amount`` (0 < amount <= left.amount) of a line and its share of the tax."""
    if not 0 < amount <= left.amount:
        raise ValueError("a line credits more than zero and at most what is left of it")
    return LineCredit(
        amount,
        _share(amount, left.amount, left.tax),
        _share(amount, left.amount, left.tax_included),
    )


def credit_total(left: Creditable, total: int) -> LineCredit:
    """Credit ``total`` (tax included, 0 <= total <= left.total) of a line: its amount is
    the amount's share of the total, its tax the rest."""
    if not 0 <= total <= left.total:
        raise ValueError("a line credits at most what is left of it")
    if total == 0:
        return LineCredit(0, 0, 0)
    amount = _share(total, left.total, left.amount)
    return LineCredit(amount, total - amount, _share(amount, left.amount, left.tax_included))


def spread(total: int, lines: list[Creditable]) -> list[LineCredit]:
    """A total (tax included) spread over lines by what is left of each."""
    weights = [line.total for line in lines]
    if total > sum(weights):
        raise ValueError("more than is left to credit")
    return [
        credit_total(line, part) for line, part in zip(lines, allocate(total, weights), strict=True)
    ]


def quantity_amount(line_amount: int, line_quantity: int, quantity: int) -> int:
    """The amount of ``quantity`` units of a line that billed ``line_amount`` for
    ``line_quantity`` units (half to even)."""
    return round_half_even(Fraction(line_amount * quantity, line_quantity))
