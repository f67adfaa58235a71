"""Pricing experiments: what each value means."""

from app.domain.experiments.lifecycle import ExperimentStatus, GuardrailMetric, Platform

EXPERIMENT_STATUS: dict[ExperimentStatus, str] = {
    ExperimentStatus.DRAFT: (
        "Being designed: `updateExperiment` may change it; visitors see the default offer."
    ),
    ExperimentStatus.RUNNING: (
        "Started (`startExperiment`): assigns visitors and shows its variants. Its design "
        "is frozen."
    ),
    ExperimentStatus.PAUSED: (
        "Shows everybody the default offer, keeping its assignments and its share of the "
        "layer's traffic. Paused by `pauseExperiment` or by a breached guardrail (see "
        "`statusReason`); `startExperiment` resumes it."
    ),
    ExperimentStatus.CONCLUDED: (
        "Ended by `concludeExperiment`, perhaps shipping the winner's price as the product's "
        "default price. Its traffic is freed; its results stay readable."
    ),
    ExperimentStatus.ARCHIVED: (
        "Final: put away by `archiveExperiment` (from any other status). Its traffic is "
        "freed; its results stay readable."
    ),
}

PLATFORM: dict[Platform, str] = {
    Platform.WEB: "A web browser.",
    Platform.IOS: "An iOS or iPadOS app.",
    Platform.ANDROID: "An Android app.",
}

GUARDRAIL_METRIC: dict[GuardrailMetric, str] = {
    GuardrailMetric.REFUND_RATE: "Refunds per successful payment of the variant's subscriptions.",
    GuardrailMetric.DISPUTE_RATE: (
        "Disputes per successful payment of the variant's subscriptions."
    ),
    GuardrailMetric.PAYMENT_FAILURE_RATE: (
        "Failed payments per payment attempt of the variant's subscriptions."
    ),
}
