"""The statistics of a pricing experiment's results in GraphQL: estimates, intervals and
comparisons. Rates and p-values are floats (statistics, not money); per-unit revenue
estimates are floats in the experiment currency's major units."""

import math

import strawberry

from app.domain.experiments.intervals import Interval
from app.domain.experiments.stats import Comparison as ComparisonData
from app.services.experiments import results as service


@strawberry.type(description="A confidence interval: the plausible values of an estimate.")
class ConfidenceInterval:
    low: float = strawberry.field(description="Lower bound.")
    high: float = strawberry.field(description="Upper bound.")

    @classmethod
    def of(cls, interval: Interval | None, scale: float = 1.0) -> "ConfidenceInterval | None":
        if interval is None or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
            return None
        return cls(low=interval.low * scale, high=interval.high * scale)


@strawberry.type(description="A share of units (or payments), with its Wilson interval.")
class RateEstimate:
    events: int = strawberry.field(description="Units (or payments) with the event.")
    units: int = strawberry.field(description="Units (or payments) in all: the denominator.")
    value: float | None = strawberry.field(description="`events / units`; null without units.")
    interval: ConfidenceInterval | None = strawberry.field(
        description="Wilson score interval at the experiment's confidence level (1 - alpha)."
    )

    @classmethod
    def of(cls, rate: service.Rate) -> "RateEstimate":
        return cls(
            events=rate.events,
            units=rate.units,
            value=rate.value,
            interval=ConfidenceInterval.of(rate.interval),
        )


@strawberry.type(description="A mean per unit with its Student t interval.")
class Estimate:
    value: float = strawberry.field(description="The mean.")
    interval: ConfidenceInterval | None = strawberry.field(
        description="t interval at the experiment's confidence level; null below two units."
    )


@strawberry.type(
    description="A variant against the control on one metric (treatment - control). "
    "Decide on `alwaysValidPValue` and `confidenceSequence`: they stay valid however often "
    "the results are read (mSPRT). `pValue` and `interval` are fixed-horizon: valid only "
    "when read once, at a sample size fixed in advance."
)
class Comparison:
    difference: float = strawberry.field(description="Treatment minus control.")
    interval: ConfidenceInterval | None = strawberry.field(
        description="Fixed-horizon interval of the difference (Agresti-Caffo for rates, "
        "Welch for means)."
    )
    p_value: float = strawberry.field(
        description="Fixed-horizon two-sided p-value (two-proportion z-test, or Welch's t-test)."
    )
    relative_lift: float | None = strawberry.field(
        description="Treatment / control - 1, e.g. 0.1 for +10 %; null when the control is 0."
    )
    relative_lift_interval: ConfidenceInterval | None = strawberry.field(
        description="Fixed-horizon interval of the lift (delta method on the log ratio)."
    )
    always_valid_p_value: float = strawberry.field(
        description="Always-valid p-value of the mixture SPRT: reading it daily does not "
        "inflate false positives."
    )
    confidence_sequence: ConfidenceInterval | None = strawberry.field(
        description="Always-valid interval of the difference (mSPRT confidence sequence)."
    )
    significant: bool = strawberry.field(
        description="`alwaysValidPValue <= alpha`: the difference is real, at any look."
    )

    @classmethod
    def of(
        cls, data: ComparisonData | None, alpha: float, scale: float = 1.0
    ) -> "Comparison | None":
        if data is None:
            return None
        return cls(
            difference=data.difference * scale,
            interval=ConfidenceInterval.of(data.interval, scale),
            p_value=data.p_value,
            relative_lift=data.relative_lift,
            relative_lift_interval=ConfidenceInterval.of(data.lift_interval),
            always_valid_p_value=data.always_valid_p_value,
            confidence_sequence=ConfidenceInterval.of(data.confidence_sequence, scale),
            significant=data.significant(alpha),
        )


@strawberry.type(
    description="Pearson's chi-square of the exposed units per variant against the weights. "
    "A mismatch (p < 0.001) means assignment or logging is broken: do not trust the results."
)
class SampleRatioCheck:
    chi_square: float = strawberry.field(description="The statistic.")
    p_value: float = strawberry.field(description="Its p-value.")
    mismatch: bool = strawberry.field(description="p < 0.001.")
    expected_units: list[float] = strawberry.field(
        description="Units expected per variant from the weights, in variant order."
    )


@strawberry.type(description="The CUPED adjustment applied to revenue per exposed unit.")
class CupedAdjustment:
    theta: float = strawberry.field(
        description="cov(revenue, pre-exposure revenue) / var(pre-exposure revenue)."
    )
    variance_reduction: float = strawberry.field(
        description="Share of the variance removed (0 when no unit had prior revenue)."
    )
