"""Billing arithmetic: periods from the anchor, exact proration (property-based)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from app.domain.billing import (
    RecurringInterval,
    invoice_discount,
    line_totals,
    period_at,
    period_boundary,
    prorate,
    remaining_share,
)
from app.domain.money import allocate

UTC_TIMES = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
AMOUNTS = st.integers(min_value=0, max_value=10**12)


def test_month_end_anchors_do_not_drift() -> None:
    anchor = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    ends = [period_boundary(anchor, RecurringInterval.MONTH, 1, n).date() for n in range(1, 5)]
    assert [str(d) for d in ends] == ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]
    leap = datetime(2024, 2, 29, tzinfo=UTC)
    assert period_boundary(leap, RecurringInterval.YEAR, 1, 1).date().isoformat() == "2025-02-28"
    assert period_boundary(leap, RecurringInterval.YEAR, 1, 4).date().isoformat() == "2028-02-29"


@given(
    anchor=UTC_TIMES,
    interval=st.sampled_from(list(RecurringInterval)),
    count=st.integers(min_value=1, max_value=3),
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3000)),
)
def test_every_moment_falls_in_exactly_one_period(
    anchor: datetime, interval: RecurringInterval, count: int, offset: timedelta
) -> None:
    moment = anchor + offset
    period = period_at(anchor, interval, count, moment)
    assert period.start <= moment < period.end
    assert period.start == period_boundary(anchor, interval, count, period.index)
    assert period.end == period_boundary(anchor, interval, count, period.index + 1)


@given(
    old=AMOUNTS,
    new=AMOUNTS,
    start=UTC_TIMES,
    length=st.integers(min_value=1, max_value=366 * 86400),
    elapsed=st.integers(min_value=0, max_value=366 * 86400),
)
def test_proration_is_exact_for_the_remaining_time(
    old: int, new: int, start: datetime, length: int, elapsed: int
) -> None:
    end = start + timedelta(seconds=length)
    share = remaining_share(start, end, start + timedelta(seconds=min(elapsed, length)))
    result = prorate(old, new, share)
    assert result.net == round(share * (new - old))  # credit + debit: the exact difference
    assert abs(result.debit - share * new) <= Fraction(1, 2)
    assert abs(-result.credit - share * old) <= 1  # within a minor unit of the unused part


def test_proration_examples() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    end = datetime(2026, 3, 31, tzinfo=UTC)  # 30 days
    halfway = remaining_share(start, end, start + timedelta(days=15))
    assert halfway == Fraction(1, 2)
    upgrade = prorate(1000, 3000, halfway)
    assert (upgrade.credit, upgrade.debit, upgrade.net) == (-500, 1500, 1000)
    assert remaining_share(start, end, end + timedelta(days=1)) == 0


@given(
    total=st.integers(min_value=-(10**15), max_value=10**15),
    weights=st.lists(st.integers(min_value=1, max_value=10**4), min_size=1, max_size=20),
)
def test_splitting_an_invoice_never_loses_a_minor_unit(total: int, weights: list[int]) -> None:
    assert sum(allocate(total, weights)) == total


@given(
    amounts=st.lists(st.integers(min_value=-(10**9), max_value=10**9), min_size=1, max_size=15),
    percent=st.integers(min_value=0, max_value=10_000),
    tax_bp=st.integers(min_value=0, max_value=5_000),
    inclusive=st.booleans(),
)
def test_invoice_totals_add_up_exactly(
    amounts: list[int], percent: int, tax_bp: int, inclusive: bool
) -> None:
    subtotal = sum(amounts)
    discount = invoice_discount(subtotal, percent_bp=percent, amount_off=None)
    lines = line_totals(amounts, discount, tax_bp=tax_bp, inclusive=inclusive)
    assert sum(line.discount for line in lines) == discount  # no minor unit lost
    assert 0 <= discount <= max(subtotal, 0)
    assert all(0 <= line.discount <= max(line.amount, 0) for line in lines)
    tax = sum(line.tax for line in lines)
    total = subtotal - discount + tax
    assert total == sum(line.amount - line.discount + line.tax for line in lines)
    if inclusive:
        assert tax == 0
    for line in lines:  # per-line rounding: within half a minor unit of the exact tax
        exact = Fraction((line.amount - line.discount) * tax_bp, 10_000)
        if not inclusive:
            assert abs(line.tax - exact) <= Fraction(1, 2)


def test_tax_and_discount_examples() -> None:
    assert invoice_discount(1999, percent_bp=2500, amount_off=None) == 500  # 499.75 -> 500
    assert invoice_discount(1000, percent_bp=None, amount_off=5000) == 1000
    [line] = line_totals([10000], 0, tax_bp=1900, inclusive=True)
    assert line.tax_included == 1597  # 100.00 incl. 19 %: 84.03 net + 15.97 tax
    [line] = line_totals([10000], 1000, tax_bp=1900, inclusive=False)
    assert (line.discount, line.tax) == (1000, 1710)
