"""An event's object as the GraphQL API shows it: the same field names, enum names, money
and date formats as a query selecting these fields returns (``tests/events`` compares them
with the API's answers). Related objects appear as ``{"id": ...}``.

Left out on purpose: a payment's ``nextAction.clientSecret`` (for the customer's browser
only), list fields (an event is one object) and what needs a query to compute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.domain.api_values import moment as _when
from app.domain.api_values import money as _money
from app.domain.api_values import name as _name
from app.domain.declines import ADVICE, DeclineCode, RetryAdvice
from app.domain.event_types import EventType
from app.domain.ids import global_id
from app.domain.payments import DisputeStatus, PaymentStatus
from app.models import (
    Coupon,
    CreditNote,
    Customer,
    Dispute,
    Experiment,
    Invoice,
    Payment,
    PaymentMethod,
    PromotionCode,
    Refund,
    Subscription,
    UsageAlertTrigger,
    WebhookEndpoint,
)

Snapshot = dict[str, Any]


def _ref(type_name: str, key: Any) -> Snapshot | None:
    """A related object, as a query of its ``id`` shows it."""
    return None if key is None else {"id": global_id(type_name, key)}


def payment(row: Any) -> Snapshot:
    currency = row.currency
    decline = None
    if row.decline_code is not None:
        code = DeclineCode(row.decline_code)
        decline = {
            "code": code.name,
            "message": row.decline_message or "",
            "retryAdvice": (
                RetryAdvice(row.decline_advice) if row.decline_advice else ADVICE[code]
            ).name,
            "providerCode": row.decline_provider_code,
            "networkDeclineCode": row.decline_network_code,
            "networkAdviceCode": row.decline_network_advice_code,
        }
    next_action = None
    if row.status is PaymentStatus.REQUIRES_ACTION and row.next_action_kind:
        next_action = {"redirectUrl": row.next_action_url}
    return {
        "id": global_id("Payment", row.id),
        "status": row.status.name,
        "amount": _money(row.amount_minor, currency),
        "amountCapturable": _money(row.amount_capturable_minor or 0, currency),
        "amountReceived": _money(row.amount_received_minor or 0, currency),
        "amountRefunded": _money(row.amount_refunded_minor or 0, currency),
        "captureMethod": row.capture_method.name,
        "offSession": row.off_session,
        "decline": decline,
        "nextAction": next_action,
        "outcomeUnknown": row.outcome_unknown_since is not None,
        "psp": row.psp,
        "pspReference": row.psp_reference,
        "description": row.description,
        "metadata": dict(row.metadata_ or {}),
        "createdAt": _when(row.created_at),
        "updatedAt": _when(row.updated_at),
    }


def refund(row: Any) -> Snapshot:
    return {
        "id": global_id("Refund", row.id),
        "status": row.status.name,
        "amount": _money(row.amount_minor, row.currency),
        "reason": row.reason.name,
        "failureReason": row.failure_reason,
        "pspReference": row.psp_reference,
        "createdAt": _when(row.created_at),
        "payment": _ref("Payment", row.payment_id),
    }


def credit_note(row: Any) -> Snapshot:
    currency = row.currency
    return {
        "id": global_id("CreditNote", row.id),
        "number": row.number,
        "status": row.status.name,
        "reason": _name(row.reason),
        "memo": row.memo,
        "subtotal": _money(row.subtotal_minor, currency),
        "tax": _money(row.tax_minor, currency),
        "taxIncluded": _money(row.tax_included_minor, currency),
        "total": _money(row.total_minor, currency),
        "prePaymentAmount": _money(row.pre_payment_minor, currency),
        "refundAmount": _money(row.refund_minor, currency),
        "creditBalanceAmount": _money(row.credit_balance_minor, currency),
        "outOfBandAmount": _money(row.out_of_band_minor, currency),
        "voidedAt": _when(row.voided_at),
        "createdAt": _when(row.created_at),
        "invoice": _ref("Invoice", row.invoice_id),
        "refund": _ref("Refund", row.refund_id),
    }


_OUTCOMES = {DisputeStatus.WON: "won", DisputeStatus.LOST: "lost"}


def dispute(row: Any) -> Snapshot:
    return {
        "id": global_id("Dispute", row.id),
        "status": row.status.name,
        "reason": row.reason,
        "amount": _money(row.amount_minor, row.currency),
        "evidenceDueBy": _when(row.evidence_due_by),
        "outcome": _OUTCOMES.get(row.status),
        "pspReference": row.psp_reference,
        "createdAt": _when(row.created_at),
        "payment": _ref("Payment", row.payment_id),
        "hasEvidence": bool(row.evidence) or row.evidence_submitted_at is not None,
        "evidenceSubmittedAt": _when(row.evidence_submitted_at),
    }


def _collection_stop(row: Any) -> Snapshot | None:
    if row.collection_stop_reason is None or row.collection_stop_action is None:
        return None
    return {
        "reason": row.collection_stop_reason.name,
        "customerAction": row.collection_stop_action.name,
        "stoppedAt": _when(row.collection_stopped_at),
    }


def invoice(row: Any) -> Snapshot:
    currency = row.currency
    return {
        "id": global_id("Invoice", row.id),
        "number": row.number,
        "status": row.status.name,
        "billingReason": row.billing_reason.name,
        "periodStart": _when(row.period_start),
        "periodEnd": _when(row.period_end),
        "subtotal": _money(row.subtotal_minor or 0, currency),
        "discount": _money(row.discount_minor or 0, currency),
        "tax": _money(row.tax_minor or 0, currency),
        "taxIncluded": _money(row.tax_included_minor or 0, currency),
        "total": _money(row.total_minor or 0, currency),
        "amountPaid": _money(row.amount_paid_minor or 0, currency),
        "amountCredited": _money(row.amount_credited_minor or 0, currency),
        "creditBalanceApplied": _money(row.balance_applied_minor or 0, currency),
        "amountRemaining": _money(
            (row.total_minor or 0)
            - (row.amount_paid_minor or 0)
            - (row.amount_credited_minor or 0)
            - (row.balance_applied_minor or 0),
            currency,
        ),
        "attemptCount": row.attempt_count or 0,
        "dueDate": _when(row.due_date),
        "paidAt": _when(row.paid_at),
        "createdAt": _when(row.created_at),
        "collectionStop": _collection_stop(row),
    }


def subscription(row: Any) -> Snapshot:
    return {
        "id": global_id("Subscription", row.id),
        "status": row.status.name,
        "currentPeriodStart": _when(row.current_period_start),
        "currentPeriodEnd": _when(row.current_period_end),
        "trialEnd": _when(row.trial_end),
        "cancelAtPeriodEnd": bool(row.cancel_at_period_end),
        "canceledAt": _when(row.canceled_at),
        "endedAt": _when(row.ended_at),
        "nextRetryAt": _when(row.next_retry_at),
        "createdAt": _when(row.created_at),
        "collectionStop": _collection_stop(row),
        "experiment": _ref("Experiment", row.experiment_id),
    }


def customer(row: Any) -> Snapshot:
    return {
        "id": global_id("Customer", row.id),
        "email": row.email,
        "name": row.name,
        "country": row.country,
        "locale": row.locale,
        "metadata": dict(row.metadata_ or {}),
        "createdAt": _when(row.created_at),
        "updatedAt": _when(row.updated_at),
        "testClockId": None
        if row.test_clock_id is None
        else global_id("TestClock", row.test_clock_id),
        "erasedAt": _when(row.erased_at),
    }


def payment_method(row: Any) -> Snapshot:
    return {
        "id": global_id("PaymentMethod", row.id),
        "psp": row.psp.upper(),
        "type": row.type,
        "brand": row.brand,
        "last4": row.last4,
        "expMonth": row.exp_month,
        "expYear": row.exp_year,
        "wallet": row.wallet,
        "email": row.email,
        "isDefault": bool(row.is_default),
        "isDetached": row.detached_at is not None,
        "createdAt": _when(row.created_at),
    }


def experiment(row: Any) -> Snapshot:
    return {
        "id": global_id("Experiment", row.id),
        "key": row.key,
        "name": row.name,
        "hypothesis": row.hypothesis,
        "status": row.status.name,
        "statusReason": row.status_reason,
        "currency": row.currency,
        "winnerShipped": bool(row.winner_shipped),
        "createdAt": _when(row.created_at),
        "startedAt": _when(row.started_at),
        "pausedAt": _when(row.paused_at),
        "concludedAt": _when(row.concluded_at),
        "archivedAt": _when(row.archived_at),
    }


def _percent(basis_points: int | None) -> str | None:
    if basis_points is None:
        return None
    return f"{basis_points // 100}.{basis_points % 100:02d}"


def coupon(row: Any) -> Snapshot:
    return {
        "id": global_id("Coupon", row.id),
        "code": row.code,
        "name": row.name,
        "percentOff": _percent(row.percent_off_bp),
        "amountOff": _money(row.amount_off_minor, row.currency),
        "duration": _name(row.duration),
        "durationInMonths": row.duration_in_months,
        "maxRedemptions": row.max_redemptions,
        "timesRedeemed": row.times_redeemed,
        "redeemBy": _when(row.redeem_by),
        "active": bool(row.active),
    }


def promotion_code(row: Any) -> Snapshot:
    return {
        "id": global_id("PromotionCode", row.id),
        "code": row.code,
        "active": bool(row.active),
        "maxRedemptions": row.max_redemptions,
        "timesRedeemed": row.times_redeemed,
        "expiresAt": _when(row.expires_at),
        "firstTimeOnly": bool(row.first_time_only),
        "minimumAmount": _money(row.minimum_amount_minor, row.minimum_amount_currency),
        "customerId": None if row.customer_id is None else global_id("Customer", row.customer_id),
        "createdAt": _when(row.created_at),
        "coupon": _ref("Coupon", row.coupon_id),
    }


def webhook_endpoint(row: Any) -> Snapshot:
    """No secret, ever."""
    return {
        "id": global_id("WebhookEndpoint", row.id),
        "url": row.url,
        "description": row.description,
        "eventTypes": sorted(EventType(value).name for value in row.event_types),
        "enabled": row.disabled_at is None,
        "disabledAt": _when(row.disabled_at),
        "disabledReason": _name(row.disabled_reason),
        "failingSince": _when(row.failing_since),
        "createdAt": _when(row.created_at),
    }


def usage_alert_trigger(row: Any) -> Snapshot:
    return {
        "id": global_id("UsageAlertTrigger", row.id),
        "alertId": global_id("UsageAlert", row.alert_id),
        "meterId": global_id("Meter", row.meter_id),
        "customerId": global_id("Customer", row.customer_id),
        "subscriptionId": global_id("Subscription", row.subscription_id),
        "periodStart": _when(row.period_start),
        "quantity": row.quantity,
        "threshold": row.threshold,
        "createdAt": _when(row.created_at),
    }


# The GraphQL type name and the snapshot of each model an event can be about.
SNAPSHOTS: dict[type, tuple[str, Callable[[Any], Snapshot]]] = {
    Payment: ("Payment", payment),
    Refund: ("Refund", refund),
    CreditNote: ("CreditNote", credit_note),
    Dispute: ("Dispute", dispute),
    Invoice: ("Invoice", invoice),
    Subscription: ("Subscription", subscription),
    Customer: ("Customer", customer),
    PaymentMethod: ("PaymentMethod", payment_method),
    Experiment: ("Experiment", experiment),
    Coupon: ("Coupon", coupon),
    PromotionCode: ("PromotionCode", promotion_code),
    WebhookEndpoint: ("WebhookEndpoint", webhook_endpoint),
    UsageAlertTrigger: ("UsageAlertTrigger", usage_alert_trigger),
}

# Keys of a snapshot that hold personal data (removed from a customer's events by an
# erasure, as ``app.domain.personal_data`` removes them from PSP payloads).
PERSONAL = frozenset({"email", "name", "locale", "metadata", "description", "memo"})
