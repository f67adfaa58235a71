"""The tax of credit notes, per line: never more than the line's tax over all notes, and
exactly its tax when the line is credited in full, however it is split."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.domain.credit_notes import Creditable, credit_amount, credit_total, spread


def _after(left: Creditable, amount: int, tax: int, included: int) -> Creditable:
    return Creditable(left.amount - amount, left.tax - tax, left.tax_included - included)


@given(
    amount=st.integers(1, 10**9),
    rate_bp=st.integers(0, 10_000),
    cuts=st.lists(st.integers(1, 10**9), min_size=0, max_size=8),
)
def test_a_line_credited_in_pieces_credits_exactly_its_tax(
    amount: int, rate_bp: int, cuts: list[int]
) -> None:
    tax = amount * rate_bp // 10_000
    left = Creditable(amount, tax, 0)
    credited_tax = 0
    for cut in cuts:
        if left.amount == 0:
            break
        piece = credit_amount(left, min(cut, left.amount))
        assert 0 <= piece.tax <= left.tax
        credited_tax += piece.tax
        left = _after(left, piece.amount, piece.tax, piece.tax_included)
    if left.amount:
        last = credit_amount(left, left.amount)  # the last note takes the rest
        credited_tax += last.tax
    assert credited_tax == tax


@given(
    lines=st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 2_500)), min_size=1, max_size=6),
    share=st.fractions(0, 1),
)
def test_a_total_spread_over_lines_adds_up_and_stays_within_each(
    lines: list[tuple[int, int]], share: object
) -> None:
    left = [Creditable(a, a * bp // 10_000, 0) for a, bp in lines]
    room = sum(line.total for line in left)
    if room == 0:
        return
    total = int(room * share)  # type: ignore[operator]
    credits = spread(total, left)
    assert sum(c.total for c in credits) == total
    for line, piece in zip(left, credits, strict=True):
        assert 0 <= piece.amount <= line.amount and 0 <= piece.tax <= line.tax


def test_the_whole_total_is_the_whole_amount_and_tax() -> None:
    line = Creditable(1000, 190, 0)
    assert credit_total(line, 1190) == credit_amount(line, 1000)
    assert (credit_total(line, 238).amount, credit_total(line, 238).tax) == (200, 38)
