"""Always-valid inference with the mixture sequential probability ratio test (mSPRT).

Johari, Koomen, Pekelis and Walsh, "Peeking at A/B tests: why it matters, and what to do
about it" (KDD 2017), and "Always valid inference" (Operations Research, 2022). For an
estimate ``d`` of an effect ``theta``, approximately normal with variance ``V``, and a
normal mixing distribution N(0, tau^2) over the alternative, the likelihood ratio of
"effect theta" mixed over the prior against "no effect" has the closed form

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

Under the null, Lambda is a nonnegative martingale of mean 1, so by Ville's inequality
``P(Lambda ever reaches 1/alpha) <= alpha``: the p-value ``min(1, 1/Lambda)`` and the
confidence sequence ``{theta : Lambda(theta) < 1/alpha}`` stay valid however often they are
looked at. ``V`` is the plug-in variance of the estimate (large-sample normal approximation).
"""

from __future__ import annotations

import math

from app.domain.experiments.intervals import Interval


def log_likelihood_ratio(estimate: float, variance: float, tau2: float) -> float:
    """``log Lambda`` of the normal mixture (log scale: it overflows otherwise)."""
    if variance <= 0 or tau2 <= 0:
        return 0.0
    total = variance + tau2
    return 0.5 * math.log(variance / total) + tau2 * estimate * estimate / (2 * variance * total)


def always_valid_p_value(estimate: float, variance: float, tau2: float) -> float:
    """``min(1, 1/Lambda)``: at most alpha with probability at most alpha, at any look."""
    return min(1.0, math.exp(-log_likelihood_ratio(estimate, variance, tau2)))


def confidence_sequence(
    estimate: float, variance: float, tau2: float, alpha: float
) -> Interval | None:
    """The effects ``theta`` not rejected at level alpha: ``estimate +/- half`` with
    ``half^2 = V (V + tau^2) / tau^2 * (log((V + tau^2) / V) + 2 log(1/alpha))``."""
    if variance <= 0 or tau2 <= 0:
        return None
    total = variance + tau2
    half = math.sqrt(variance * total / tau2 * (math.log(total / variance) - 2 * math.log(alpha)))
    return Interval(estimate - half, estimate + half)
