"""Usage prices in the domain (``app/domain/metering.py``), without a database: worked
examples of every price model, exact amounts rounded once per line (half to even), tiers
checked, unit amounts parsed below the minor unit, quantities read and written exactly.
Property-based where a reference is easy to state (hypothesis)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import ErrorCode, Problems
from app.domain.metering import (
    MAX_TIERS,
    Aggregation,
    PriceModel,
    PriceScheme,
    Reading,
    Tier,
    check_tiers,
    decimal_text,
    exact_amount,
    line_amount,
    parse_unit_amount,
    quantity_of,
    quantity_text,
)

EXAMPLES = settings(max_examples=200, deadline=None)


def per_unit(unit_amount: Fraction) -> PriceScheme:
    return PriceScheme(PriceModel.PER_UNIT, unit_amount)


def tiered(model: PriceModel, *tiers: Tier) -> PriceScheme:
    return PriceScheme(model, Fraction(0), tiers)


def package(price_minor: int, size: int) -> PriceScheme:
    return PriceScheme(PriceModel.PACKAGE, Fraction(price_minor), package_size=size)


# 1,000 free, then 1 cent a unit (and a 5.00 fee on entering the tier), then a quarter cent.
GRADUATED = tiered(
    PriceModel.TIERED_GRADUATED,
    Tier(1000, Fraction(0)),
    Tier(100_000, Fraction(1), 500),
    Tier(None, Fraction(1, 4)),
)
# Every unit at the price of the tier the whole quantity reaches, plus that tier's fee.
VOLUME = tiered(
    PriceModel.TIERED_VOLUME,
    Tier(10, Fraction(100)),
    Tier(100, Fraction(80), 50),
    Tier(None, Fraction(50), 100),
)


# --- worked examples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "exact", "line"),
    [
        (1, Fraction(1, 4), 0),
        (2, Fraction(1, 2), 0),  # half to even: 0.5 -> 0
        (3, Fraction(3, 4), 1),
        (6, Fraction(3, 2), 2),  # half to even: 1.5 -> 2
        (10, Fraction(5, 2), 2),  # half to even: 2.5 -> 2
        (14, Fraction(7, 2), 4),
        (1_000_000, Fraction(250_000), 250_000),
    ],
)
def test_per_unit_below_the_minor_unit_rounds_once_per_line(
    quantity: int, exact: Fraction, line: int
) -> None:
    scheme = per_unit(Fraction(1, 4))  # 0.0025 USD: a quarter of a cent per unit
    assert exact_amount(scheme, Fraction(quantity)) == exact
    assert line_amount(scheme, Fraction(quantity)) == line


def test_per_unit_is_rounded_once_not_per_unit() -> None:
    """1,000 units at 0.4 of a cent: 400 cents (rounding each unit would make it 0)."""
    scheme = per_unit(Fraction(2, 5))
    assert line_amount(scheme, Fraction(1000)) == 400
    assert line_amount(scheme, Fraction(1)) == 0


@pytest.mark.parametrize(
    ("quantity", "exact"),
    [
        (1, Fraction(0)),
        (1000, Fraction(0)),  # still the free tier: the 5.00 fee is not due yet
        (1001, Fraction(1 + 500)),  # the first unit of tier 2 brings its flat fee
        (1500, Fraction(500 + 500)),
        (100_000, Fraction(99_000 + 500)),
        (100_001, Fraction(99_000 + 500) + Fraction(1, 4)),
        (100_004, Fraction(99_000 + 500 + 1)),
        (Fraction(2001, 2), Fraction(1, 2) + 500),  # a fractional quantity (an average)
    ],
)
def test_tiered_graduated_prices_each_tier_and_its_flat_fee(
    quantity: int | Fraction, exact: Fraction
) -> None:
    assert exact_amount(GRADUATED, Fraction(quantity)) == exact


def test_tiered_graduated_rounds_the_line_not_the_tiers() -> None:
    # 99,500 + 0.25 + 0.25: each tier rounded would give 99,500; the line gives 99,500.5 ->
    # 99,500 (half to even), and one more unit 99,500.75 -> 99,501.
    assert line_amount(GRADUATED, Fraction(100_002)) == 99_500
    assert line_amount(GRADUATED, Fraction(100_003)) == 99_501


def test_tiered_graduated_flat_fee_of_the_first_tier() -> None:
    scheme = tiered(
        PriceModel.TIERED_GRADUATED, Tier(5, Fraction(10), 100), Tier(None, Fraction(1), 7)
    )
    assert exact_amount(scheme, Fraction(1)) == 110
    assert exact_amount(scheme, Fraction(5)) == 150
    assert exact_amount(scheme, Fraction(6)) == 150 + 1 + 7


@pytest.mark.parametrize(
    ("quantity", "exact"),
    [
        (1, Fraction(100)),
        (10, Fraction(1000)),
        (11, Fraction(11 * 80 + 50)),  # every unit at the second tier's price
        (100, Fraction(100 * 80 + 50)),
        (101, Fraction(101 * 50 + 100)),
        (Fraction(21, 2), Fraction(21 * 40 + 50)),  # 10.5 is above 10: the second tier
    ],
)
def test_tiered_volume_prices_every_unit_at_one_tier(
    quantity: int | Fraction, exact: Fraction
) -> None:
    assert exact_amount(VOLUME, Fraction(quantity)) == exact


def test_tiered_volume_may_cost_less_for_more() -> None:
    """Volume pricing (as Stripe's) is not monotone: 11 units cost less than 10 when the
    second tier's unit amount is lower. What the model means, not a bug."""
    assert line_amount(VOLUME, Fraction(11)) < line_amount(VOLUME, Fraction(10))


@pytest.mark.parametrize(
    ("quantity", "line"),
    [
        (1, 500),  # a started package is paid in full
        (99, 500),
        (100, 500),
        (101, 1000),
        (250, 1500),
        (Fraction(201, 2), 1000),  # 100.5 units: two packages
    ],
)
def test_package_rounds_started_packages_up(quantity: int | Fraction, line: int) -> None:
    assert line_amount(package(500, 100), Fraction(quantity)) == line


def test_package_below_the_minor_unit() -> None:
    """A package of 1,000 units at 0.5 cents: three packages are 1.5 -> 2 (half to even)."""
    scheme = PriceScheme(PriceModel.PACKAGE, Fraction(1, 2), package_size=1000)
    assert exact_amount(scheme, Fraction(2500)) == Fraction(3, 2)
    assert line_amount(scheme, Fraction(2500)) == 2


@pytest.mark.parametrize(
    "scheme",
    [
        per_unit(Fraction(1, 4)),
        per_unit(Fraction(1000)),
        GRADUATED,
        VOLUME,
        # flat fees on the first tier are not charged for nothing
        tiered(PriceModel.TIERED_GRADUATED, Tier(None, Fraction(1), 900)),
        tiered(PriceModel.TIERED_VOLUME, Tier(None, Fraction(1), 900)),
        package(500, 100),
    ],
    ids=[
        "per-unit-quarter",
        "per-unit",
        "graduated",
        "volume",
        "graduated-fee",
        "volume-fee",
        "package",
    ],
)
def test_zero_quantity_costs_nothing(scheme: PriceScheme) -> None:
    assert exact_amount(scheme, Fraction(0)) == 0
    assert line_amount(scheme, Fraction(0)) == 0


def test_a_negative_quantity_has_no_price() -> None:
    with pytest.raises(ValueError, match="negative"):
        exact_amount(per_unit(Fraction(1)), Fraction(-1))


# --- properties -----------------------------------------------------------------------------

unit_amounts = st.builds(
    Fraction, st.integers(min_value=0, max_value=10_000), st.sampled_from([1, 2, 4, 100, 10**12])
)
flat_amounts = st.integers(min_value=0, max_value=100_000)


@st.composite
def tier_lists(draw: st.DrawFn, *, rising: bool = False) -> tuple[Tier, ...]:
    """1 to 5 valid tiers with bounds up to 4,000 and non-negative amounts (``rising``:
    unit and flat amounts that do not fall from one tier to the next)."""
    count = draw(st.integers(min_value=1, max_value=5))
    bounds = sorted(
        draw(
            st.sets(
                st.integers(min_value=1, max_value=4000), min_size=count - 1, max_size=count - 1
            )
        )
    )
    units = [draw(unit_amounts) for _ in range(count)]
    flats = [draw(flat_amounts) for _ in range(count)]
    if rising:
        units, flats = sorted(units), sorted(flats)
    uppers: list[int | None] = [*bounds, None]
    return tuple(Tier(u, a, f) for u, a, f in zip(uppers, units, flats, strict=True))


def graduated_reference(tiers: tuple[Tier, ...], quantity: int) -> Fraction:
    """Unit by unit: each unit at the price of the tier it falls into, each tier's flat fee
    once when at least one unit falls into it."""
    total = Fraction(0)
    entered: set[int] = set()
    for unit in range(1, quantity + 1):
        index = next(i for i, t in enumerate(tiers) if t.up_to is None or unit <= t.up_to)
        total += tiers[index].unit_amount
        entered.add(index)
    return total + sum(tiers[i].flat_amount_minor for i in entered)


@EXAMPLES
@given(tiers=tier_lists(), quantity=st.integers(min_value=0, max_value=5000))
def test_graduated_equals_the_unit_by_unit_sum(tiers: tuple[Tier, ...], quantity: int) -> None:
    scheme = tiered(PriceModel.TIERED_GRADUATED, *tiers)
    assert exact_amount(scheme, Fraction(quantity)) == graduated_reference(tiers, quantity)


@EXAMPLES
@given(
    tiers=tier_lists(),
    quantities=st.lists(st.integers(min_value=0, max_value=6000), min_size=2, max_size=6),
)
def test_graduated_is_monotone(tiers: tuple[Tier, ...], quantities: list[int]) -> None:
    scheme = tiered(PriceModel.TIERED_GRADUATED, *tiers)
    amounts = [exact_amount(scheme, Fraction(q)) for q in sorted(quantities)]
    assert amounts == sorted(amounts)
    lines = [line_amount(scheme, Fraction(q)) for q in sorted(quantities)]
    assert lines == sorted(lines)


@EXAMPLES
@given(
    tiers=tier_lists(rising=True),
    quantities=st.lists(st.integers(min_value=0, max_value=6000), min_size=2, max_size=6),
)
def test_volume_is_monotone_when_tiers_do_not_get_cheaper(
    tiers: tuple[Tier, ...], quantities: list[int]
) -> None:
    """Non-negative amounts alone do not make volume pricing monotone (a cheaper higher tier
    is a volume discount: ``test_tiered_volume_may_cost_less_for_more``); amounts that do not
    fall from tier to tier do."""
    scheme = tiered(PriceModel.TIERED_VOLUME, *tiers)
    amounts = [exact_amount(scheme, Fraction(q)) for q in sorted(quantities)]
    assert amounts == sorted(amounts)


@EXAMPLES
@given(tiers=tier_lists(), low=st.integers(0, 6000), high=st.integers(0, 6000))
def test_volume_is_monotone_within_a_tier(tiers: tuple[Tier, ...], low: int, high: int) -> None:
    low, high = sorted((low, high))
    scheme = tiered(PriceModel.TIERED_VOLUME, *tiers)

    def tier_of(quantity: int) -> int:
        return next(i for i, t in enumerate(tiers) if t.up_to is None or quantity <= t.up_to)

    if low > 0 and tier_of(low) == tier_of(high):
        assert exact_amount(scheme, Fraction(low)) <= exact_amount(scheme, Fraction(high))


schemes = st.one_of(
    st.builds(per_unit, unit_amounts),
    st.builds(lambda t: tiered(PriceModel.TIERED_GRADUATED, *t), tier_lists()),
    st.builds(lambda t: tiered(PriceModel.TIERED_VOLUME, *t), tier_lists()),
    st.builds(
        lambda a, n: PriceScheme(PriceModel.PACKAGE, a, package_size=n),
        unit_amounts,
        st.integers(min_value=1, max_value=1000),
    ),
)
quantities = st.builds(
    Fraction, st.integers(min_value=0, max_value=10**7), st.sampled_from([1, 2, 3, 7, 10**6])
)


@EXAMPLES
@given(scheme=schemes, quantity=quantities)
def test_a_line_is_its_exact_amount_rounded_half_to_even(
    scheme: PriceScheme, quantity: Fraction
) -> None:
    exact = exact_amount(scheme, quantity)
    line = line_amount(scheme, quantity)
    assert isinstance(line, int)
    assert abs(line - exact) <= Fraction(1, 2)
    if exact - int(exact) == Fraction(1, 2):  # a tie: the even neighbour
        assert line % 2 == 0


# --- tiers checked ----------------------------------------------------------------------------


def _codes(tiers: list[Tier]) -> list[tuple[ErrorCode, tuple[str, ...]]]:
    problems = Problems()
    check_tiers(problems, tiers, "tiers")
    return [(p.code, p.field) for p in problems.items]


def test_valid_tiers_pass() -> None:
    assert _codes(list(GRADUATED.tiers)) == []
    assert _codes([Tier(None, Fraction(0))]) == []


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        (  # the last tier must have no upper bound
            [Tier(10, Fraction(1)), Tier(20, Fraction(1))],
            [(ErrorCode.INVALID, ("tiers", "1", "upTo"))],
        ),
        (  # only the last one
            [Tier(None, Fraction(1)), Tier(None, Fraction(1))],
            [(ErrorCode.INVALID, ("tiers", "0", "upTo"))],
        ),
        (  # bounds rise strictly
            [Tier(10, Fraction(1)), Tier(10, Fraction(1)), Tier(None, Fraction(1))],
            [(ErrorCode.INVALID, ("tiers", "1", "upTo"))],
        ),
        (
            [Tier(10, Fraction(1)), Tier(5, Fraction(1)), Tier(None, Fraction(1))],
            [(ErrorCode.INVALID, ("tiers", "1", "upTo"))],
        ),
        (  # ... from 1
            [Tier(0, Fraction(1)), Tier(None, Fraction(1))],
            [(ErrorCode.INVALID, ("tiers", "0", "upTo"))],
        ),
        (
            [Tier(10, Fraction(1), -1), Tier(None, Fraction(1))],
            [(ErrorCode.NEGATIVE_AMOUNT, ("tiers", "0", "flatAmount"))],
        ),
        (  # every problem at once
            [Tier(10, Fraction(1)), Tier(20, Fraction(1), -5)],
            [
                (ErrorCode.INVALID, ("tiers", "1", "upTo")),
                (ErrorCode.NEGATIVE_AMOUNT, ("tiers", "1", "flatAmount")),
            ],
        ),
        ([], [(ErrorCode.INVALID, ("tiers",))]),
        (
            [*(Tier(n, Fraction(1)) for n in range(1, MAX_TIERS + 1)), Tier(None, Fraction(1))],
            [(ErrorCode.INVALID, ("tiers",))],
        ),
    ],
    ids=[
        "last-bounded",
        "unbounded-early",
        "equal-bounds",
        "falling-bounds",
        "zero-bound",
        "negative-flat",
        "several",
        "none",
        "too-many",
    ],
)
def test_tiers_refused(
    tiers: list[Tier], expected: list[tuple[ErrorCode, tuple[str, ...]]]
) -> None:
    assert _codes(tiers) == expected


