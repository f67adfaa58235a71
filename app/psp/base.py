"""The one gateway contract every PSP adapter implements.

Adapters take and return the frozen dataclasses below, never ORM rows, and raise only the
``app.psp.errors`` tree. A decline is a result (``PaymentResult.decline``), a fault an
exception, and a timeout an unknown outcome (``PspOutcomeUnknown``), never a failure.
Every money-moving call carries our idempotency key, which the adapter passes on to the
provider, so that replaying a call after a crash cannot move money twice.

The words in these dataclasses are the domain's (``app/domain/``: payment, refund and
dispute statuses, capture methods, refund reasons, set-up kinds, declines); each adapter
maps its provider's words onto them. A PSP reports only some of the payment statuses
(never ``REQUIRES_PAYMENT_METHOD`` or ``REQUIRES_CONFIRMATION``, which are ours).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from app.domain.declines import Decline
from app.domain.money import Money
from app.domain.payment_methods import SetupKind
from app.domain.payments import (
    CaptureMethod,
    DisputeStatus,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)


class Operation(enum.Enum):
    CREATE_CUSTOMER = "create_customer"
    UPDATE_CUSTOMER = "update_customer"
    DELETE_CUSTOMER = "delete_customer"
    START_SETUP = "start_setup"
    ATTACH_PAYMENT_METHOD = "attach_payment_method"
    DETACH_PAYMENT_METHOD = "detach_payment_method"
    CREATE_PAYMENT = "create_payment"
    CONFIRM_PAYMENT = "confirm_payment"
    CAPTURE_PAYMENT = "capture_payment"
    PARTIAL_CAPTURE = "partial_capture"
    CANCEL_PAYMENT = "cancel_payment"
    REFUND = "refund"
    RETRIEVE_PAYMENT = "retrieve_payment"
    RETRIEVE_REFUND = "retrieve_refund"
    PARSE_WEBHOOK = "parse_webhook"
    SUBMIT_DISPUTE_EVIDENCE = "submit_dispute_evidence"


@dataclass(frozen=True, slots=True)
class Capabilities:
    operations: frozenset[Operation]
    capture_methods: frozenset[CaptureMethod]
    payment_method_types: frozenset[str]
    currencies: frozenset[str] | None = None  # None: every currency we know

    def supports(self, operation: Operation) -> bool:
        return operation in self.operations

    def supports_currency(self, currency: str) -> bool:
        return self.currencies is None or currency in self.currencies


# --- customers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerRequest:
    customer_key: str  # our customer id, recorded at the PSP for reconciliation
    email: str | None
    name: str | None
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class CustomerResult:
    psp_customer_id: str


@dataclass(frozen=True, slots=True)
class DeleteCustomerRequest:
    """Delete our customer's counterpart at the PSP, with what the PSP keeps for it (GDPR
    erasure). Idempotent: a customer or method the PSP no longer knows is already gone,
    and that is success. Payments, refunds and disputes stay at the PSP (its own legal
    retention); only the customer object and its saved methods go."""

    psp_customer_id: str
    # Every payment method reference we hold for the customer at this PSP, detached ones
    # included: PayPal keeps no customer object and deletes these one by one.
    payment_method_references: tuple[str, ...] = ()


# --- payment methods ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetupRequest:
    psp_customer_id: str
    return_url: str | None
    cancel_url: str | None
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class SetupResult:
    """What the frontend needs to collect a payment method without card data reaching us."""

    kind: SetupKind
    reference: str  # the PSP's setup object (SetupIntent id, vault setup token id …)
    client_secret: str | None = None
    approval_url: str | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class AttachRequest:
    psp_customer_id: str
    token: str  # a PSP token; never card data
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class PaymentMethodDetails:
    """The safe details of a tokenised payment method (PCI DSS SAQ A: no PAN, no CVC)."""

    psp_reference: str
    type: str  # "card", "paypal", …
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    wallet: str | None = None  # "apple_pay", "google_pay", …
    fingerprint: str | None = None
    country: str | None = None  # a card's issuing country (ISO 3166-1 alpha-2)
    email: str | None = None  # PayPal account email, for display


@dataclass(frozen=True, slots=True)
class DetachRequest:
    psp_reference: str
    idempotency_key: str


# --- payments ------------------------------------------------------------------------------


class NextActionKind(enum.Enum):
    REDIRECT = "redirect"  # send the customer to redirect_url (3DS page, PayPal approval)
    USE_SDK = "use_sdk"  # finish in the browser with the PSP's SDK and client_secret


@dataclass(frozen=True, slots=True)
class NextAction:
    kind: NextActionKind
    redirect_url: str | None = None
    client_secret: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    amount: Money
    psp_customer_id: str | None
    payment_method: str | None  # PSP reference of a saved method, or a one-off token
    capture_method: CaptureMethod
    off_session: bool  # the customer is absent (renewals): no 3DS challenge possible
    return_url: str | None
    idempotency_key: str
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PaymentResult:
    psp_reference: str
    status: PaymentStatus
    amount: Money
    amount_capturable: Money
    amount_received: Money
    next_action: NextAction | None = None
    decline: Decline | None = None
    raw_status: str = ""  # the provider's own status, for support and logs


@dataclass(frozen=True, slots=True)
class ConfirmRequest:
    psp_reference: str
    idempotency_key: str
    return_url: str | None = None


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    psp_reference: str
    amount: Money | None  # None: everything capturable; less: a partial capture
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class CancelRequest:
    psp_reference: str
    idempotency_key: str


# --- refunds -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundRequest:
    payment_reference: str
    amount: Money
    reason: RefundReason
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class RefundResult:
    psp_reference: str
    payment_reference: str
    status: RefundStatus
    amount: Money
    failure_reason: str | None = None
    raw_status: str = ""


# --- disputes and webhooks -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DisputeInfo:
    psp_reference: str
    payment_reference: str
    amount: Money
    reason: str
    status: DisputeStatus
    evidence_due_by: datetime | None
    raw_status: str = ""


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """A file of the evidence, bound to one of its file fields (Stripe's key, e.g.
    ``receipt``). PDF, JPEG or PNG, at most 5 MB (``app.domain.disputes``)."""

    field: str
    filename: str
    content_type: str
    content: bytes
    idempotency_key: str  # the upload's own key: retrying a submission re-uploads nothing


@dataclass(frozen=True, slots=True)
class DisputeEvidenceRequest:
    """Submit a dispute's evidence to the bank (final: a PSP takes one submission).
    ``texts`` are the text fields under Stripe's keys (``product_description`` …)."""

    psp_reference: str
    texts: Mapping[str, str]
    files: tuple[EvidenceFile, ...]
    idempotency_key: str


