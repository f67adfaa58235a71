"""A dispute's evidence in GraphQL: the draft kept on our side, what paygate suggests, and
the files it carries (uploaded with ``POST /files``)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from app.domain.disputes import EvidenceFileField, EvidenceText
from app.schema.enums import described_enum
from app.schema.node import encode_gid

described_enum(
    EvidenceFileField,
    name="DisputeEvidenceFileField",
    description="The evidence field a file is bound to (Stripe's dispute evidence fields).",
    values={
        EvidenceFileField.CUSTOMER_COMMUNICATION: "Emails or messages with the customer "
        "(Stripe `customer_communication`).",
        EvidenceFileField.RECEIPT: "The receipt or invoice sent to the customer (`receipt`).",
        EvidenceFileField.REFUND_POLICY: "The refund policy the customer saw (`refund_policy`).",
        EvidenceFileField.UNCATEGORIZED_FILE: "Anything else (`uncategorized_file`).",
        EvidenceFileField.SERVICE_DOCUMENTATION: "Proof the service was provided "
        "(`service_documentation`).",
        EvidenceFileField.SHIPPING_DOCUMENTATION: "Proof of shipment (`shipping_documentation`).",
        EvidenceFileField.CANCELLATION_POLICY: "The cancellation policy the customer saw "
        "(`cancellation_policy`).",
        EvidenceFileField.DUPLICATE_CHARGE_DOCUMENTATION: "Proof that two charges are for "
        "two purchases (`duplicate_charge_documentation`).",
    },
)


@strawberry.type(description="An uploaded file bound to an evidence field.")
class DisputeEvidenceFile:
    field: EvidenceFileField = strawberry.field(description="The evidence field.")
    file_id: strawberry.ID = strawberry.field(description="Global ID of the file (`File`).")
    filename: str = strawberry.field(description="Its name, as uploaded.")
    content_type: str = strawberry.field(
        description="`application/pdf`, `image/jpeg` or `image/png`, read from its content."
    )
    size: int = strawberry.field(description="Its size in bytes.")


@strawberry.type(description="A dispute's evidence as drafted (Stripe's evidence fields).")
class DisputeEvidence:
    product_description: str | None = strawberry.field(
        description="What was sold (`product_description`)."
    )
    shipping_tracking: str | None = strawberry.field(
        description="Tracking number of the shipment (`shipping_tracking_number`)."
    )
    uncategorized_text: str | None = strawberry.field(
        description="Anything else (`uncategorized_text`)."
    )
    customer_name: str | None = strawberry.field(description="The customer's name.")
    customer_email_address: str | None = strawberry.field(description="The customer's email.")
    service_date: str | None = strawberry.field(description="When the service was provided.")
    refund_policy_disclosure: str | None = strawberry.field(
        description="How the refund policy was shown to the customer."
    )
    files: list[DisputeEvidenceFile] = strawberry.field(description="Files, by field.")

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> DisputeEvidence | None:
        if not stored:
            return None
        texts: dict[str, str] = stored.get("texts", {})
        files: dict[str, dict[str, Any]] = stored.get("files", {})
        return cls(
            product_description=texts.get(EvidenceText.PRODUCT_DESCRIPTION.value),
            shipping_tracking=texts.get(EvidenceText.SHIPPING_TRACKING.value),
            uncategorized_text=texts.get(EvidenceText.UNCATEGORIZED_TEXT.value),
            customer_name=texts.get(EvidenceText.CUSTOMER_NAME.value),
            customer_email_address=texts.get(EvidenceText.CUSTOMER_EMAIL_ADDRESS.value),
            service_date=texts.get(EvidenceText.SERVICE_DATE.value),
            refund_policy_disclosure=texts.get(EvidenceText.REFUND_POLICY_DISCLOSURE.value),
            files=[
                DisputeEvidenceFile(
                    field=EvidenceFileField(field),
                    file_id=encode_gid("File", uuid.UUID(bound["file_id"])),
                    filename=bound["filename"],
                    content_type=bound["content_type"],
                    size=bound["size"],
                )
                for field, bound in sorted(files.items())
            ],
        )


@strawberry.type(
    description="Evidence paygate suggests from what it knows (the invoice, the "
    "subscription, the customer): review it, then pass it to `updateDisputeEvidence`."
)
class DisputeEvidenceSuggestion:
    product_description: str | None = strawberry.field(
        description="The plan or what the payment was for."
    )
    uncategorized_text: str | None = strawberry.field(
        description="The payment, its invoice's number and lines (with billed usage), and "
        "the subscription's start and current period."
    )
    service_date: str | None = strawberry.field(description="Start of the invoiced period.")
    customer_name: str | None = strawberry.field(
        description="The customer's name (null when the caller may not read it)."
    )
    customer_email_address: str | None = strawberry.field(
        description="The customer's email (null when the caller may not read it)."
    )
