"""Inputs and payloads of the dispute evidence mutations, and the staff list's filter."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.domain.disputes import EvidenceFileField
from app.domain.payments import DisputeStatus
from app.schema.errors import UserError
from app.schema.idempotency import optional_key
from app.schema.pagination import Connection
from app.schema.payment import Dispute

DisputeConnection = Connection[Dispute]


def _text(description: str) -> str | None:
    return strawberry.field(  # type: ignore[no-any-return]
        default=strawberry.UNSET, description=f"{description} Omitted: kept; `null`: cleared."
    )


@strawberry.input(description="A file bound to an evidence field.")
class DisputeEvidenceFileInput:
    field: EvidenceFileField = strawberry.field(description="The evidence field.")
    file_id: strawberry.ID | None = strawberry.field(
        description="Global ID of a file uploaded with `POST /files` "
        "(`purpose=dispute_evidence`); `null` unbinds the field."
    )


@strawberry.input(
    description="Evidence fields to change (Stripe's dispute evidence fields). Text fields "
    "are free text without card numbers; file fields take the global ID of an uploaded file."
)
class DisputeEvidenceInput:
    product_description: str | None = _text("What was sold (at most 20,000 characters).")
    shipping_tracking: str | None = _text("Tracking number of the shipment.")
    uncategorized_text: str | None = _text("Anything else (at most 20,000 characters).")
    customer_name: str | None = _text("The customer's name.")
    customer_email_address: str | None = _text("The customer's email address.")
    service_date: str | None = _text("When the service was provided.")
    refund_policy_disclosure: str | None = _text("How the refund policy was shown.")
    customer_communication: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="File of emails or messages with the customer (the field "
        "`CUSTOMER_COMMUNICATION`). Omitted: kept; `null`: unbound.",
    )
    receipt: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="File of the receipt (`RECEIPT`). Omitted: kept; `null`: unbound.",
    )
    refund_policy: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="File of the refund policy (`REFUND_POLICY`). Omitted: kept; `null`: unbound.",
    )
    files: list[DisputeEvidenceFileInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Files bound to any file field (each field at most once, and not also "
        "given above).",
    )


@strawberry.input(description="Change a dispute's evidence draft (nothing goes to the PSP).")
class UpdateDisputeEvidenceInput:
    idempotency_key: str | None = optional_key()
    dispute_id: strawberry.ID = strawberry.field(description="Global ID of the dispute.")
    evidence: DisputeEvidenceInput = strawberry.field(description="The fields to change.")


@strawberry.input(description="Submit a dispute's evidence to its PSP (once).")
class SubmitDisputeEvidenceInput:
    idempotency_key: str | None = optional_key()
    dispute_id: strawberry.ID = strawberry.field(description="Global ID of the dispute.")


@strawberry.type(description="Result of `updateDisputeEvidence` and `submitDisputeEvidence`.")
class DisputePayload:
    dispute: Dispute | None = strawberry.field(description="The dispute, unless refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Conditions on the disputes (all must hold).")
class DisputeFilter:
    status: list[DisputeStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    psps: list[str] | None = strawberry.field(
        default=None, description="Any of these PSPs (`stripe`, `paypal`, `sandbox` …)."
    )
    evidence_due_before: datetime | None = strawberry.field(
        default=None, description="Evidence due strictly before this time."
    )
    evidence_submitted: bool | None = strawberry.field(
        default=None, description="Evidence submitted (true) or not yet (false)."
    )
