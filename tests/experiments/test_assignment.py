"""Assignment: deterministic, proportional to the weights, exclusive within a layer."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from app.domain.experiments.assignment import (
    BUCKETS,
    anonymous_unit,
    bucket,
    choose_variant,
    free_offset,
    in_traffic,
    layer_bucket,
    valid_anonymous_id,
)
from app.domain.experiments.lifecycle import (
    TRANSITIONS,
    Action,
    ExperimentStatus,
    TransitionError,
    transition,
)
from app.domain.experiments.stats import sample_ratio
from tests.experiments.figures import report

UNITS = 100_000


def test_a_hundred_thousand_units_split_by_the_weights() -> None:
    weights = [50, 30, 20]
    units = [anonymous_unit(f"visitor-{i:08d}") for i in range(UNITS)]
    first = [choose_variant("salt-1", unit, weights) for unit in units]
    counts = Counter(first)
    shares = [counts[i] / UNITS for i in range(len(weights))]
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share - weight / 100) < 0.01
    srm = sample_ratio([counts[i] for i in range(len(weights))], weights)
    assert not srm.mismatch
    # The same unit always gets the same variant
    assert [choose_variant("salt-1", unit, weights) for unit in units] == first
    # A different salt reshuffles: about half of the units move
    moved = sum(
        a != b
        for a, b in zip(first, (choose_variant("salt-2", u, weights) for u in units), strict=True)
    )
    assert 0.55 < moved / UNITS < 0.65  # 1 - (0.5^2 + 0.3^2 + 0.2^2) = 0.62
    report(
        "assignment of 100,000 units, weights 50/30/20",
        shares=" / ".join(f"{s:.4f}" for s in shares),
        srm_chi_square=f"{srm.chi_square:.3f}",
        srm_p_value=f"{srm.p_value:.3f}",
    )


def test_traffic_allocation_and_layers_are_exclusive_and_independent_of_the_variant() -> None:
    units = [anonymous_unit(f"v{i:07d}-x") for i in range(UNITS)]
    # Two experiments in one layer: A owns buckets [0, 3000), B owns [3000, 5000)
    in_a = [in_traffic("checkout", u, 0, 3_000) for u in units]
    in_b = [in_traffic("checkout", u, 3_000, 2_000) for u in units]
    assert not any(a and b for a, b in zip(in_a, in_b, strict=True))
    assert abs(sum(in_a) / UNITS - 0.30) < 0.01
    assert abs(sum(in_b) / UNITS - 0.20) < 0.01
    # Whether a unit is in the experiment says nothing about its variant
    table = Counter(
        (a, choose_variant("salt-a", u, [1, 1])) for a, u in zip(in_a, units, strict=True)
    )
    contingency = [[table[(True, 0)], table[(True, 1)]], [table[(False, 0)], table[(False, 1)]]]
    assert sps.chi2_contingency(contingency).pvalue > 0.001


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_buckets_are_deterministic_and_in_range(salt: str, unit: str) -> None:
    assert 0 <= bucket(f"{salt}:{unit}") < BUCKETS
    assert bucket(f"{salt}:{unit}") == bucket(f"{salt}:{unit}")
    assert 0 <= layer_bucket(salt, unit) < BUCKETS


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=8), st.text(max_size=30))
def test_every_unit_gets_one_of_the_variants(weights: list[int], unit: str) -> None:
    assert 0 <= choose_variant("s", unit, weights) < len(weights)


def test_weights_must_be_positive() -> None:
    with pytest.raises(ValueError):
        choose_variant("s", "u", [1, 0])


@given(st.lists(st.integers(1, 4_000), max_size=12))
def test_layer_ranges_never_overlap(widths: list[int]) -> None:
    taken: list[tuple[int, int]] = []
    for width in widths:
        offset = free_offset(taken, width)
        if offset is None:
            free = [True] * BUCKETS
            for start, size in taken:
                free[start : start + size] = [False] * size
            runs = "".join("1" if f else "0" for f in free).split("0")
            assert max(len(run) for run in runs) < width
            continue
        assert offset >= 0 and offset + width <= BUCKETS
        for other, size in taken:
            assert offset + width <= other or other + size <= offset
        taken.append((offset, width))


def test_freed_ranges_are_reused() -> None:
    assert free_offset([(0, 3_000), (5_000, 5_000)], 2_000) == 3_000
    assert free_offset([(0, 3_000), (5_000, 5_000)], 2_001) is None
    assert free_offset([], 10_000) == 0


def test_anonymous_ids() -> None:
    assert valid_anonymous_id("3f1c2a9e-7b7d-4b8e-9a61-0c1f7a2f6b11")
    assert valid_anonymous_id("visitor-1")
    for bad in ("short", "x" * 129, "has space-123", "-leading-dash", "émoji-ünit"):
        assert not valid_anonymous_id(bad)


@given(st.lists(st.sampled_from(list(Action)), max_size=12))
def test_the_lifecycle_only_moves_along_its_arrows(actions: list[Action]) -> None:
    status = ExperimentStatus.DRAFT
    for action in actions:
        sources, target = TRANSITIONS[action]
        if status in sources:
            status = transition(status, action)
            assert status is target
        else:
            with pytest.raises(TransitionError):
                transition(status, action)
    # archived is final; nothing returns to draft
    if ExperimentStatus.ARCHIVED is status:
        assert all(status not in sources for sources, _ in TRANSITIONS.values())
