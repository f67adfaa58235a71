"""CUPED: variance reduction with a pre-exposure covariate.

Deng, Xu, Kohavi and Walker, "Improving the sensitivity of online controlled experiments
by utilizing pre-experiment data" (WSDM 2013). With ``Y`` the metric and ``X`` a covariate
measured before exposure (so unaffected by the treatment), ``Y' = Y - theta (X - mean X)``
with ``theta = cov(Y, X) / var(X)`` estimated on all units pooled has the same expected
difference between variants and its variance shrunk by the factor ``1 - rho^2``.

Everything is computed from sums per variant (``n, Σy, Σy², Σx, Σx², Σxy``), which SQL
aggregates without reading units one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.experiments.stats import Summary


@dataclass(frozen=True, slots=True)
class Joint:
    """Sums of a metric ``y`` and a covariate ``x`` over one variant's units."""

    n: int
    sum_y: float
    sum_y2: float
    sum_x: float
    sum_x2: float
    sum_xy: float

    def summary(self) -> Summary:
        return Summary.of_moments(self.n, self.sum_y, self.sum_y2)


@dataclass(frozen=True, slots=True)
class Adjusted:
    theta: float
    summaries: tuple[Summary, ...]  # the adjusted metric, per variant, in order
    variance_reduction: float  # 1 - var(Y') / var(Y), pooled over the variants


def _cov(n: int, sum_a: float, sum_b: float, sum_ab: float) -> float:
    return (sum_ab - sum_a * sum_b / n) / (n - 1) if n > 1 else 0.0


def adjust(arms: Sequence[Joint]) -> Adjusted:
    n = sum(a.n for a in arms)
    sums = [
        sum(getattr(a, f) for a in arms) for f in ("sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy")
    ]
    sum_y, sum_y2, sum_x, sum_x2, sum_xy = sums
    var_x = _cov(n, sum_x, sum_x, sum_x2)
    var_y = _cov(n, sum_y, sum_y, sum_y2)
    cov_xy = _cov(n, sum_x, sum_y, sum_xy)
    theta = cov_xy / var_x if var_x > 0 else 0.0
    mean_x = sum_x / n if n else 0.0
    summaries = []
    for arm in arms:
        if arm.n == 0:
            summaries.append(Summary(0, 0.0, 0.0))
            continue
        variance = (
            _cov(arm.n, arm.sum_y, arm.sum_y, arm.sum_y2)
            - 2 * theta * _cov(arm.n, arm.sum_x, arm.sum_y, arm.sum_xy)
            + theta * theta * _cov(arm.n, arm.sum_x, arm.sum_x, arm.sum_x2)
        )
        mean = arm.sum_y / arm.n - theta * (arm.sum_x / arm.n - mean_x)
        summaries.append(Summary(arm.n, mean, max(0.0, variance)))
    adjusted_var = var_y - 2 * theta * cov_xy + theta * theta * var_x
    reduction = 1 - adjusted_var / var_y if var_y > 0 else 0.0
    return Adjusted(theta, tuple(summaries), reduction)