class EventKind(enum.Enum):
    PAYMENT = "payment"  # carries a PaymentResult snapshot
    REFUND = "refund"  # carries a RefundResult snapshot
    DISPUTE = "dispute"  # carries a DisputeInfo snapshot
    PAYMENT_METHOD = "payment_method"
    OTHER = "other"  # stored and acknowledged, nothing to apply


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified provider event, made provider-neutral. Snapshots, not deltas, so that
    events can be applied in any order."""

    psp: str
    event_id: str  # the provider's id: deduplication key
    type: str  # the provider's event type, as it sent it
    kind: EventKind
    occurred_at: datetime
    payment: PaymentResult | None = None
    refund: RefundResult | None = None
    dispute: DisputeInfo | None = None


# --- the contract ----------------------------------------------------------------------------


@runtime_checkable
class Gateway(Protocol):
    """One PSP. Every method may raise the ``PspError`` tree; nothing else."""

    name: str
    capabilities: Capabilities

    async def create_customer(self, request: CustomerRequest) -> CustomerResult: ...

    async def update_customer(
        self, psp_customer_id: str, request: CustomerRequest
    ) -> CustomerResult: ...

    async def delete_customer(self, request: DeleteCustomerRequest) -> None:
        """Idempotent: deleting a customer that is already gone (or never existed) is
        success; a reference of another PSP is ``PspInvalidRequest``."""
        ...

    async def start_setup(self, request: SetupRequest) -> SetupResult: ...

    async def attach_payment_method(self, request: AttachRequest) -> PaymentMethodDetails: ...

    async def detach_payment_method(self, request: DetachRequest) -> None: ...

    async def create_payment(self, request: PaymentRequest) -> PaymentResult: ...

    async def confirm_payment(self, request: ConfirmRequest) -> PaymentResult: ...

    async def capture_payment(self, request: CaptureRequest) -> PaymentResult: ...

    async def cancel_payment(self, request: CancelRequest) -> PaymentResult: ...

    async def refund(self, request: RefundRequest) -> RefundResult: ...

    async def retrieve_payment(self, psp_reference: str) -> PaymentResult: ...

    async def retrieve_refund(self, psp_reference: str) -> RefundResult: ...

    async def submit_dispute_evidence(self, request: DisputeEvidenceRequest) -> DisputeInfo:
        """Upload the files, then submit the evidence; the dispute as the PSP now holds it.
        ``OperationNotSupported`` where the provider's API (or its SDK) cannot."""
        ...

    async def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> WebhookEvent:
        """Verify the signature first (``WebhookVerificationError`` when missing, wrong or
        older than five minutes), then map the event."""
        ...
