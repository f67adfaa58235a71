"""Which events a change of a row states: the business facts, read from what a flush wrote.

A status that moves states its fact (a payment's ``SUCCEEDED``, an invoice's ``VOID``); a
new row states its creation; an object with an ``.updated`` event states it when a field of
its snapshot changed. Some facts are about a second object (a refund that succeeded: the
payment is refunded; an invoice's payment that failed): they name it, and the recorder
snapshots it when the transaction commits.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.domain.billing import InvoiceStatus, SubscriptionStatus
from app.domain.credit_notes import CreditNoteStatus
from app.domain.event_types import EventType as T
from app.domain.experiments.lifecycle import ExperimentStatus
from app.domain.payments import DisputeStatus, PaymentStatus, RefundStatus
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
)


@dataclass(frozen=True, slots=True)
class Fact:
    type: T
    model: builtins.type  # the object the event is about: the changed row's class, or another
    key: uuid.UUID | None = None  # another object's key (None: the changed row itself)


_PAYMENT = {
    PaymentStatus.REQUIRES_ACTION: T.PAYMENT_REQUIRES_ACTION,
    PaymentStatus.PROCESSING: T.PAYMENT_PROCESSING,
    PaymentStatus.REQUIRES_CAPTURE: T.PAYMENT_REQUIRES_CAPTURE,
    PaymentStatus.SUCCEEDED: T.PAYMENT_SUCCEEDED,
    PaymentStatus.FAILED: T.PAYMENT_FAILED,
    PaymentStatus.CANCELED: T.PAYMENT_CANCELED,
}
_REFUND = {
    RefundStatus.SUCCEEDED: T.REFUND_SUCCEEDED,
    RefundStatus.FAILED: T.REFUND_FAILED,
    RefundStatus.CANCELED: T.REFUND_CANCELED,
}
_DISPUTE_CLOSED = frozenset({DisputeStatus.WON, DisputeStatus.LOST, DisputeStatus.WARNING_CLOSED})
_INVOICE = {
    InvoiceStatus.OPEN: T.INVOICE_FINALIZED,
    InvoiceStatus.PAID: T.INVOICE_PAID,
    InvoiceStatus.VOID: T.INVOICE_VOIDED,
    InvoiceStatus.UNCOLLECTIBLE: T.INVOICE_MARKED_UNCOLLECTIBLE,
}
_SUBSCRIPTION = {
    SubscriptionStatus.PAST_DUE: T.SUBSCRIPTION_PAST_DUE,
    SubscriptionStatus.CANCELED: T.SUBSCRIPTION_CANCELED,
    SubscriptionStatus.PAUSED: T.SUBSCRIPTION_PAUSED,
}
_EXPERIMENT = {
    ExperimentStatus.RUNNING: T.EXPERIMENT_STARTED,
    ExperimentStatus.PAUSED: T.EXPERIMENT_PAUSED,
    ExperimentStatus.CONCLUDED: T.EXPERIMENT_CONCLUDED,
}


def of(row: Any, *, new: bool, changed: frozenset[str], before: Any) -> Iterator[Fact]:
    """The facts a flush of ``row`` states: ``new`` for an INSERT, else ``changed`` names its
    modified attributes and ``before`` reads their previous values; ``visible`` (below)
    is whether its snapshot changed."""
    kind = type(row)
    status_moved = new or "status" in changed
    if kind is Payment:
        if new:
            yield Fact(T.PAYMENT_CREATED, Payment)
        if status_moved and row.status in _PAYMENT:
            yield Fact(_PAYMENT[row.status], Payment)
            if row.status is PaymentStatus.FAILED and row.invoice_id is not None:
                yield Fact(T.INVOICE_PAYMENT_FAILED, Invoice, row.invoice_id)
    elif kind is Refund:
        if new:
            yield Fact(T.REFUND_CREATED, Refund)
        if status_moved and row.status in _REFUND:
            yield Fact(_REFUND[row.status], Refund)
            if row.status is RefundStatus.SUCCEEDED:
                yield Fact(T.PAYMENT_REFUNDED, Payment, row.payment_id)
    elif kind is Dispute:
        if new:
            yield Fact(T.DISPUTE_CREATED, Dispute)
        elif status_moved and row.status in _DISPUTE_CLOSED:
            yield Fact(T.DISPUTE_CLOSED, Dispute)
        elif changed - {"updated_at"}:
            yield Fact(T.DISPUTE_UPDATED, Dispute)
    elif kind is Invoice:
        if new:
            yield Fact(T.INVOICE_CREATED, Invoice)
        if status_moved and row.status in _INVOICE:
            yield Fact(_INVOICE[row.status], Invoice)
    elif kind is Subscription:
        yield from _subscription(row, new=new, status_moved=status_moved, before=before)
    elif kind is Customer:
        if new:
            yield Fact(T.CUSTOMER_CREATED, Customer)
        elif "erased_at" in changed and row.erased_at is not None:
            yield Fact(T.CUSTOMER_ERASED, Customer)
        elif changed:
            yield Fact(T.CUSTOMER_UPDATED, Customer)
    elif kind is PaymentMethod:
        if new:
            yield Fact(T.PAYMENT_METHOD_ATTACHED, PaymentMethod)
        elif "detached_at" in changed and row.detached_at is not None:
            yield Fact(T.PAYMENT_METHOD_DETACHED, PaymentMethod)
        elif "is_default" in changed:
            yield Fact(T.PAYMENT_METHOD_UPDATED, PaymentMethod)
    elif kind is CreditNote:
        if new:
            yield Fact(T.CREDIT_NOTE_CREATED, CreditNote)
        elif status_moved and row.status is CreditNoteStatus.VOID:
            yield Fact(T.CREDIT_NOTE_VOIDED, CreditNote)
    elif kind is Experiment and status_moved and row.status in _EXPERIMENT:
        yield Fact(_EXPERIMENT[row.status], Experiment)
    elif kind is PromotionCode:
        if new:
            yield Fact(T.PROMOTION_CODE_CREATED, PromotionCode)
        elif "active" in changed:  # (a redemption's count is not an event)
            yield Fact(T.PROMOTION_CODE_UPDATED, PromotionCode)
    elif kind is Coupon and not new and "active" in changed:
        yield Fact(T.COUPON_UPDATED, Coupon)


def _subscription(row: Any, *, new: bool, status_moved: bool, before: Any) -> Iterator[Fact]:
    if new:
        yield Fact(T.SUBSCRIPTION_CREATED, Subscription)
        return
    if status_moved and row.status in _SUBSCRIPTION:
        yield Fact(_SUBSCRIPTION[row.status], Subscription)
    elif status_moved and before.status is SubscriptionStatus.PAUSED:
        yield Fact(T.SUBSCRIPTION_RESUMED, Subscription)
    else:
        # Any other change (a status such as ACTIVE after the first payment, a renewal's
        # new period, a plan change, which touches ``updated_at``).
        yield Fact(T.SUBSCRIPTION_UPDATED, Subscription)


# Kinds whose rows state facts (the recorder looks only at these).
TRACKED = frozenset(
    {
        Payment,
        Refund,
        Dispute,
        Invoice,
        Subscription,
        Customer,
        PaymentMethod,
        Experiment,
        CreditNote,
        Coupon,
        PromotionCode,
    }
)


def owner(row: Any) -> uuid.UUID | None:
    """The customer whose personal data an event about ``row`` may hold."""
    if isinstance(row, Customer):
        return row.id
    return getattr(row, "customer_id", None)
