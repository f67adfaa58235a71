"""The types of the events paygate publishes (the outbox, ``events(after:)``, webhooks to
merchants, the event bus, live subscriptions): one per business fact, named
``<object>.<fact>`` as Stripe and the Standard Webhooks examples name theirs."""

from __future__ import annotations

import enum

# The shape of ``data`` and ``previous``: an event carries its object as this version of the
# GraphQL API showed it. A consumer keys its parsing on it; it changes only when a field of
# an event's object changes meaning or disappears (additions keep the version).
API_VERSION = "2026-12-01"


class EventType(enum.Enum):
    PAYMENT_CREATED = "payment.created"
    PAYMENT_REQUIRES_ACTION = "payment.requires_action"
    PAYMENT_PROCESSING = "payment.processing"
    PAYMENT_REQUIRES_CAPTURE = "payment.requires_capture"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELED = "payment.canceled"
    PAYMENT_REFUNDED = "payment.refunded"
    REFUND_CREATED = "refund.created"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    REFUND_CANCELED = "refund.canceled"
    DISPUTE_CREATED = "dispute.created"
    DISPUTE_UPDATED = "dispute.updated"
    DISPUTE_CLOSED = "dispute.closed"
    DISPUTE_EVIDENCE_DUE_SOON = "dispute.evidence_due_soon"
    INVOICE_CREATED = "invoice.created"
    INVOICE_FINALIZED = "invoice.finalized"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
    INVOICE_VOIDED = "invoice.voided"
    INVOICE_MARKED_UNCOLLECTIBLE = "invoice.marked_uncollectible"
    CREDIT_NOTE_CREATED = "credit_note.created"
    CREDIT_NOTE_VOIDED = "credit_note.voided"
    SUBSCRIPTION_CREATED = "subscription.created"
    SUBSCRIPTION_UPDATED = "subscription.updated"
    SUBSCRIPTION_TRIAL_WILL_END = "subscription.trial_will_end"
    SUBSCRIPTION_PAST_DUE = "subscription.past_due"
    SUBSCRIPTION_CANCELED = "subscription.canceled"
    SUBSCRIPTION_PAUSED = "subscription.paused"
    SUBSCRIPTION_RESUMED = "subscription.resumed"
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_UPDATED = "customer.updated"
    CUSTOMER_ERASED = "customer.erased"
    PAYMENT_METHOD_ATTACHED = "payment_method.attached"
    PAYMENT_METHOD_UPDATED = "payment_method.updated"
    PAYMENT_METHOD_DETACHED = "payment_method.detached"
    EXPERIMENT_STARTED = "experiment.started"
    EXPERIMENT_PAUSED = "experiment.paused"
    EXPERIMENT_CONCLUDED = "experiment.concluded"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
    USAGE_ALERT_TRIGGERED = "usage.alert_triggered"
    COUPON_UPDATED = "coupon.updated"
    PROMOTION_CODE_CREATED = "promotion_code.created"
    PROMOTION_CODE_UPDATED = "promotion_code.updated"


# Stripe's notice period for subscription.trial_will_end.
TRIAL_WILL_END_NOTICE_DAYS = 3


def known(value: str) -> bool:
    return value in _VALUES


_VALUES = frozenset(t.value for t in EventType)
