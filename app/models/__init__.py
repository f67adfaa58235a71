"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from app.domain.billing import RecurringInterval
from app.domain.payments import (
    CaptureMethod,
    DisputeStatus,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)
from app.models.base import Base
from app.models.billing import (
    Coupon,
    Invoice,
    InvoiceLine,
    InvoiceMethodRetry,
    InvoiceSequence,
    Subscription,
    SubscriptionItem,
    TaxRate,
    TestClock,
)
from app.models.catalog import Price, PriceType, Product
from app.models.credit_notes import (
    CreditNote,
    CreditNoteLine,
    CustomerBalance,
    CustomerBalanceTransaction,
)
from app.models.customer import Customer
from app.models.events import Event, OutboxCursor
from app.models.experiments import (
    Experiment,
    ExperimentAssignment,
    ExperimentExposure,
    ExperimentVariant,
)
from app.models.files import File
from app.models.idempotency import IdempotencyKey
from app.models.metering import (
    Meter,
    UsageAlert,
    UsageAlertTrigger,
    UsageDistinct,
    UsageEvent,
    UsageKey,
    UsageRollup,
)
from app.models.payment import Dispute, Payment, PaymentEvent, Refund
from app.models.payment_method import PaymentMethod, PspCustomer
from app.models.promotions import CouponRedemption, PromotionCode
from app.models.risk import Review, RiskAttempt, RiskListEntry, RiskRule
from app.models.security import ApiKey, AuditEvent
from app.models.webhook import WebhookEvent
from app.models.webhook_out import WebhookDelivery, WebhookEndpoint, WebhookSecret

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "CaptureMethod",
    "Coupon",
    "CouponRedemption",
    "CreditNote",
    "CreditNoteLine",
    "Customer",
    "CustomerBalance",
    "CustomerBalanceTransaction",
    "Dispute",
    "DisputeStatus",
    "Event",
    "Experiment",
    "ExperimentAssignment",
    "ExperimentExposure",
    "ExperimentVariant",
    "File",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "InvoiceMethodRetry",
    "InvoiceSequence",
    "Meter",
    "OutboxCursor",
    "Payment",
    "PaymentEvent",
    "PaymentMethod",
    "PaymentStatus",
    "Price",
    "PriceType",
    "Product",
    "PromotionCode",
    "PspCustomer",
    "RecurringInterval",
    "Refund",
    "RefundReason",
    "RefundStatus",
    "Review",
    "RiskAttempt",
    "RiskListEntry",
    "RiskRule",
    "Subscription",
    "SubscriptionItem",
    "TaxRate",
    "TestClock",
    "UsageAlert",
    "UsageAlertTrigger",
    "UsageDistinct",
    "UsageEvent",
    "UsageKey",
    "UsageRollup",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookSecret",
]
