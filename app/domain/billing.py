"""Billing arithmetic: billing periods and proration, exact in minor units.

Periods are computed from the subscription's anchor, never by adding to the previous
period's end, so that a subscription anchored on 31 January bills on 28 (or 29) February and
again on 31 March, instead of drifting to the 28th for ever.

Proration is exact to the second: the remaining share of a period is an exact fraction of
seconds, and rounding (half to even) happens once per amount, with the credit derived from
the rounded difference so that credit + debit is exactly the price difference for the
remaining time, rounded once.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from app.domain.money import allocate


class RecurringInterval(enum.Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


def _add_months(anchor: datetime, months: int) -> datetime:
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_boundary(anchor: datetime, interval: RecurringInterval, count: int, n: int) -> datetime:
    """The start of the ``n``-th period (0 is the anchor itself)."""
    steps = count * n
    if interval is RecurringInterval.DAY:
        return anchor + timedelta(days=steps)
    if interval is RecurringInterval.WEEK:
        return anchor + timedelta(weeks=steps)
    if interval is RecurringInterval.MONTH:
        return _add_months(anchor, steps)
    return _add_months(anchor, 12 * steps)


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    index: int  # 0 for the period that starts at the anchor


def period_at(
    anchor: datetime, interval: RecurringInterval, count: int, moment: datetime
) -> Period:
    """The billing period that contains ``moment`` (on or after the anchor)."""
    if moment < anchor:
        raise ValueError("a moment before the billing anchor has no period")
    # A guess from the average length, then a short walk: exact and cheap.
    average = {
        RecurringInterval.DAY: 1.0,
        RecurringInterval.WEEK: 7.0,
        RecurringInterval.MONTH: 30.436875,
        RecurringInterval.YEAR: 365.2425,
    }[interval] * count
    n = max(0, int((moment - anchor).total_seconds() / 86400 / average) - 1)
    while period_boundary(anchor, interval, count, n + 1) <= moment:
        n += 1
    while n > 0 and period_boundary(anchor, interval, count, n) > moment:
        n -= 1
    start = period_boundary(anchor, interval, count, n)
    return Period(start=start, end=period_boundary(anchor, interval, count, n + 1), index=n)


def remaining_share(period_start: datetime, period_end: datetime, moment: datetime) -> Fraction:
    """The exact share of a period left at ``moment``, by whole seconds, in [0, 1]."""
    total = int((period_end - period_start).total_seconds())
    left = int((period_end - moment).total_seconds())
    if total <= 0:
        raise ValueError("an empty period")
    return Fraction(min(max(left, 0), total), total)


def round_half_even(value: Fraction) -> int:
    return round(value)  # Fraction rounds half to even


@dataclass(frozen=True, slots=True)
class Proration:
    credit: int  # minus the unused part of the old amount (<= 0 when the old amount >= 0)
    debit: int  # the remaining part of the new amount

    @property
    def net(self) -> int:
        return self.credit + self.debit


def prorate(old_amount: int, new_amount: int, share: Fraction) -> Proration:
    """Credit the unused share of ``old_amount`` and charge that share of ``new_amount``.

    ``credit + debit == round(share * (new - old))`` exactly, and each part is within one
    minor unit of its exact value.
    """
    if not 0 <= share <= 1:
        raise ValueError("the share of a period is between 0 and 1")
    debit = round_half_even(share * new_amount)
    net = round_half_even(share * (new_amount - old_amount))
    return Proration(credit=net - debit, debit=debit)


class SubscriptionStatus(enum.Enum):
    INCOMPLETE = "incomplete"  # the first invoice is not paid yet
    INCOMPLETE_EXPIRED = "incomplete_expired"  # …and never was, within 23 hours
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal failed; dunning retries it
    UNPAID = "unpaid"  # dunning gave up; the subscription stays, unpaid
    PAUSED = "paused"
    CANCELED = "canceled"


class InvoiceStatus(enum.Enum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class BillingReason(enum.Enum):
    SUBSCRIPTION_CREATE = "subscription_create"
    SUBSCRIPTION_CYCLE = "subscription_cycle"
    SUBSCRIPTION_UPDATE = "subscription_update"
    SUBSCRIPTION_THRESHOLD = "subscription_threshold"  # usage reached the threshold mid-period
    MANUAL = "manual"


class ProrationBehavior(enum.Enum):
    CREATE_PRORATIONS = "create_prorations"
    ALWAYS_INVOICE = "always_invoice"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class PlannedLine:
    description: str
    quantity: int
    unit_amount_minor: int
    amount_minor: int
    proration: bool
    period_start: datetime | None
    period_end: datetime | None
    usage_quantity: str | None = None  # a usage line: the meter's quantity
    usage_adjustment: bool = False  # …correcting an earlier window


@dataclass(frozen=True, slots=True)
class Preview:
    """The invoice a change would produce: at once (``immediate``) or at the next renewal."""

    currency: str
    immediate: bool
    period_start: datetime
    period_end: datetime
    lines: tuple[PlannedLine, ...]
    discount_minor: int = 0
    tax_minor: int = 0

    @property
    def subtotal_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor - self.discount_minor + self.tax_minor


BASIS_POINTS = 10_000  # 100 % in basis points (0.01 %)


class CouponDuration(enum.Enum):
    ONCE = "once"  # the first invoice only
    REPEATING = "repeating"  # the invoices of the first N months
    FOREVER = "forever"


class PromotionRefusal(enum.Enum):
    """Why a promotion code does not apply to a checkout (Stripe's promotion-code
    restrictions: ``expires_at``, ``max_redemptions``, ``first_time_transaction``,
    ``minimum_amount``, ``customer``; and an inactive code or coupon)."""

    UNKNOWN = "unknown"
    INACTIVE = "inactive"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    NOT_FIRST_TIME = "not_first_time"
    BELOW_MINIMUM = "below_minimum"
    OTHER_CUSTOMER = "other_customer"
    CURRENCY_MISMATCH = "currency_mismatch"


@dataclass(frozen=True, slots=True)
class LineTotals:
    amount: int
    discount: int
    tax: int  # exclusive tax added on top; inclusive tax is part of ``amount``
    tax_included: int


def invoice_discount(subtotal: int, *, percent_bp: int | None, amount_off: int | None) -> int:
    """The discount of a whole invoice: a share of a positive subtotal, or a fixed amount
    capped at the subtotal. Never negative, never more than the subtotal."""
    if subtotal <= 0:
        return 0
    if percent_bp is not None:
        return min(subtotal, round_half_even(Fraction(subtotal * percent_bp, BASIS_POINTS)))
    return min(subtotal, max(amount_off or 0, 0))


def line_totals(
    amounts: list[int], discount: int, *, tax_bp: int | None, inclusive: bool
) -> list[LineTotals]:
    """Spread an invoice discount over its positive lines (largest remainder: no minor unit
    lost), then tax each line on its discounted amount, rounding half to even per line."""
    weights = [max(amount, 0) for amount in amounts]
    shares = allocate(discount, weights) if discount and sum(weights) else [0] * len(amounts)
    result = []
    for amount, share in zip(amounts, shares, strict=True):
        taxable = amount - share
        tax = included = 0
        if tax_bp:
            if inclusive:
                included = taxable - round_half_even(
                    Fraction(taxable * BASIS_POINTS, BASIS_POINTS + tax_bp)
                )
            else:
                tax = round_half_even(Fraction(taxable * tax_bp, BASIS_POINTS))
        result.append(LineTotals(amount, share, tax, included))
    return result


@dataclass(frozen=True, slots=True)
class DunningPolicy:
    """When failed renewals are retried (days after the first failure), and what the
    subscription becomes when every retry has failed."""

    retry_days: tuple[int, ...] = (1, 3, 5, 7)
    final_status: SubscriptionStatus = SubscriptionStatus.UNPAID

    def __post_init__(self) -> None:
        days = self.retry_days
        if any(d <= 0 for d in days) or list(days) != sorted(set(days)):
            raise ValueError("retry days are increasing positive numbers of days")
        if self.final_status not in (SubscriptionStatus.UNPAID, SubscriptionStatus.CANCELED):
            raise ValueError("after dunning a subscription is unpaid or canceled")