def test_twenty_tiers_are_allowed() -> None:
    tiers = [*(Tier(n, Fraction(1)) for n in range(1, MAX_TIERS)), Tier(None, Fraction(1))]
    assert len(tiers) == MAX_TIERS
    assert _codes(tiers) == []


# --- unit amounts parsed ----------------------------------------------------------------------


def _parse(text: str, exponent: int = 2) -> tuple[Fraction | None, list[ErrorCode]]:
    problems = Problems()
    value = parse_unit_amount(problems, text, exponent, "unitAmount")
    assert (value is None) == bool(problems)
    return value, [p.code for p in problems.items]


@pytest.mark.parametrize(
    ("text", "exponent", "minor"),
    [
        ("0.0025", 2, Fraction(1, 4)),  # a quarter of a cent
        ("0.01", 2, Fraction(1)),
        ("29", 2, Fraction(2900)),
        (" 1.5 ", 2, Fraction(150)),
        ("0", 2, Fraction(0)),
        ("0.00000000000001", 2, Fraction(1, 10**12)),  # 12 places below the cent
        ("0.250000000000000000", 2, Fraction(25)),  # trailing zeros are not precision
        ("0.000000000001", 0, Fraction(1, 10**12)),  # JPY: 12 places below the yen
        ("0.000000000000001", 3, Fraction(1, 10**12)),  # KWD: three-place minor units
        ("9999999999999.99", 2, Fraction(10**15 - 1)),
    ],
)
def test_unit_amounts_parsed_exactly(text: str, exponent: int, minor: Fraction) -> None:
    assert _parse(text, exponent) == (minor, [])


