"""The money invariants, checked against the whole database (``paygate verify``).

Each check is one read-only query that lists the rows breaking one rule; nothing is locked
or changed, so operators can run it against production at any time, and the tests run it
after every concurrency test on PostgreSQL and SQLite. The rules:

- ``payment.refunded``: a payment's ``amountRefunded`` is the sum of its refunds that are
  pending or succeeded (a pending refund's amount is reserved against the payment).
- ``payment.amounts``: received ≤ amount, capturable ≤ amount, refunded ≤ received.
- ``invoice.total``: total = subtotal - discount + tax, and the subtotal, discount and tax
  are the sums of the invoice's lines.
- ``invoice.paid``: what the invoice's payments received is what the invoice counts as
  paid, never more than its total (an invoice paid twice breaks both), and a ``PAID``
  invoice with something to collect was paid in full.
- ``subscription.period``: one invoice per subscription and billing period.
- ``coupon.redemptions``: a coupon's redemption count is the number of its redemptions in
  the ledger (a row per subscription that took it, not given back), within its maximum.
- ``promotion_code.redemptions``: the same for a promotion code.
- ``idempotency.effects``: one idempotency key (per caller and mutation, within its 24 hours)
  answered with one set of objects: a second object made under a key is a second effect.
  Read from the append-only audit log, where keys are kept as digests.
- ``credit_note.within_invoice`` and ``credit_balance.ledger``: ``app.services.credit_invariants``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.billing import InvoiceStatus
from app.domain.errors import ErrorCode
from app.domain.payments import RefundStatus
from app.models import (
    AuditEvent,
    Coupon,
    CouponRedemption,
    Invoice,
    InvoiceLine,
    Payment,
    PromotionCode,
    Refund,
)
from app.services import credit_invariants
from app.services.idempotency import RETENTION


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: which, on what (a table and key), and the figures that disagree."""

    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule} {self.subject}: {self.detail}"


def _sum(column: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(column), 0)


def _refunds_reserved() -> sa.ScalarSelect[Any]:
    return (
        sa.select(_sum(Refund.amount_minor))
        .where(
            Refund.payment_id == Payment.id,
            Refund.status.in_([RefundStatus.PENDING, RefundStatus.SUCCEEDED]),
        )
        .scalar_subquery()
    )


async def _payment_refunded(connection: AsyncConnection) -> AsyncIterator[Violation]:
    reserved = _refunds_reserved().label("reserved")
    rows = await connection.execute(
        sa.select(Payment.id, Payment.currency, Payment.amount_refunded_minor, reserved).where(
            Payment.amount_refunded_minor != _refunds_reserved()
        )
    )
    for payment_id, currency, refunded, summed in rows:
        yield Violation(
            "payment.refunded",
            f"payment {payment_id}",
            f"amountRefunded is {refunded} minor units of {currency}, its pending and "
            f"succeeded refunds add up to {summed}",
        )


async def _payment_amounts(connection: AsyncConnection) -> AsyncIterator[Violation]:
    rows = await connection.execute(
        sa.select(
            Payment.id,
            Payment.amount_minor,
            Payment.amount_capturable_minor,
            Payment.amount_received_minor,
            Payment.amount_refunded_minor,
        ).where(
            sa.or_(
                Payment.amount_received_minor > Payment.amount_minor,
                Payment.amount_capturable_minor > Payment.amount_minor,
                Payment.amount_refunded_minor > Payment.amount_received_minor,
                Payment.amount_received_minor < 0,
                Payment.amount_refunded_minor < 0,
            )
        )
    )
    for payment_id, amount, capturable, received, refunded in rows:
        yield Violation(
            "payment.amounts",
            f"payment {payment_id}",
            f"amount {amount}, capturable {capturable}, received {received}, "
            f"refunded {refunded} (minor units)",
        )


