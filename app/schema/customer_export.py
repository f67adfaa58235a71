"""The customer data export document (``exportCustomerData``), format
``paygate-customer-export/v1``; documented in the README ("GDPR: erasure and export").

Conventions, as in the API: keys in camelCase; objects carry their global ``id`` (the one
the API takes) and foreign objects appear as global IDs (``…Id``); money is
``{"amount": "12.30", "amountMinor": "1230", "currency": "USD"}`` (exact decimal strings);
timestamps are ISO 8601 in UTC as the API's ``DateTime`` writes them
(``2026-01-15T12:00:00+00:00``); enums are their GraphQL names
(``SUCCEEDED``); absent values are ``null``, never left out; lists are oldest first. A new
field may be added within v1; renaming or removing one makes v2.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from app.domain.api_values import gid as _gid
from app.domain.api_values import moment as _time
from app.domain.api_values import money as _money
from app.domain.api_values import name as _enum
from app.models import (
    Coupon,
    Dispute,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentEvent,
    PaymentMethod,
    Refund,
    Subscription,
)
from app.services.customer_export import CustomerRecords

FORMAT = "paygate-customer-export/v1"
Json = dict[str, Any]


def _percent(basis_points: int | None) -> str | None:
    if basis_points is None:
        return None
    return f"{basis_points // 100}.{basis_points % 100:02d}"


def export_document(records: CustomerRecords, *, exported_at: datetime) -> Json:
    customer = records.customer
    events: dict[uuid.UUID, list[PaymentEvent]] = defaultdict(list)
    refunds: dict[uuid.UUID, list[Refund]] = defaultdict(list)
    disputes: dict[uuid.UUID, list[Dispute]] = defaultdict(list)
    for event in records.payment_events:
        events[event.payment_id].append(event)
    for refund in records.refunds:
        refunds[refund.payment_id].append(refund)
    for dispute in records.disputes:
        disputes[dispute.payment_id].append(dispute)
    lines: dict[uuid.UUID | None, list[InvoiceLine]] = defaultdict(list)
    for line in records.invoice_lines:
        lines[line.invoice_id].append(line)
    items = defaultdict(list)
    for item in records.subscription_items:
        items[item.subscription_id].append(item)
    clock = records.test_clock
    return {
        "format": FORMAT,
        "exportedAt": _time(exported_at),
        "customer": {
            "id": _gid("Customer", customer.id),
            "email": customer.email,
            "name": customer.name,
            "country": customer.country,
            "locale": customer.locale,
            "metadata": dict(customer.metadata_),
            "createdAt": _time(customer.created_at),
            "updatedAt": _time(customer.updated_at),
            "erasedAt": _time(customer.erased_at),
        },
        "testClock": None
        if clock is None
        else {
            "id": _gid("TestClock", clock.id),
            "name": clock.name,
            "frozenTime": _time(clock.frozen_time),
        },
        "pspCustomers": [
            {
                "psp": row.psp,
                "pspCustomerId": row.psp_customer_id,
                "createdAt": _time(row.created_at),
                "deletionRequestedAt": _time(row.deletion_requested_at),
                "deletedAt": _time(row.deleted_at),
            }
            for row in records.psp_customers
        ],
        "paymentMethods": [_payment_method(row) for row in records.payment_methods],
        "payments": [
            _payment(row, events[row.id], refunds[row.id], disputes[row.id])
            for row in records.payments
        ],
        "subscriptions": [
            {
                **_subscription(row),
                "items": [
                    {
                        "priceId": _gid("Price", item.price_id),
                        "quantity": item.quantity,
                        "unitAmount": _money(item.unit_amount_minor, row.currency),
                        "createdAt": _time(item.created_at),
                    }
                    for item in items[row.id]
                ],
            }
            for row in records.subscriptions
        ],
        "invoices": [
            {**_invoice(row), "lines": [_line(line) for line in lines[row.id]]}
            for row in records.invoices
        ],
        "pendingInvoiceItems": [_line(line) for line in lines[None]],
        "couponsRedeemed": [_coupon(row) for row in records.coupons],
    }


def _payment_method(row: PaymentMethod) -> Json:
    return {
        "id": _gid("PaymentMethod", row.id),
        "psp": row.psp,
        "pspReference": row.psp_reference,
        "type": row.type,
        "brand": row.brand,
        "last4": row.last4,
        "expMonth": row.exp_month,
        "expYear": row.exp_year,
        "wallet": row.wallet,
        "fingerprint": row.fingerprint,
        "email": row.email,
        "isDefault": row.is_default,
        "createdAt": _time(row.created_at),
        "detachedAt": _time(row.detached_at),
    }


def _payment(
    row: Payment, events: list[PaymentEvent], refunds: list[Refund], disputes: list[Dispute]
) -> Json:
    currency = row.currency
    return {
        "id": _gid("Payment", row.id),
        "psp": row.psp,
        "pspReference": row.psp_reference,
        "status": _enum(row.status),
        "captureMethod": _enum(row.capture_method),
        "offSession": row.off_session,
        "amount": _money(row.amount_minor, currency),
        "amountCapturable": _money(row.amount_capturable_minor, currency),
        "amountReceived": _money(row.amount_received_minor, currency),
        "amountRefunded": _money(row.amount_refunded_minor, currency),
        "decline": None
        if row.decline_code is None
        else {
            "code": row.decline_code,
            "message": row.decline_message,
            "providerCode": row.decline_provider_code,
        },
        "description": row.description,
        "metadata": dict(row.metadata_),
        "returnUrl": row.return_url,
        "invoiceId": _gid("Invoice", row.invoice_id),
        "paymentMethodId": _gid("PaymentMethod", row.payment_method_id),
        "createdAt": _time(row.created_at),
        "updatedAt": _time(row.updated_at),
        "events": [
            {
                "type": event.type,
                "source": event.source,
                "status": event.status,
                "amount": _money(event.amount_minor, event.currency),
                "refundId": _gid("Refund", event.refund_id),
                "disputeId": _gid("Dispute", event.dispute_id),
                "pspEventId": event.psp_event_id,
                "createdAt": _time(event.created_at),
            }
            for event in events
        ],
        "refunds": [
            {
                "id": _gid("Refund", refund.id),
                "pspReference": refund.psp_reference,
                "status": _enum(refund.status),
                "reason": _enum(refund.reason),
                "amount": _money(refund.amount_minor, refund.currency),
                "failureReason": refund.failure_reason,
                "createdAt": _time(refund.created_at),
                "updatedAt": _time(refund.updated_at),
            }
            for refund in refunds
        ],
        "disputes": [
            {
                "id": _gid("Dispute", dispute.id),
                "pspReference": dispute.psp_reference,
                "status": _enum(dispute.status),
                "reason": dispute.reason,
                "amount": _money(dispute.amount_minor, dispute.currency),
                "evidenceDueBy": _time(dispute.evidence_due_by),
                "createdAt": _time(dispute.created_at),
                "updatedAt": _time(dispute.updated_at),
            }
            for dispute in disputes
        ],
    }


def _subscription(row: Subscription) -> Json:
    return {
        "id": _gid("Subscription", row.id),
        "status": _enum(row.status),
        "currency": row.currency,
        "interval": _enum(row.interval),
        "intervalCount": row.interval_count,
        "billingCycleAnchor": _time(row.billing_cycle_anchor),
        "currentPeriodStart": _time(row.current_period_start),
        "currentPeriodEnd": _time(row.current_period_end),
        "trialStart": _time(row.trial_start),
        "trialEnd": _time(row.trial_end),
        "cancelAtPeriodEnd": row.cancel_at_period_end,
        "canceledAt": _time(row.canceled_at),
        "endedAt": _time(row.ended_at),
        "couponId": _gid("Coupon", row.coupon_id),
        "defaultPaymentMethodId": _gid("PaymentMethod", row.default_payment_method_id),
        "createdAt": _time(row.created_at),
    }


def _invoice(row: Invoice) -> Json:
    currency = row.currency
    return {
        "id": _gid("Invoice", row.id),
        "number": row.number,
        "status": _enum(row.status),
        "billingReason": _enum(row.billing_reason),
        "currency": currency,
        "periodStart": _time(row.period_start),
        "periodEnd": _time(row.period_end),
        "subtotal": _money(row.subtotal_minor, currency),
        "discount": _money(row.discount_minor, currency),
        "tax": _money(row.tax_minor, currency),
        "taxIncluded": _money(row.tax_included_minor, currency),
        "total": _money(row.total_minor, currency),
        "amountPaid": _money(row.amount_paid_minor, currency),
        "amountRemaining": _money(
            row.total_minor
            - row.amount_paid_minor
            - row.amount_credited_minor
            - row.balance_applied_minor,
            currency,
        ),
        "subscriptionId": _gid("Subscription", row.subscription_id),
        "couponId": _gid("Coupon", row.coupon_id),
        "taxRateId": _gid("TaxRate", row.tax_rate_id),
        "attemptCount": row.attempt_count,
        "dueDate": _time(row.due_date),
        "finalizedAt": _time(row.finalized_at),
        "paidAt": _time(row.paid_at),
        "voidedAt": _time(row.voided_at),
        "createdAt": _time(row.created_at),
    }


def _line(row: InvoiceLine) -> Json:
    currency = row.currency
    return {
        "description": row.description,
        "quantity": row.quantity,
        "unitAmount": _money(row.unit_amount_minor, currency),
        "amount": _money(row.amount_minor, currency),
        "discount": _money(row.discount_minor, currency),
        "tax": _money(row.tax_minor, currency),
        "taxIncluded": _money(row.tax_included_minor, currency),
        "proration": row.proration,
        "periodStart": _time(row.period_start),
        "periodEnd": _time(row.period_end),
        "priceId": _gid("Price", row.price_id),
        "subscriptionId": _gid("Subscription", row.subscription_id),
        "createdAt": _time(row.created_at),
    }


def _coupon(row: Coupon) -> Json:
    return {
        "id": _gid("Coupon", row.id),
        "code": row.code,
        "name": row.name,
        "percentOff": _percent(row.percent_off_bp),
        "amountOff": _money(row.amount_off_minor, row.currency),
        "duration": _enum(row.duration),
        "durationInMonths": row.duration_in_months,
    }