@pytest.mark.parametrize(
    ("text", "exponent", "code"),
    [
        ("0.000000000000001", 2, ErrorCode.AMOUNT_TOO_PRECISE),  # 13 places below the cent
        ("0.0000000000001", 0, ErrorCode.AMOUNT_TOO_PRECISE),
        ("1.0000000000000001", 2, ErrorCode.AMOUNT_TOO_PRECISE),
        ("10000000000000", 2, ErrorCode.AMOUNT_OUT_OF_RANGE),  # 10^15 minor units
        ("abc", 2, ErrorCode.INVALID_AMOUNT),
        ("", 2, ErrorCode.INVALID_AMOUNT),
        ("-1", 2, ErrorCode.INVALID_AMOUNT),
        ("1e3", 2, ErrorCode.INVALID_AMOUNT),
        ("1,5", 2, ErrorCode.INVALID_AMOUNT),
        (".5", 2, ErrorCode.INVALID_AMOUNT),
        ("1.", 2, ErrorCode.INVALID_AMOUNT),
        ("NaN", 2, ErrorCode.INVALID_AMOUNT),
        ("Infinity", 2, ErrorCode.INVALID_AMOUNT),
        ("0x10", 2, ErrorCode.INVALID_AMOUNT),
        ("1 000", 2, ErrorCode.INVALID_AMOUNT),
    ],
)
def test_unit_amounts_refused(text: str, exponent: int, code: ErrorCode) -> None:
    assert _parse(text, exponent) == (None, [code])


