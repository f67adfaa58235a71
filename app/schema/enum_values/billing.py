"""The catalog, subscriptions, invoices and coupons: what each value means."""

from app.domain.billing import (
    BillingReason,
    CouponDuration,
    InvoiceStatus,
    PromotionRefusal,
    ProrationBehavior,
    RecurringInterval,
    SubscriptionStatus,
)
from app.models import PriceType

SUBSCRIPTION_STATUS: dict[SubscriptionStatus, str] = {
    SubscriptionStatus.INCOMPLETE: (
        "Created without a trial, and its first invoice is not paid yet, e.g. a 3-D Secure "
        "step is pending (`latestInvoice.payments`). Paid, it becomes `ACTIVE`; unpaid after "
        "23 hours, `INCOMPLETE_EXPIRED`."
    ),
    SubscriptionStatus.INCOMPLETE_EXPIRED: (
        "Final: the first invoice was not paid within 23 hours; that invoice is void and "
        "nothing more is billed."
    ),
    SubscriptionStatus.TRIALING: (
        "In its free trial until `trialEnd`, when the first invoice is charged (off session)."
    ),
    SubscriptionStatus.ACTIVE: "In good standing: each period is invoiced and charged.",
    SubscriptionStatus.PAST_DUE: (
        "A renewal's payment failed: its invoice stays open and is retried on the dunning "
        "schedule when the decline allows it, or collection stops (`collectionStop` says why "
        "and what the customer must do: a new payment method, which retries it at once, or "
        "`payInvoice`). Entitlements continue meanwhile; paid, it is `ACTIVE` again."
    ),
    SubscriptionStatus.UNPAID: (
        "Every dunning retry failed: it is still invoiced each period, without charges, and "
        "grants no entitlements until an invoice is paid (then `ACTIVE`) or it is canceled."
    ),
    SubscriptionStatus.PAUSED: (
        "`pauseSubscription` stopped its billing: no renewals, no retries, no "
        "entitlements. `resumeSubscription` starts a new period at once and bills it."
    ),
    SubscriptionStatus.CANCELED: (
        "Final: ended (`endedAt`), at once or at the end of a period "
        "(`cancelSubscription`), after failed dunning where so configured, or by erasure."
    ),
}

INVOICE_STATUS: dict[InvoiceStatus, str] = {
    InvoiceStatus.DRAFT: (
        "Being prepared: no number yet, nothing owed. `finalizeInvoice` opens it "
        "(subscriptions' invoices are finalized at once)."
    ),
    InvoiceStatus.OPEN: (
        "Finalized with its gap-free number, and owed: collected automatically for "
        "subscriptions, or with `payInvoice`."
    ),
    InvoiceStatus.PAID: "Fully paid: `amountPaid` equals `total`.",
    InvoiceStatus.VOID: (
        "Canceled (`voidInvoice`, or the first invoice of an expired incomplete "
        "subscription): owes nothing, keeps its number."
    ),
    InvoiceStatus.UNCOLLECTIBLE: (
        "Written off as a bad debt (`markInvoiceUncollectible`): no longer collected."
    ),
}

BILLING_REASON: dict[BillingReason, str] = {
    BillingReason.SUBSCRIPTION_CREATE: (
        "The first invoice of a subscription without a trial, charged when it is created."
    ),
    BillingReason.SUBSCRIPTION_CYCLE: (
        "A new billing period: a renewal, the end of a trial, or a resumed subscription."
    ),
    BillingReason.SUBSCRIPTION_UPDATE: (
        "Prorations of `updateSubscription` billed at once (`ALWAYS_INVOICE`)."
    ),
    BillingReason.SUBSCRIPTION_THRESHOLD: (
        "Issued mid-period because the usage billed so far reached the subscription's "
        "`usageThreshold` (progressive billing); the period's invoice bills the rest."
    ),
    BillingReason.MANUAL: "Made by `createInvoice` from the customer's pending invoice items.",
}

PRORATION_BEHAVIOR: dict[ProrationBehavior, str] = {
    ProrationBehavior.CREATE_PRORATIONS: (
        "Credit the unused time at the old price and charge the rest of the period at the "
        "new one, as lines of the next renewal invoice."
    ),
    ProrationBehavior.ALWAYS_INVOICE: (
        "The same lines, billed at once on an invoice of their own; a net credit goes to "
        "the next invoice instead."
    ),
    ProrationBehavior.NONE: "No proration: the new price applies from the next period.",
}

COUPON_DURATION: dict[CouponDuration, str] = {
    CouponDuration.ONCE: "Discounts the subscription's first invoice only.",
    CouponDuration.REPEATING: (
        "Discounts the invoices of the subscription's first `durationInMonths` months."
    ),
    CouponDuration.FOREVER: "Discounts every invoice of the subscription.",
}

PROMOTION_REFUSAL: dict[PromotionRefusal, str] = {
    PromotionRefusal.UNKNOWN: "No promotion code has this code.",
    PromotionRefusal.INACTIVE: "The code, or its coupon, was deactivated.",
    PromotionRefusal.EXPIRED: "The code's `expiresAt`, or its coupon's `redeemBy`, has passed.",
    PromotionRefusal.EXHAUSTED: (
        "The code, or its coupon, has been redeemed `maxRedemptions` times."
    ),
    PromotionRefusal.NOT_FIRST_TIME: (
        "The code is for first orders, and this customer has paid an invoice or a payment."
    ),
    PromotionRefusal.BELOW_MINIMUM: "The prices add up to less than the code's `minimumAmount`.",
    PromotionRefusal.OTHER_CUSTOMER: "The code is for another customer.",
    PromotionRefusal.CURRENCY_MISMATCH: (
        "The code's minimum amount, or its coupon's amount off, is in another currency."
    ),
}

PRICE_TYPE: dict[PriceType, str] = {
    PriceType.ONE_TIME: ("Paid once (a set-up fee, a service); subscriptions cannot use it."),
    PriceType.RECURRING: (
        "Paid every period of `recurring` (e.g. every 3 months), through a subscription."
    ),
}

RECURRING_INTERVAL: dict[RecurringInterval, str] = {
    RecurringInterval.DAY: "Days of 24 hours.",
    RecurringInterval.WEEK: "Weeks of 7 days.",
    RecurringInterval.MONTH: (
        "Calendar months on the anchor's day of the month, or the month's last day when it "
        "is shorter (anchored on 31 January: 28 February, then 31 March)."
    ),
    RecurringInterval.YEAR: (
        "Calendar years on the anchor's date (anchored on 29 February: 28 February in other years)."
    ),
}
