"""Simulated experiments, seeded: a true 10 % lift in conversion is detected at realistic
traffic, and 1,000 A/A experiments looked at every day stay within the nominal alpha.

Traffic: 5,000 visitors a day split 50/50 (2,500 per variant), for 28 days, with the results
read every day, as a growth team would. Baseline conversion 5 %.
Run ``pytest tests/experiments/test_simulations.py -s`` to print the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from app.domain.experiments.stats import Summary, compare_means, compare_proportions
from tests.experiments.figures import report

pytestmark = pytest.mark.slow

ALPHA = 0.05
MIXTURE_LIFT = 0.10  # the effect size the sequential test is tuned to (10 % relative)
PER_DAY, DAYS, BASELINE = 2_500, 28, 0.05


@dataclass
class Outcome:
    always_valid: bool  # rejected at any daily look, always-valid p-value
    naive_peeking: bool  # rejected at any daily look, fixed-horizon p-value
    final_look: bool  # rejected at the last look only, fixed-horizon p-value
    day: int | None  # first day of an always-valid rejection


def _conversion_run(rng: np.random.Generator, rates: tuple[float, float]) -> Outcome:
    daily = rng.binomial(PER_DAY, rates, size=(DAYS, 2))
    conversions = daily.cumsum(axis=0)
    always = naive = final = False
    first: int | None = None
    for day in range(DAYS):
        units = PER_DAY * (day + 1)
        result = compare_proportions(
            (int(conversions[day, 0]), units),
            (int(conversions[day, 1]), units),
            alpha=ALPHA,
            mixture_lift=MIXTURE_LIFT,
        )
        if result.significant(ALPHA) and first is None:
            always, first = True, day + 1
        naive = naive or result.p_value <= ALPHA
        final = result.p_value <= ALPHA
    return Outcome(always, naive, final, first)


def test_a_true_ten_percent_lift_in_conversion_is_detected() -> None:
    rng = np.random.default_rng(20261121)
    lifted = (BASELINE, BASELINE * 1.10)
    one = _conversion_run(rng, lifted)
    assert one.always_valid and one.day is not None
    runs = [_conversion_run(rng, lifted) for _ in range(300)]
    power = np.mean([r.always_valid for r in runs])
    days = [r.day for r in runs if r.day is not None]
    assert power >= 0.80
    report(
        "true +10 % conversion lift (5.0 % -> 5.5 %), 2,500 units per variant a day, 28 days",
        seeded_experiment=f"detected on day {one.day}",
        power_always_valid_300_runs=f"{power:.3f}",
        median_day_of_detection=int(np.median(days)),
        power_fixed_horizon_at_day_28=f"{np.mean([r.final_look for r in runs]):.3f}",
    )


def test_a_thousand_a_a_experiments_read_daily_stay_within_alpha() -> None:
    rng = np.random.default_rng(11)
    runs = [_conversion_run(rng, (BASELINE, BASELINE)) for _ in range(1_000)]
    always = float(np.mean([r.always_valid for r in runs]))
    naive = float(np.mean([r.naive_peeking for r in runs]))
    final = float(np.mean([r.final_look for r in runs]))
    assert always <= ALPHA
    # Without sequential testing, daily peeking inflates false positives well beyond alpha,
    # while one look at the planned horizon is calibrated (binomial noise of 1,000 runs).
    assert naive > 2 * ALPHA
    assert 0.03 <= final <= 0.07
    report(
        "1,000 A/A experiments on conversion, read every day for 28 days, alpha 0.05",
        false_positive_rate_always_valid=f"{always:.3f}",
        false_positive_rate_naive_daily_peeking=f"{naive:.3f}",
        false_positive_rate_single_look_at_day_28=f"{final:.3f}",
    )


def _revenue_day(rng: np.random.Generator, units: int) -> tuple[float, float]:
    """Revenue of a day's units: 5 % subscribe at 29.00 and stay a geometric number of
    months (mean 4, at most 12): a skewed, zero-inflated metric like real revenue."""
    payers = rng.binomial(units, BASELINE)
    months = np.minimum(rng.geometric(0.25, size=payers), 12)
    revenue = 2_900.0 * months
    return float(revenue.sum()), float((revenue**2).sum())


def test_a_thousand_a_a_experiments_on_revenue_per_exposed_unit_stay_within_alpha() -> None:
    rng = np.random.default_rng(5)
    per_day, days = 1_000, 14
    rejected = naive = 0
    for _ in range(1_000):
        sums = np.zeros((2, 2))
        hit = peek = False
        for day in range(days):
            for arm in range(2):
                total, squares = _revenue_day(rng, per_day)
                sums[arm] += (total, squares)
            n = per_day * (day + 1)
            control, treatment = (Summary.of_moments(n, *sums[arm]) for arm in range(2))
            result = compare_means(control, treatment, alpha=ALPHA, mixture_lift=MIXTURE_LIFT)
            hit = hit or result.significant(ALPHA)
            peek = peek or result.p_value <= ALPHA
        rejected += hit
        naive += peek
    assert rejected / 1_000 <= ALPHA
    report(
        "1,000 A/A experiments on revenue per exposed unit (Welch / mSPRT), "
        "1,000 units per variant a day, read daily for 14 days",
        false_positive_rate_always_valid=f"{rejected / 1_000:.3f}",
        false_positive_rate_naive_daily_peeking=f"{naive / 1_000:.3f}",
    )