@EXAMPLES
@given(
    units=st.integers(min_value=0, max_value=10**12),
    places=st.integers(min_value=0, max_value=18),
    exponent=st.sampled_from([0, 2, 3]),
)
def test_unit_amounts_are_exact_or_refused(units: int, places: int, exponent: int) -> None:
    """``units / 10^places`` major units: parsed to exactly that many minor units, unless it
    goes more than 12 places below the minor unit (or reaches 10^15 minor units)."""
    text = str(units) if places == 0 else f"{units // 10**places}.{units % 10**places:0{places}d}"
    exact = Fraction(units, 10**places) * 10**exponent
    value, codes = _parse(text, exponent)
    if (exact * 10**12).denominator != 1:
        assert codes == [ErrorCode.AMOUNT_TOO_PRECISE]
    elif exact >= 10**15:
        assert codes == [ErrorCode.AMOUNT_OUT_OF_RANGE]
    else:
        assert (value, codes) == (exact, [])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(1, 4), "0.25"),
        (Fraction(100), "100"),
        (Fraction(0), "0"),
        (Fraction(1, 10**12), "0.000000000001"),
    ],
)
def test_decimal_text(value: Fraction, text: str) -> None:
    assert decimal_text(value) == text


# --- quantities -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "text"),
    [
        (Fraction(0), "0"),
        (Fraction(1300), "1300"),
        (Fraction(10), "10"),
        (Fraction(15, 2), "7.5"),
        (Fraction(1, 4), "0.25"),
        (Fraction(-3, 2), "-1.5"),
        (Fraction(1, 10**12), "0.000000000001"),
        (Fraction(10**18 - 1), "999999999999999999"),  # exact, never through a float
        (Fraction(10**17 + 1, 10), "10000000000000000.1"),
        (Fraction(1, 3), "0.333333333333"),  # no finite expansion: 12 places
        (Fraction(2, 3), "0.666666666667"),
        (Fraction(-1, 3), "-0.333333333333"),
    ],
)
def test_quantity_text(quantity: Fraction, text: str) -> None:
    assert quantity_text(quantity) == text


