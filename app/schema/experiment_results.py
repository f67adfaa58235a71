"""Results of a pricing experiment in GraphQL. Rates and p-values are floats (statistics,
not money); revenue totals are `Money`; per-unit revenue estimates are floats in the
experiment currency's major units."""

import math
from datetime import datetime

import strawberry

from app.domain.currencies import get_currency
from app.domain.experiments.intervals import Interval
from app.domain.experiments.lifecycle import ExperimentStatus, GuardrailMetric
from app.domain.experiments.stats import Comparison as ComparisonData
from app.schema.experiments import ExperimentVariant, percent
from app.schema.money import Money
from app.services.experiments import guardrails
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


@strawberry.type(description="One variant's figures, and how it compares with the control.")
class VariantResults:
    variant: ExperimentVariant = strawberry.field(description="The variant.")
    exposed_units: int = strawberry.field(
        description="Units shown at least one of its offers: the denominator of every rate."
    )
    offers_shown: int = strawberry.field(description="Offers shown, repeats included.")
    trials_started: int = strawberry.field(description="Exposed units that started a trial.")
    paid_conversions: int = strawberry.field(description="Exposed units that paid.")
    conversion_rate: RateEstimate = strawberry.field(
        description="Paid conversions per exposed unit."
    )
    revenue: Money = strawberry.field(description="Net revenue (payments less refunds).")
    revenue_per_exposed_unit: Estimate = strawberry.field(
        description="Net revenue per exposed unit, in major units (CUPED-adjusted if asked)."
    )
    mrr: Money = strawberry.field(
        description="Monthly recurring revenue of its active and past-due subscriptions, at "
        "their locked amounts before discounts and tax."
    )
    active_subscriptions: int = strawberry.field(description="Active and past-due ones.")
    refund_rate: RateEstimate = strawberry.field(description="Refunds per successful payment.")
    dispute_rate: RateEstimate = strawberry.field(description="Disputes per successful payment.")
    payment_failure_rate: RateEstimate = strawberry.field(
        description="Failed payments per payment attempt."
    )
    conversion_vs_control: Comparison | None = strawberry.field(
        description="Conversion rate against the control; null for the control."
    )
    revenue_per_exposed_unit_vs_control: Comparison | None = strawberry.field(
        description="Revenue per exposed unit against the control (major units); null for "
        "the control."
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


@strawberry.type(description="A guardrail of one variant, as of these results.")
class GuardrailCheck:
    metric: GuardrailMetric = strawberry.field(description="What is watched.")
    variant: ExperimentVariant = strawberry.field(description="Whose payments.")
    rate: float | None = strawberry.field(description="Current rate; null without payments.")
    events: int = strawberry.field(description="Refunds, disputes or failures.")
    payments: int = strawberry.field(description="The denominator.")
    threshold: str = strawberry.field(description="The threshold, in percent.")
    evaluated: bool = strawberry.field(description="There are enough payments to judge.")
    breached: bool = strawberry.field(description="Over the threshold: pauses the experiment.")


@strawberry.type(description="The CUPED adjustment applied to revenue per exposed unit.")
class CupedAdjustment:
    theta: float = strawberry.field(
        description="cov(revenue, pre-exposure revenue) / var(pre-exposure revenue)."
    )
    variance_reduction: float = strawberry.field(
        description="Share of the variance removed (0 when no unit had prior revenue)."
    )


@strawberry.type(description="An experiment's results, computed when asked.")
class ExperimentResults:
    computed_at: datetime = strawberry.field(description="When they were computed.")
    status: ExperimentStatus = strawberry.field(
        description="The experiment's status after its guardrails were checked."
    )
    alpha: float = strawberry.field(description="Significance level of every comparison.")
    sample_ratio: SampleRatioCheck = strawberry.field(description="Assignment health.")
    variants: list[VariantResults] = strawberry.field(description="In order, the control first.")
    guardrails: list[GuardrailCheck] = strawberry.field(description="Each watched rate.")
    cuped: CupedAdjustment | None = strawberry.field(
        description="The adjustment, when asked for with `cuped: true`."
    )

    @classmethod
    def of(cls, data: service.ExperimentResults) -> "ExperimentResults":
        currency = data.experiment.currency
        known = get_currency(currency)
        scale = 10.0 ** -(known.minor_units if known else 2)
        variants = [
            VariantResults(
                variant=ExperimentVariant.from_model(v.variant),
                exposed_units=v.exposed_units,
                offers_shown=v.offers_shown,
                trials_started=v.trials_started,
                paid_conversions=v.paid_conversions,
                conversion_rate=RateEstimate.of(v.conversion_rate),
                revenue=Money.of(v.revenue_minor, currency),
                revenue_per_exposed_unit=Estimate(
                    value=v.revenue_per_unit.mean * scale,
                    interval=ConfidenceInterval.of(v.revenue_per_unit_interval, scale),
                ),
                mrr=Money.of(v.mrr_minor, currency),
                active_subscriptions=v.active_subscriptions,
                refund_rate=RateEstimate.of(v.refund_rate),
                dispute_rate=RateEstimate.of(v.dispute_rate),
                payment_failure_rate=RateEstimate.of(v.payment_failure_rate),
                conversion_vs_control=Comparison.of(v.conversion, data.alpha),
                revenue_per_exposed_unit_vs_control=Comparison.of(v.revenue, data.alpha, scale),
            )
            for v in data.variants
        ]
        srm = data.sample_ratio
        return cls(
            computed_at=data.computed_at,
            status=data.experiment.status,
            alpha=data.alpha,
            sample_ratio=SampleRatioCheck(
                chi_square=srm.chi_square,
                p_value=srm.p_value,
                mismatch=srm.mismatch,
                expected_units=list(srm.expected),
            ),
            variants=variants,
            guardrails=[_check(c) for c in data.guardrails],
            cuped=None
            if data.cuped is None
            else CupedAdjustment(
                theta=data.cuped.theta, variance_reduction=data.cuped.variance_reduction
            ),
        )


def _check(check: guardrails.GuardrailCheck) -> GuardrailCheck:
    return GuardrailCheck(
        metric=check.metric,
        variant=ExperimentVariant.from_model(check.variant),
        rate=check.rate,
        events=check.events,
        payments=check.payments,
        threshold=percent(check.threshold_bp) or "0.00",
        evaluated=check.evaluated,
        breached=check.breached,
    )
