"""Payments, refunds, disputes and their events in GraphQL."""

import uuid
from datetime import datetime
from operator import attrgetter

import strawberry

from app import models
from app.context import RequestContext
from app.domain.declines import ADVICE, RULES, DeclineCode, NetworkCategory, RetryAdvice, Rule
from app.domain.payments import (
    CaptureMethod,
    DisputeStatus,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)
from app.graphql.read.fields import batched
from app.models import Dispute as DisputeRow
from app.models import Payment as PaymentRow
from app.models import PaymentEvent as EventRow
from app.models import Refund as RefundRow
from app.schema.dispute_evidence import DisputeEvidence
from app.schema.enum_values.payments import (
    CAPTURE_METHOD,
    DISPUTE_STATUS,
    PAYMENT_STATUS,
    REFUND_REASON,
    REFUND_STATUS,
)
from app.schema.enums import described_enum
from app.schema.money import Money
from app.schema.node import Node, encode_gid
from app.schema.risk import PaymentRisk
from app.schema.scalars import Metadata

Info = strawberry.Info[RequestContext, None]

described_enum(
    PaymentStatus,
    description=(
        "Where a payment stands: `REQUIRES_CONFIRMATION → REQUIRES_ACTION → PROCESSING → "
        "REQUIRES_CAPTURE → SUCCEEDED | CANCELED | FAILED`, forward only."
    ),
    values=PAYMENT_STATUS,
)
described_enum(
    CaptureMethod,
    description="When an authorised payment is captured.",
    values=CAPTURE_METHOD,
)
described_enum(
    RefundStatus,
    description="Where a refund stands.",
    values=REFUND_STATUS,
)
described_enum(
    RefundReason,
    description="Why money is given back.",
    values=REFUND_REASON,
)
described_enum(
    DisputeStatus,
    description="Where a dispute (chargeback) stands.",
    values=DISPUTE_STATUS,
)


def _described(rule: Rule) -> str:
    category = (
        "" if rule.category is NetworkCategory.NONE else f", Visa category {rule.category.value}"
    )
    return f"{rule.summary} Advice: `{rule.advice.name}`{category}."


# Each code's description comes from its rule (app/domain/declines.py), the README's table too.
described_enum(
    DeclineCode,
    description="Why a payment failed, the same for every PSP. Each code's retry advice "
    "follows the card networks' rules (the README's retry advice table gives the source).",
    values={code: _described(rule) for code, rule in RULES.items()},
)
described_enum(
    RetryAdvice,
    description="What a decline advises about charging the same method again.",
    values={
        RetryAdvice.RETRY_LATER: "A later attempt with the same method may succeed: dunning "
        "retries it on its schedule, within the card networks' caps.",
        RetryAdvice.DO_NOT_RETRY: "The same method will not be approved for this payment "
        "(e.g. Visa category 1: lost, stolen, closed): it is never charged again for it.",
        RetryAdvice.CUSTOMER_ACTION_REQUIRED: "The customer must act first (authenticate, "
        "update the card's details, contact their bank): nothing is retried meanwhile.",
    },
)


@strawberry.type(description="Why a payment failed.")
class Decline:
    code: DeclineCode = strawberry.field(description="Unified decline code.")
    message: str = strawberry.field(description="Explanation, safe to show the customer.")
    retry_advice: RetryAdvice = strawberry.field(
        description="What to do next: the code's advice, refined by the network's advice "
        "code when there is one (as decided when the decline was recorded)."
    )
    provider_code: str | None = strawberry.field(
        description="The PSP's own code (Stripe's `decline_code`, PayPal's processor "
        "response code or issue)."
    )
    network_decline_code: str | None = strawberry.field(
        description="The issuer's response code as the card network sent it (e.g. `05`, "
        "`51`), when the PSP passes it on."
    )
    network_advice_code: str | None = strawberry.field(
        description="The card network's advice code (e.g. Mastercard's merchant advice code "
        "`03`: do not try again), when the PSP passes it on."
    )


@strawberry.type(description="What the customer must do before the payment can go on.")
class NextAction:
    redirect_url: str | None = strawberry.field(
        description="Send the customer here (3DS page, PayPal approval); they come back to "
        "the payment's return URL. Then call `confirmPayment`."
    )
    client_secret: str | None = strawberry.field(
        description="Or finish in the browser with the PSP's SDK (Stripe.js handleNextAction)."
    )