@EXAMPLES
@given(units=st.integers(min_value=-(10**18), max_value=10**18), places=st.integers(0, 12))
def test_quantity_text_is_exact_to_twelve_places(units: int, places: int) -> None:
    quantity = Fraction(units, 10**places)
    text = quantity_text(quantity)
    assert Fraction(text) == quantity
    assert not text.endswith(".")
    assert "." not in text or not text.endswith("0")  # no trailing zeros


@pytest.mark.parametrize(
    ("quantity", "text"),
    [
        (Fraction(100_000, 3), "33333.333333333333"),
        (Fraction(1_234_567, 3), "411522.333333333333"),
        (Fraction(10**18 + 1, 3), "333333333333333333.666666666667"),
    ],
)
def test_quantity_text_rounds_to_twelve_places_exactly(quantity: Fraction, text: str) -> None:
    assert quantity_text(quantity) == text


# --- quantities of a reading ----------------------------------------------------------------


def test_quantity_of_each_aggregation() -> None:
    reading = Reading(
        count=3,
        total=Fraction(7),
        maximum=Fraction(4),
        latest=(100.0, "k2", Fraction(2)),
        weighted=Fraction(0),
    )
    assert quantity_of(Aggregation.COUNT, reading) == 3
    assert quantity_of(Aggregation.SUM, reading) == 7
    assert quantity_of(Aggregation.MAX, reading) == 4
    assert quantity_of(Aggregation.LATEST, reading) == 2
    assert quantity_of(Aggregation.UNIQUE_COUNT, reading, distinct=5) == 5
    empty = Reading()
    for aggregation in (Aggregation.COUNT, Aggregation.SUM, Aggregation.MAX, Aggregation.LATEST):
        assert quantity_of(aggregation, empty) == 0