async def _invoice_total(connection: AsyncConnection) -> AsyncIterator[Violation]:
    def of_lines(column: Any) -> sa.ScalarSelect[Any]:
        return sa.select(_sum(column)).where(InvoiceLine.invoice_id == Invoice.id).scalar_subquery()

    lines = (
        of_lines(InvoiceLine.amount_minor),
        of_lines(InvoiceLine.discount_minor),
        of_lines(InvoiceLine.tax_minor),
    )
    rows = await connection.execute(
        sa.select(
            Invoice.id,
            Invoice.total_minor,
            Invoice.subtotal_minor,
            Invoice.discount_minor,
            Invoice.tax_minor,
            *(line.label(f"lines_{i}") for i, line in enumerate(lines)),
        ).where(
            sa.or_(
                Invoice.total_minor
                != Invoice.subtotal_minor - Invoice.discount_minor + Invoice.tax_minor,
                Invoice.subtotal_minor != lines[0],
                # lines are discounted and taxed at finalization: drafts have neither yet
                sa.and_(
                    Invoice.finalized_at.is_not(None),
                    sa.or_(Invoice.discount_minor != lines[1], Invoice.tax_minor != lines[2]),
                ),
            )
        )
    )
    for invoice_id, total, subtotal, discount, tax, l_amount, l_discount, l_tax in rows:
        yield Violation(
            "invoice.total",
            f"invoice {invoice_id}",
            f"total {total} = subtotal {subtotal} - discount {discount} + tax {tax}; "
            f"its lines add up to {l_amount}, discount {l_discount}, tax {l_tax}",
        )


async def _invoice_paid(connection: AsyncConnection) -> AsyncIterator[Violation]:
    received = (
        sa.select(_sum(Payment.amount_received_minor))
        .where(Payment.invoice_id == Invoice.id)
        .scalar_subquery()
    )
    rows = await connection.execute(
        sa.select(
            Invoice.id,
            Invoice.status,
            Invoice.total_minor,
            Invoice.amount_paid_minor,
            received.label("received"),
        ).where(
            sa.or_(
                Invoice.amount_paid_minor != received,
                received > sa.case((Invoice.total_minor > 0, Invoice.total_minor), else_=0),
                sa.and_(
                    Invoice.status == InvoiceStatus.PAID,
                    Invoice.total_minor > 0,
                    Invoice.amount_paid_minor
                    + Invoice.amount_credited_minor
                    + Invoice.balance_applied_minor
                    != Invoice.total_minor,
                ),
            )
        )
    )
    for invoice_id, status, total, paid, summed in rows:
        yield Violation(
            "invoice.paid",
            f"invoice {invoice_id}",
            f"status {status.value}, total {total}, amountPaid {paid}; its payments "
            f"received {summed}",
        )


async def _subscription_period(connection: AsyncConnection) -> AsyncIterator[Violation]:
    rows = await connection.execute(
        sa.select(Invoice.subscription_id, Invoice.billing_period_start, sa.func.count())
        .where(Invoice.subscription_id.is_not(None), Invoice.billing_period_start.is_not(None))
        .group_by(Invoice.subscription_id, Invoice.billing_period_start)
        .having(sa.func.count() > 1)
    )
    for subscription_id, start, count in rows:
        yield Violation(
            "subscription.period",
            f"subscription {subscription_id}",
            f"{count} invoices for the period starting {start.isoformat() if start else None}",
        )


