"""Statistics of experiment results: estimates with confidence intervals per variant, and
comparisons of each variant with the control.

Every comparison carries two kinds of inference:

* **Fixed-horizon** (``p_value``, ``interval``): the classical two-sample test, valid when
  the results are read once, at a sample size fixed in advance. Proportions use the pooled
  two-proportion z-test (the same as Pearson's chi-square on the 2x2 table) with the
  Agresti-Caffo interval; means use Welch's t-test and interval (unequal variances).
* **Always-valid** (``always_valid_p_value``, ``confidence_sequence``): the mixture
  sequential probability ratio test (see :mod:`.sequential`), valid however often the
  results are looked at and whenever the experiment is stopped. Decisions use these.

Distributions come from SciPy; nothing here talks to a database: callers pass counts and
sums that SQL aggregated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps

from app.domain.experiments import sequential
from app.domain.experiments.intervals import Interval

__all__ = ["Comparison", "Interval", "SampleRatioCheck", "Summary"]


@dataclass(frozen=True, slots=True)
class Summary:
    """A metric over ``n`` units: its mean and variance per unit."""

    n: int
    mean: float
    variance: float

    @classmethod
    def of_moments(cls, n: int, total: float, total_sq: float) -> Summary:
        """From ``n``, the sum and the sum of squares (sample variance, n - 1)."""
        if n == 0:
            return cls(0, 0.0, 0.0)
        mean = total / n
        variance = max(0.0, (total_sq - n * mean * mean) / (n - 1)) if n > 1 else 0.0
        return cls(n, mean, variance)

    @classmethod
    def of_proportion(cls, successes: int, n: int) -> Summary:
        """A share of units: mean p, Bernoulli variance p(1 - p)."""
        if n == 0:
            return cls(0, 0.0, 0.0)
        p = successes / n
        return cls(n, p, p * (1 - p))

    @property
    def standard_error_sq(self) -> float:
        return self.variance / self.n if self.n else math.inf


def wilson(successes: int, n: int, confidence: float) -> Interval | None:
    """Wilson score interval of a proportion (SciPy's ``binomtest``)."""
    if n == 0:
        return None
    ci = sps.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(float(ci.low), float(ci.high))


def mean_interval(summary: Summary, confidence: float) -> Interval | None:
    """Student t interval of a mean."""
    if summary.n < 2:
        return None
    half = float(sps.t.ppf(0.5 + confidence / 2, summary.n - 1)) * math.sqrt(
        summary.variance / summary.n
    )
    return Interval(summary.mean - half, summary.mean + half)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A variant (treatment) against the control, on one metric."""

    control_mean: float
    treatment_mean: float
    difference: float  # treatment - control
    interval: Interval | None  # fixed-horizon, of the difference
    p_value: float  # fixed-horizon, two-sided
    relative_lift: float | None  # treatment / control - 1
    lift_interval: Interval | None  # fixed-horizon (delta method on the log ratio)
    always_valid_p_value: float
    confidence_sequence: Interval | None  # always-valid, of the difference

    def significant(self, alpha: float) -> bool:
        """The always-valid decision: safe to read at every look."""
        return self.always_valid_p_value <= alpha


def _z(alpha: float) -> float:
    return float(sps.norm.ppf(1 - alpha / 2))


def _lift(
    control: Summary, treatment: Summary, alpha: float
) -> tuple[float | None, Interval | None]:
    """Relative lift and its interval from the delta method on log(treatment / control); for
    proportions this is Katz's log interval of the risk ratio."""
    if control.n == 0 or treatment.n == 0 or control.mean <= 0:
        return None, None
    lift = treatment.mean / control.mean - 1
    if treatment.mean <= 0:
        return lift, None
    se = math.sqrt(
        treatment.variance / (treatment.n * treatment.mean**2)
        + control.variance / (control.n * control.mean**2)
    )
    log_ratio, z = math.log(treatment.mean / control.mean), _z(alpha)
    return lift, Interval(math.exp(log_ratio - z * se) - 1, math.exp(log_ratio + z * se) - 1)


def _sequential(
    control: Summary,
    treatment: Summary,
    alpha: float,
    mixture_lift: float,
    pooled: float,
) -> tuple[float, Interval | None]:
    """The always-valid p-value and confidence sequence of the difference of means. The
    mixing distribution of the effect is N(0, tau^2) with tau = ``mixture_lift`` times the
    ``pooled`` mean: the effect sizes the test is tuned to detect."""
    tau = mixture_lift * abs(pooled)
    variance = control.standard_error_sq + treatment.standard_error_sq
    estimate = treatment.mean - control.mean
    return (
        sequential.always_valid_p_value(estimate, variance, tau * tau),
        sequential.confidence_sequence(estimate, variance, tau * tau, alpha),
    )


def _pooled_mean(control: Summary, treatment: Summary) -> float:
    n = control.n + treatment.n
    return (control.n * control.mean + treatment.n * treatment.mean) / n if n else 0.0


def _empty(control: Summary, treatment: Summary) -> Comparison:
    return Comparison(
        control_mean=control.mean,
        treatment_mean=treatment.mean,
        difference=treatment.mean - control.mean,
        interval=None,
        p_value=1.0,
        relative_lift=None,
        lift_interval=None,
        always_valid_p_value=1.0,
        confidence_sequence=None,
    )


def compare_proportions(
    control: tuple[int, int],
    treatment: tuple[int, int],
    *,
    alpha: float,
    mixture_lift: float,
) -> Comparison:
    """Two proportions given as ``(successes, units)``: the pooled z-test; the interval of
    the difference and the mSPRT on the Agresti-Caffo estimates (one success and one
    failure added to each arm: a Wald interval that stays honest with few or no events,
    where the plain one claims certainty from a zero variance); Katz's interval of the
    lift."""
    (x_c, n_c), (x_t, n_t) = control, treatment
    c, t = Summary.of_proportion(x_c, n_c), Summary.of_proportion(x_t, n_t)
    if n_c == 0 or n_t == 0:
        return _empty(c, t)
    pooled = (x_c + x_t) / (n_c + n_t)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    difference = t.mean - c.mean
    p_value = 1.0 if pooled_se == 0 else float(2 * sps.norm.sf(abs(difference) / pooled_se))
    # Agresti & Caffo (2000): (x + 1) / (n + 2) in each arm
    c_adj, t_adj = Summary.of_proportion(x_c + 1, n_c + 2), Summary.of_proportion(x_t + 1, n_t + 2)
    adjusted = t_adj.mean - c_adj.mean
    half = _z(alpha) * math.sqrt(c_adj.standard_error_sq + t_adj.standard_error_sq)
    lift, lift_interval = _lift(c, t, alpha)
    always_valid, sequence = _sequential(c_adj, t_adj, alpha, mixture_lift, pooled=pooled)
    return Comparison(
        control_mean=c.mean,
        treatment_mean=t.mean,
        difference=difference,
        interval=Interval(adjusted - half, adjusted + half),
        p_value=p_value,
        relative_lift=lift,
        lift_interval=lift_interval,
        always_valid_p_value=always_valid,
        confidence_sequence=sequence,
    )


def compare_means(
    control: Summary, treatment: Summary, *, alpha: float, mixture_lift: float
) -> Comparison:
    """Two means: Welch's t-test and interval (Welch-Satterthwaite degrees of freedom),
    the lift's delta-method interval, and the mSPRT."""
    if control.n < 2 or treatment.n < 2:
        return _empty(control, treatment)
    difference = treatment.mean - control.mean
    se_c, se_t = control.standard_error_sq, treatment.standard_error_sq
    se = math.sqrt(se_c + se_t)
    if se == 0:
        p_value, interval = (1.0 if difference == 0 else 0.0), None
    else:
        result = sps.ttest_ind_from_stats(
            treatment.mean, math.sqrt(treatment.variance), treatment.n,
            control.mean, math.sqrt(control.variance), control.n,
            equal_var=False,
        )  # fmt: skip
        p_value = float(result.pvalue)
        df = (se_c + se_t) ** 2 / (se_c**2 / (control.n - 1) + se_t**2 / (treatment.n - 1))
        half = float(sps.t.ppf(1 - alpha / 2, df)) * se
        interval = Interval(difference - half, difference + half)
    lift, lift_interval = _lift(control, treatment, alpha)
    always_valid, sequence = _sequential(
        control, treatment, alpha, mixture_lift, pooled=_pooled_mean(control, treatment)
    )
    return Comparison(
        control_mean=control.mean,
        treatment_mean=treatment.mean,
        difference=difference,
        interval=interval,
        p_value=p_value,
        relative_lift=lift,
        lift_interval=lift_interval,
        always_valid_p_value=always_valid,
        confidence_sequence=sequence,
    )


SRM_THRESHOLD = 0.001


@dataclass(frozen=True, slots=True)
class SampleRatioCheck:
    """Pearson's chi-square of the units per variant against the variants' weights. A
    mismatch (p below 0.001) means assignment or exposure logging is broken, and the
    results cannot be trusted, whatever they say."""

    chi_square: float
    p_value: float
    mismatch: bool
    expected: tuple[float, ...]


def sample_ratio(
    observed: Sequence[int], weights: Sequence[int], threshold: float = SRM_THRESHOLD
) -> SampleRatioCheck:
    total, weight = sum(observed), sum(weights)
    expected = tuple(total * w / weight for w in weights)
    if total == 0 or len(observed) < 2:
        return SampleRatioCheck(0.0, 1.0, False, expected)
    result = sps.chisquare(list(observed), f_exp=list(expected))
    p_value = float(result.pvalue)
    return SampleRatioCheck(float(result.statistic), p_value, p_value < threshold, expected)
