"""Payments, refunds, disputes, declines and payment-method set-up: what each value means."""

from app.domain.payment_methods import SetupKind
from app.domain.payments import (
    CaptureMethod,
    DisputeStatus,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)

PAYMENT_STATUS: dict[PaymentStatus, str] = {
    PaymentStatus.REQUIRES_PAYMENT_METHOD: (
        "Waiting for a payment method. Not used by paygate today (a payment is created with "
        "its method); kept for PSPs' vocabulary (Stripe's first PaymentIntent status)."
    ),
    PaymentStatus.REQUIRES_CONFIRMATION: (
        "Recorded, and the PSP has not answered yet: the call is in flight "
        "(`outcomeUnknown` is true). If the call is interrupted, reconciliation settles it."
    ),
    PaymentStatus.REQUIRES_ACTION: (
        "The customer must authenticate (3-D Secure) or approve (PayPal): send them to "
        "`nextAction.redirectUrl`, or finish with the PSP's browser SDK and "
        "`nextAction.clientSecret`; then call `confirmPayment`."
    ),
    PaymentStatus.PROCESSING: (
        "The PSP has the payment and has not finished it (some methods take days), or its "
        "outcome is unknown after a timeout (`outcomeUnknown`): a webhook or reconciliation "
        "settles it. Never charge again meanwhile."
    ),
    PaymentStatus.REQUIRES_CAPTURE: (
        "Authorised with `captureMethod: MANUAL`: the money is held until `capturePayment` "
        "(in full or in part) or released by `cancelPayment`."
    ),
    PaymentStatus.SUCCEEDED: (
        "Final: the money was captured (`amountReceived`). Refunds and disputes may follow; "
        "the status stays."
    ),
    PaymentStatus.CANCELED: (
        "Final: canceled before money moved (`cancelPayment`, or at the PSP); a held "
        "authorisation is released."
    ),
    PaymentStatus.FAILED: (
        "Final: declined (see `decline`) or refused by the PSP; nothing was charged. "
        "Another attempt is a new payment."
    ),
}

CAPTURE_METHOD: dict[CaptureMethod, str] = {
    CaptureMethod.AUTOMATIC: "Captured as soon as it is authorised, in one step.",
    CaptureMethod.MANUAL: (
        "Only authorised: the money is held until `capturePayment` (or released by "
        "`cancelPayment`). A PSP without manual capture refuses it "
        "(`OPERATION_NOT_SUPPORTED`)."
    ),
}

REFUND_STATUS: dict[RefundStatus, str] = {
    RefundStatus.PENDING: (
        "Sent to the PSP, which has not finished it (some methods take days, or its answer "
        "is unknown after a timeout): a webhook or reconciliation settles it. Its amount "
        "already counts in the payment's `amountRefunded`, so it cannot be refunded twice."
    ),
    RefundStatus.SUCCEEDED: "The PSP gave the money back to the customer.",
    RefundStatus.FAILED: (
        "The PSP could not give the money back (see `failureReason`); the amount may be "
        "refunded again."
    ),
    RefundStatus.CANCELED: (
        "Canceled at the PSP before it completed; the amount may be refunded again."
    ),
}

REFUND_REASON: dict[RefundReason, str] = {
    RefundReason.REQUESTED_BY_CUSTOMER: "The customer asked for their money back (the default).",
    RefundReason.DUPLICATE: "The customer was charged twice for the same thing.",
    RefundReason.FRAUDULENT: (
        "The cardholder did not make the payment; PSPs use this to improve their fraud checks."
    ),
    RefundReason.OTHER: (
        "Any other reason. Stripe has none such: paygate sends it no reason and keeps this "
        "one in the refund's metadata there."
    ),
}

DISPUTE_STATUS: dict[DisputeStatus, str] = {
    DisputeStatus.NEEDS_RESPONSE: (
        "The cardholder's bank opened a dispute (a chargeback) or an inquiry: answer at the "
        "PSP with evidence before `evidenceDueBy`, or accept it."
    ),
    DisputeStatus.UNDER_REVIEW: (
        "Evidence is in (or the other party is answering): the bank or the PSP is deciding."
    ),
    DisputeStatus.WON: (
        "Final: decided in the merchant's favour (or withdrawn): the money stays with you."
    ),
    DisputeStatus.LOST: (
        "Final: decided for the cardholder, or the claim was accepted: the money goes back "
        "to them (the payment records `dispute.funds_reversed`)."
    ),
    DisputeStatus.WARNING_CLOSED: (
        "Final: an inquiry or early warning closed without becoming a chargeback, e.g. "
        "because the payment was refunded in time."
    ),
}


PAYMENT_METHOD_SETUP_KIND: dict[SetupKind, str] = {
    SetupKind.CLIENT_SECRET: (
        "Stripe: confirm the set-up in the browser with Stripe.js (Elements) and "
        "`clientSecret`, then attach the payment method (`pm_…`) it returns."
    ),
    SetupKind.REDIRECT: (
        "PayPal: send the customer to `approvalUrl`; once they approved, attach the set-up "
        "token (`reference`)."
    ),
    SetupKind.TOKEN: (
        "Sandbox: attach `token` (`tok_visa`) as it is, or any other magic token such as "
        "`tok_threeDSecureRequired`."
    ),
}
