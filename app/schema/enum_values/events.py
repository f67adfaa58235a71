"""Event types: the business fact each one states (``app.domain.event_types``)."""

from app.domain.event_types import EventType as T

_FACTS: dict[T, str] = {
    T.PAYMENT_CREATED: "A payment was recorded (before the PSP answers).",
    T.PAYMENT_REQUIRES_ACTION: "A payment waits for the customer (3-D Secure, a redirect).",
    T.PAYMENT_PROCESSING: "A payment is in progress at the PSP.",
    T.PAYMENT_REQUIRES_CAPTURE: "A payment is authorised and waits for its capture.",
    T.PAYMENT_SUCCEEDED: "A payment succeeded: the money is captured.",
    T.PAYMENT_FAILED: "A payment failed (its `decline` says why).",
    T.PAYMENT_CANCELED: "A payment was canceled before capture.",
    T.PAYMENT_REFUNDED: "A refund of a payment succeeded (`amountRefunded` has grown).",
    T.REFUND_CREATED: "A refund was requested.",
    T.REFUND_SUCCEEDED: "A refund succeeded.",
    T.REFUND_FAILED: "A refund failed (`failureReason`).",
    T.REFUND_CANCELED: "A refund was canceled.",
    T.DISPUTE_CREATED: "The cardholder disputed a payment (a chargeback).",
    T.DISPUTE_UPDATED: "A dispute changed (status, evidence due date, amount).",
    T.DISPUTE_CLOSED: "A dispute was won, lost or closed as a warning.",
    T.DISPUTE_EVIDENCE_DUE_SOON: (
        "A dispute still needs its evidence and is due within "
        "`dispute_evidence_notice_days` (default 3): once per dispute and due date."
    ),
    T.INVOICE_CREATED: "An invoice was drafted.",
    T.INVOICE_FINALIZED: "An invoice was finalized: numbered, open, to be paid.",
    T.INVOICE_PAID: "An invoice was paid in full.",
    T.INVOICE_PAYMENT_FAILED: "A payment of an invoice failed.",
    T.INVOICE_VOIDED: "An invoice was voided.",
    T.INVOICE_MARKED_UNCOLLECTIBLE: "An invoice was marked uncollectible.",
    T.CREDIT_NOTE_CREATED: "A credit note was issued for an invoice.",
    T.CREDIT_NOTE_VOIDED: "A credit note was voided.",
    T.SUBSCRIPTION_CREATED: "A subscription was created.",
    T.SUBSCRIPTION_UPDATED: "A subscription changed (status, period, plan, cancellation).",
    T.SUBSCRIPTION_TRIAL_WILL_END: "A subscription's trial ends in three days.",
    T.SUBSCRIPTION_PAST_DUE: "A renewal failed: the subscription is past due, dunning runs.",
    T.SUBSCRIPTION_CANCELED: "A subscription ended.",
    T.SUBSCRIPTION_PAUSED: "A subscription was paused.",
    T.SUBSCRIPTION_RESUMED: "A paused subscription was resumed.",
    T.CUSTOMER_CREATED: "A customer was created.",
    T.CUSTOMER_UPDATED: "A customer's details changed.",
    T.CUSTOMER_ERASED: "A customer's personal data was erased (GDPR).",
    T.PAYMENT_METHOD_ATTACHED: "A payment method was saved to a customer.",
    T.PAYMENT_METHOD_UPDATED: "A payment method became, or stopped being, the default.",
    T.PAYMENT_METHOD_DETACHED: "A payment method was removed from a customer.",
    T.EXPERIMENT_STARTED: "A pricing experiment started (or resumed).",
    T.EXPERIMENT_PAUSED: "A pricing experiment was paused (by hand or by a guardrail).",
    T.EXPERIMENT_CONCLUDED: "A pricing experiment was concluded.",
    T.WEBHOOK_ENDPOINT_DISABLED: "A webhook endpoint was disabled after days of failures.",
    T.USAGE_ALERT_TRIGGERED: (
        "A customer's usage of a meter in a billing period reached a usage alert's quantity "
        "(once per alert, customer and period)."
    ),
    T.COUPON_UPDATED: "A coupon was deactivated: no new redemptions.",
    T.PROMOTION_CODE_CREATED: "A promotion code was created for a coupon.",
    T.PROMOTION_CODE_UPDATED: "A promotion code was deactivated: no new redemptions.",
}

EVENT_TYPE: dict[T, str] = {t: f"`{t.value}`: {fact}" for t, fact in _FACTS.items()}
