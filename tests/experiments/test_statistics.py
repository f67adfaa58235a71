"""The statistics against reference values published elsewhere or worked by hand (the
numbers are stated here, not taken from this implementation's output), and against
independent computations on raw data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from scipy import stats as sps

from app.domain.experiments import cuped, sequential
from app.domain.experiments.stats import (
    Summary,
    compare_means,
    compare_proportions,
    mean_interval,
    sample_ratio,
    wilson,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe, "Two-sided confidence intervals for the single proportion: comparison
        # of seven methods", Statistics in Medicine 17 (1998), table I, method 3 (score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe_1998(
    successes: int, n: int, low: float, high: float
) -> None:
    interval = wilson(successes, n, 0.95)
    assert interval is not None
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


def test_two_proportions_worked_by_hand() -> None:
    # Control 200/2000 = 10 %, treatment 250/2000 = 12.5 %.
    # Pooled p = 450/4000 = 0.1125; SE0 = sqrt(0.1125 * 0.8875 * (2/2000)) = 0.0099922;
    # z = 0.025 / 0.0099922 = 2.50195; two-sided p = 0.01235.
    # Agresti-Caffo: 201/2002 = 0.1003996 and 251/2002 = 0.1253746, difference 0.0249750,
    #   SE = sqrt(0.1003996*0.8996004/2002 + 0.1253746*0.8746254/2002) = 0.0099944
    #   -> 0.0249750 -/+ 1.959964 * 0.0099944 = (0.005386, 0.044564).
    # Katz: RR = 1.25, SE(log RR) = sqrt(0.875/250 + 0.9/200) = 0.0894427
    #       -> RR in exp(0.2231436 -/+ 0.175305) = (1.04900, 1.48952).
    result = compare_proportions((200, 2000), (250, 2000), alpha=0.05, mixture_lift=0.1)
    assert result.difference == pytest.approx(0.025)
    assert result.p_value == pytest.approx(0.01235, abs=1e-5)
    assert result.interval is not None
    assert (result.interval.low, result.interval.high) == pytest.approx(
        (0.005386, 0.044564), abs=1e-6
    )
    assert result.relative_lift == pytest.approx(0.25)
    assert result.lift_interval is not None
    assert (result.lift_interval.low, result.lift_interval.high) == pytest.approx(
        (0.04900, 0.48952), abs=1e-5
    )


def test_pooled_z_test_equals_pearson_chi_square_on_the_2x2_table() -> None:
    for control, treatment in [
        ((31, 1200), (52, 1180)),
        ((5, 40), (9, 41)),
        ((980, 20_000), (1_090, 20_100)),
    ]:
        result = compare_proportions(control, treatment, alpha=0.05, mixture_lift=0.1)
        table = [[control[0], control[1] - control[0]], [treatment[0], treatment[1] - treatment[0]]]
        reference = sps.chi2_contingency(table, correction=False)
        assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)


# Wikipedia, "Welch's t-test", example 1: t = -2.46, df = 24.99, p = 0.021.
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def _summary(values: list[float]) -> Summary:
    return Summary.of_moments(len(values), sum(values), sum(v * v for v in values))


def test_welch_from_sums_matches_the_textbook_example_and_scipy_on_raw_data() -> None:
    result = compare_means(_summary(A2), _summary(A1), alpha=0.05, mixture_lift=0.1)
    assert result.difference == pytest.approx(sum(A1) / 15 - sum(A2) / 15)
    assert result.p_value == pytest.approx(0.021, abs=5e-4)
    raw = sps.ttest_ind(A1, A2, equal_var=False)
    assert raw.statistic == pytest.approx(-2.46, abs=5e-3)
    assert raw.df == pytest.approx(24.99, abs=5e-3)
    assert result.p_value == pytest.approx(raw.pvalue, rel=1e-9)
    ci = raw.confidence_interval(0.95)
    assert result.interval is not None
    assert (result.interval.low, result.interval.high) == pytest.approx((ci.low, ci.high))


def test_mean_interval_is_the_student_t_interval() -> None:
    interval = mean_interval(_summary(A1), 0.95)
    reference = sps.ttest_1samp(A1, 0).confidence_interval(0.95)
    assert interval is not None
    assert (interval.low, interval.high) == pytest.approx((reference.low, reference.high))


def test_sample_ratio_check_worked_by_hand() -> None:
    # 5,050 vs 4,950 on 50/50: chi2 = (50^2 + 50^2) / 5000 = 1.0, p = 2 (1 - Phi(1)) = 0.3173
    fine = sample_ratio([5_050, 4_950], [1, 1])
    assert (fine.chi_square, round(fine.p_value, 4), fine.mismatch) == (1.0, 0.3173, False)
    # 10,000 vs 10,500: expected 10,250 each, chi2 = 2 * 250^2 / 10250 = 12.195, p = 0.00048
    broken = sample_ratio([10_000, 10_500], [50, 50])
    assert broken.chi_square == pytest.approx(12.195, abs=1e-3)
    assert broken.p_value == pytest.approx(0.00048, abs=1e-5)
    assert broken.mismatch
    # unequal weights: 2,000 / 6,000 / 2,000 on 20/60/20 is exactly as expected
    assert sample_ratio([2_000, 6_000, 2_000], [20, 60, 20]).p_value == pytest.approx(1.0)


def test_msprt_closed_form_equals_the_mixture_integral() -> None:
    # Lambda = integral over theta ~ N(0, tau^2) of N(d; theta, V) / N(d; 0, V)
    for estimate, variance, tau2 in [(0.004, 2e-6, 2.5e-5), (-1.3, 0.4, 1.0), (0.0, 1.0, 0.3)]:

        def integrand(
            theta: float, d: float = estimate, v: float = variance, t: float = tau2
        ) -> float:
            return float(
                sps.norm.pdf(d, theta, math.sqrt(v))
                / sps.norm.pdf(d, 0, math.sqrt(v))
                * sps.norm.pdf(theta, 0, math.sqrt(t))
            )

        scale = math.sqrt(tau2)
        value, _ = integrate.quad(integrand, -12 * scale, 12 * scale, points=[estimate])
        closed = math.exp(sequential.log_likelihood_ratio(estimate, variance, tau2))
        assert closed == pytest.approx(value, rel=1e-6)


def test_confidence_sequence_edges_are_where_lambda_reaches_one_over_alpha() -> None:
    estimate, variance, tau2, alpha = 0.01, 4e-6, 1e-4, 0.05
    sequence = sequential.confidence_sequence(estimate, variance, tau2, alpha)
    assert sequence is not None
    for edge in (sequence.low, sequence.high):
        ratio = math.exp(sequential.log_likelihood_ratio(estimate - edge, variance, tau2))
        assert ratio == pytest.approx(1 / alpha, rel=1e-9)
    # duality: the p-value is below alpha exactly when 0 is outside the sequence
    p = sequential.always_valid_p_value(estimate, variance, tau2)
    assert (p <= alpha) == (not sequence.contains(0.0))
    # and it is wider than the fixed-horizon interval (the price of peeking)
    assert sequence.high - estimate > 1.96 * math.sqrt(variance)


def test_cuped_from_sums_equals_the_adjustment_on_raw_data() -> None:
    rng = np.random.default_rng(7)
    x = rng.gamma(2.0, 10.0, size=4_000)
    y = 0.8 * x + rng.normal(0, 6, size=4_000)
    arm = np.repeat([0, 1], 2_000)
    y[arm == 1] += 1.5
    joints = [
        cuped.Joint(
            n=int((arm == a).sum()),
            sum_y=float(y[arm == a].sum()),
            sum_y2=float((y[arm == a] ** 2).sum()),
            sum_x=float(x[arm == a].sum()),
            sum_x2=float((x[arm == a] ** 2).sum()),
            sum_xy=float((x[arm == a] * y[arm == a]).sum()),
        )
        for a in (0, 1)
    ]
    adjusted = cuped.adjust(joints)
    theta = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    y_adj = y - theta * (x - x.mean())
    assert adjusted.theta == pytest.approx(theta, rel=1e-9)
    for a, summary in enumerate(adjusted.summaries):
        assert summary.mean == pytest.approx(y_adj[arm == a].mean(), rel=1e-9)
        assert summary.variance == pytest.approx(np.var(y_adj[arm == a], ddof=1), rel=1e-6)
    rho = np.corrcoef(x, y)[0, 1]
    assert adjusted.variance_reduction == pytest.approx(rho**2, rel=1e-6)
    # The effect estimate is unchanged in expectation, and its interval narrower
    plain = compare_means(joints[0].summary(), joints[1].summary(), alpha=0.05, mixture_lift=0.1)
    better = compare_means(*adjusted.summaries, alpha=0.05, mixture_lift=0.1)
    assert plain.interval is not None and better.interval is not None
    assert better.interval.high - better.interval.low < 0.5 * (
        plain.interval.high - plain.interval.low
    )
    assert better.interval.contains(1.5)


def test_without_a_covariate_cuped_changes_nothing() -> None:
    joints = [
        cuped.Joint(100, 250.0, 4_000.0, 0.0, 0.0, 0.0),
        cuped.Joint(90, 300.0, 5_000.0, 0.0, 0.0, 0.0),
    ]
    adjusted = cuped.adjust(joints)
    assert adjusted.theta == 0.0
    assert adjusted.summaries == tuple(j.summary() for j in joints)


def test_degenerate_inputs_give_no_evidence() -> None:
    nothing = compare_proportions((0, 0), (0, 10), alpha=0.05, mixture_lift=0.1)
    assert (nothing.p_value, nothing.always_valid_p_value, nothing.interval) == (1.0, 1.0, None)
    zeros = compare_proportions((0, 500), (0, 500), alpha=0.05, mixture_lift=0.1)
    assert (zeros.p_value, zeros.always_valid_p_value, zeros.relative_lift) == (1.0, 1.0, None)
    few = compare_means(Summary(1, 3.0, 0.0), Summary(5, 2.0, 1.0), alpha=0.05, mixture_lift=0.1)
    assert few.p_value == 1.0


@given(
    st.integers(1, 5_000), st.integers(1, 5_000), st.floats(0.0, 1.0), st.floats(0.0, 1.0),
    st.sampled_from([0.01, 0.05, 0.1]),
)  # fmt: skip
def test_the_sequence_is_wider_than_the_fixed_interval_and_dual_to_its_p_value(
    n_c: int, n_t: int, share_c: float, share_t: float, alpha: float
) -> None:
    control, treatment = (round(share_c * n_c), n_c), (round(share_t * n_t), n_t)
    result = compare_proportions(control, treatment, alpha=alpha, mixture_lift=0.1)
    assert 0.0 <= result.p_value <= 1.0 and 0.0 <= result.always_valid_p_value <= 1.0
    sequence, interval = result.confidence_sequence, result.interval
    if sequence is None:
        assert result.always_valid_p_value == 1.0
        return
    assert (result.always_valid_p_value <= alpha) == (not sequence.contains(0.0))
    if interval is not None:
        assert sequence.low <= interval.low and interval.high <= sequence.high


@given(st.integers(0, 10_000), st.integers(1, 10_000))
def test_wilson_intervals_hold_the_observed_share(successes: int, n: int) -> None:
    successes = min(successes, n)
    interval = wilson(successes, n, 0.95)
    assert interval is not None
    assert 0.0 <= interval.low <= successes / n <= interval.high <= 1.0