def test_weighted_sum_is_a_time_weighted_average_carried_over() -> None:
    # +10 at the window's start, +10 at half time: 10 for half, 20 for half = 15
    start, end = Fraction(1000), Fraction(1100)
    reading = Reading(count=2, total=Fraction(20), weighted=10 * start + 10 * Fraction(1050))
    assert quantity_of(
        Aggregation.WEIGHTED_SUM, reading, start_epoch=start, end_epoch=end
    ) == Fraction(15)
    # the next window, no events: the running total (20) carried
    assert (
        quantity_of(
            Aggregation.WEIGHTED_SUM,
            Reading(),
            carried=Fraction(20),
            start_epoch=end,
            end_epoch=end + 100,
        )
        == 20
    )
    # -5 a quarter before the end of a window that started at 20: 20 - 5/4
    late = Reading(count=1, total=Fraction(-5), weighted=-5 * Fraction(1175))
    assert quantity_of(
        Aggregation.WEIGHTED_SUM, late, carried=Fraction(20), start_epoch=end, end_epoch=end + 100
    ) == Fraction(75, 4)


def test_readings_merge_exactly_and_latest_ties_go_to_the_greatest_key() -> None:
    a = Reading(count=1, total=Fraction(1), maximum=Fraction(1), latest=(50.0, "b", Fraction(1)))
    b = Reading(count=1, total=Fraction(5), maximum=Fraction(5), latest=(50.0, "a", Fraction(5)))
    c = Reading(count=1, total=Fraction(2), maximum=Fraction(2), latest=(40.0, "z", Fraction(2)))
    for merged in (a.merge(b).merge(c), c.merge(b).merge(a), b.merge(c).merge(a)):
        assert (merged.count, merged.total, merged.maximum) == (3, 8, 5)
        assert merged.latest == (50.0, "b", Fraction(1))
    assert Reading().merge(Reading()) == Reading()