async def _coupon_redemptions(connection: AsyncConnection) -> AsyncIterator[Violation]:
    for model, column, rule, name in (
        (Coupon, CouponRedemption.coupon_id, "coupon.redemptions", "coupon"),
        (PromotionCode, CouponRedemption.promotion_code_id, "promotion_code.redemptions",
         "promotion code"),
    ):  # fmt: skip
        redeemed = (
            sa.select(sa.func.count())
            .where(column == model.id, CouponRedemption.released_at.is_(None))
            .correlate(model)
            .scalar_subquery()
        )
        rows = await connection.execute(
            sa.select(
                model.id, model.code, model.times_redeemed, model.max_redemptions, redeemed
            ).where(
                sa.or_(
                    model.times_redeemed != redeemed,
                    sa.and_(
                        model.max_redemptions.is_not(None),
                        model.times_redeemed > model.max_redemptions,
                    ),
                )
            )
        )
        for key, code, times, most, subscriptions in rows:
            yield Violation(
                rule,
                f"{name} {key} ({code})",
                f"timesRedeemed {times} (max {most}), {subscriptions} redemptions in the ledger",
            )


# A key's answer names other objects after these: the first request was refused without
# effect (the key is given back, as Stripe keeps no result for invalid requests) or the
# answer is about the key itself.
_NO_EFFECT = frozenset(
    {ErrorCode.IDEMPOTENCY_KEY_REUSED.value, ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS.value}
)


async def _idempotency_effects(connection: AsyncConnection) -> AsyncIterator[Violation]:
    """Calls that answered with objects (``ok``, or a decline that still made a payment),
    grouped by caller, mutation and key digest: within a key's retention, every answer
    names the same objects."""
    seen: dict[tuple[str, str, str], tuple[datetime, frozenset[str]]] = {}
    rows = await connection.stream(
        sa.select(
            AuditEvent.principal,
            AuditEvent.operation,
            AuditEvent.input,
            AuditEvent.target_ids,
            AuditEvent.outcome,
            AuditEvent.error_codes,
            AuditEvent.occurred_at,
        )
        .where(AuditEvent.outcome.in_(["ok", "user_error"]))
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
        .execution_options(yield_per=1000)
    )
    async for principal, operation, given, targets, outcome, codes, at in rows:
        key = (given.get("input") or {}).get("idempotencyKey") if isinstance(given, dict) else None
        if not isinstance(key, str):
            continue
        if outcome == "user_error" and (set(codes) & _NO_EFFECT or not _made_objects(codes)):
            continue
        group = (principal, operation, key)
        answer = frozenset(targets)
        first = seen.get(group)
        if first is None or at - first[0] > RETENTION:
            seen[group] = (at, answer)
        elif first[1] != answer:
            yield Violation(
                "idempotency.effects",
                f"{operation} by {principal} with key {key}",
                f"answered with {sorted(first[1])} and later with {sorted(answer)}",
            )


def _made_objects(codes: list[str]) -> bool:
    """A user error that still records objects: a declined charge is a failed payment."""
    return ErrorCode.PAYMENT_DECLINED.value in codes


async def _credit_note_within_invoice(connection: AsyncConnection) -> AsyncIterator[Violation]:
    async for broken in credit_invariants.within_invoice(connection):
        yield Violation(broken.rule, broken.subject, broken.detail)


async def _credit_balance_ledger(connection: AsyncConnection) -> AsyncIterator[Violation]:
    async for broken in credit_invariants.balance_ledger(connection):
        yield Violation(broken.rule, broken.subject, broken.detail)


CHECKS: tuple[Callable[[AsyncConnection], AsyncIterator[Violation]], ...] = (
    _payment_refunded,
    _payment_amounts,
    _invoice_total,
    _invoice_paid,
    _subscription_period,
    _coupon_redemptions,
    _idempotency_effects,
    _credit_note_within_invoice,
    _credit_balance_ledger,
)
RULES = (
    "payment.refunded",
    "payment.amounts",
    "invoice.total",
    "invoice.paid",
    "subscription.period",
    "coupon.redemptions",
    "idempotency.effects",
    "credit_note.within_invoice",
    "credit_balance.ledger",
)


async def violations(connection: AsyncConnection) -> list[Violation]:
    """Every broken invariant, rule by rule (read-only)."""
    found: list[Violation] = []
    for check in CHECKS:
        found.extend([violation async for violation in check(connection)])
    return found