@strawberry.type(description="A one-off charge of a customer's payment method.")
class Payment(Node):
    status: PaymentStatus = strawberry.field(description="Where the payment stands.")
    amount: Money = strawberry.field(description="Amount asked for.")
    amount_capturable: Money = strawberry.field(description="Authorised, not yet captured.")
    amount_received: Money = strawberry.field(description="Captured: money moved.")
    amount_refunded: Money = strawberry.field(description="Refunded or being refunded.")
    capture_method: CaptureMethod = strawberry.field(description="When it is captured.")
    off_session: bool = strawberry.field(description="Charged while the customer was away.")
    decline: Decline | None = strawberry.field(description="Why it failed, when it did.")
    next_action: NextAction | None = strawberry.field(description="For `REQUIRES_ACTION`.")
    outcome_unknown: bool = strawberry.field(
        description="The PSP's answer is not known yet (a timeout); reconciliation will "
        "settle it. Never charge again meanwhile."
    )
    psp: str = strawberry.field(description="The PSP that processes it.")
    psp_reference: str | None = strawberry.field(description="The PSP's id of the payment.")
    description: str | None = strawberry.field(description="Your description.")
    metadata: Metadata = strawberry.field(description="Your own key-value data.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    key: strawberry.Private[uuid.UUID]
    customer_key: strawberry.Private[uuid.UUID]

    @strawberry.field(
        description="How the risk rules judged the charge (null: not screened, as the "
        "billing engine's renewals are not)."
    )
    @batched(lambda loaders: loaders.payment_risk)
    def risk(self, rows: list[models.RiskAttempt]) -> PaymentRisk | None:
        return PaymentRisk.from_model(rows[0]) if rows else None

    @strawberry.field(description="Refunds of this payment, oldest first.")
    @batched(lambda loaders: loaders.payment_refunds)
    def refunds(self, rows: list[models.Refund]) -> list["Refund"]:
        return [Refund.from_model(row) for row in rows]

    @strawberry.field(description="Disputes (chargebacks) of this payment.")
    @batched(lambda loaders: loaders.payment_disputes)
    def disputes(self, rows: list[models.Dispute]) -> list["Dispute"]:
        return [Dispute.from_model(row) for row in rows]

    @strawberry.field(description="Every change of this payment, its refunds and disputes.")
    @batched(lambda loaders: loaders.payment_events)
    def events(self, rows: list[models.PaymentEvent]) -> list["PaymentEvent"]:
        return [PaymentEvent.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: PaymentRow) -> "Payment":
        decline = None
        if row.decline_code is not None:
            code = DeclineCode(row.decline_code)
            decline = Decline(
                code=code,
                message=row.decline_message or "",
                retry_advice=RetryAdvice(row.decline_advice)
                if row.decline_advice
                else ADVICE[code],
                provider_code=row.decline_provider_code,
                network_decline_code=row.decline_network_code,
                network_advice_code=row.decline_network_advice_code,
            )
        next_action = None
        if row.status is PaymentStatus.REQUIRES_ACTION and row.next_action_kind:
            next_action = NextAction(
                redirect_url=row.next_action_url, client_secret=row.next_action_client_secret
            )
        return cls(
            id=encode_gid("Payment", row.id),
            key=row.id,
            customer_key=row.customer_id,
            status=row.status,
            amount=Money.of(row.amount_minor, row.currency),
            amount_capturable=Money.of(row.amount_capturable_minor, row.currency),
            amount_received=Money.of(row.amount_received_minor, row.currency),
            amount_refunded=Money.of(row.amount_refunded_minor, row.currency),
            capture_method=row.capture_method,
            off_session=row.off_session,
            decline=decline,
            next_action=next_action,
            outcome_unknown=row.outcome_unknown_since is not None,
            psp=row.psp,
            psp_reference=row.psp_reference,
            description=row.description,
            metadata=Metadata(row.metadata_),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="Money given back from a payment.")
class Refund(Node):
    status: RefundStatus = strawberry.field(description="Where the refund stands.")
    amount: Money = strawberry.field(description="Amount refunded.")
    reason: RefundReason = strawberry.field(description="Why.")
    failure_reason: str | None = strawberry.field(description="Why it failed, when it did.")
    psp_reference: str | None = strawberry.field(description="The PSP's id of the refund.")
    created_at: datetime = strawberry.field(description="When it was asked for.")
    payment_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The refunded payment.")
    @batched(lambda loaders: loaders.payment, key=attrgetter("payment_key"))
    def payment(self, row: models.Payment | None) -> Payment:
        assert row is not None
        return Payment.from_model(row)

    @classmethod
    def from_model(cls, row: RefundRow) -> "Refund":
        return cls(
            id=encode_gid("Refund", row.id),
            payment_key=row.payment_id,
            status=row.status,
            amount=Money.of(row.amount_minor, row.currency),
            reason=row.reason,
            failure_reason=row.failure_reason,
            psp_reference=row.psp_reference,
            created_at=row.created_at,
        )


@strawberry.type(description="A cardholder's dispute (chargeback) of a payment.")
class Dispute(Node):
    status: DisputeStatus = strawberry.field(description="Where the dispute stands.")
    reason: str = strawberry.field(description="The network's reason, e.g. `fraudulent`.")
    amount: Money = strawberry.field(description="Amount disputed.")
    evidence_due_by: datetime | None = strawberry.field(description="Respond before this.")
    outcome: str | None = strawberry.field(description="`won`, `lost`, or null while open.")
    psp_reference: str = strawberry.field(description="The PSP's id of the dispute.")
    created_at: datetime = strawberry.field(description="When we learnt of it.")
    psp: str = strawberry.field(description="The PSP the dispute came from.")
    evidence: DisputeEvidence | None = strawberry.field(
        description="The evidence drafted with `updateDisputeEvidence` (null: none yet)."
    )
    has_evidence: bool = strawberry.field(description="Evidence is drafted or submitted.")
    evidence_updated_at: datetime | None = strawberry.field(
        description="When the draft last changed."
    )
    evidence_submitted_at: datetime | None = strawberry.field(
        description="When the evidence went to the PSP (`submitDisputeEvidence`); it takes "
        "no more evidence after that."
    )
    payment_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The disputed payment.")
    @batched(lambda loaders: loaders.payment, key=attrgetter("payment_key"))
    def payment(self, row: models.Payment | None) -> Payment:
        assert row is not None
        return Payment.from_model(row)

    @classmethod
    def from_model(cls, row: DisputeRow) -> "Dispute":
        outcome = {DisputeStatus.WON: "won", DisputeStatus.LOST: "lost"}.get(row.status)
        return cls(
            id=encode_gid("Dispute", row.id),
            payment_key=row.payment_id,
            status=row.status,
            reason=row.reason,
            amount=Money.of(row.amount_minor, row.currency),
            evidence_due_by=row.evidence_due_by,
            outcome=outcome,
            psp_reference=row.psp_reference,
            created_at=row.created_at,
            psp=row.psp,
            evidence=DisputeEvidence.of(row.evidence),
            has_evidence=bool(row.evidence) or row.evidence_submitted_at is not None,
            evidence_updated_at=row.evidence_updated_at,
            evidence_submitted_at=row.evidence_submitted_at,
        )


@strawberry.type(description="One recorded change (append-only): the payment's history.")
class PaymentEvent:
    type: str = strawberry.field(description="e.g. `payment.succeeded`, `refund.created`.")
    source: str = strawberry.field(description="`api`, `webhook` or `reconciliation`.")
    status: str | None = strawberry.field(description="The payment's status after it.")
    amount: Money | None = strawberry.field(description="Money moved by it, if any.")
    psp_event_id: str | None = strawberry.field(description="The PSP event behind it.")
    created_at: datetime = strawberry.field(description="When it was recorded.")

    @classmethod
    def from_model(cls, row: EventRow) -> "PaymentEvent":
        amount = None
        if row.amount_minor is not None and row.currency is not None:
            amount = Money.of(row.amount_minor, row.currency)
        return cls(
            type=row.type,
            source=row.source,
            status=row.status,
            amount=amount,
            psp_event_id=row.psp_event_id,
            created_at=row.created_at,
        )
