"""Dispute evidence: its fields, the files it may carry, and the rules both follow.

Evidence is what a merchant answers a chargeback with. Its fields are Stripe's (the
``evidence`` hash of ``POST /v1/disputes/{id}``, docs.stripe.com/api/disputes/update and
/api/disputes/evidence_object): some take text, others the id of an uploaded file. The
draft keeps them under Stripe's keys; a PSP adapter maps them to its own words.

Rules, with their sources:

- Files of purpose ``dispute_evidence`` are PDF, JPEG or PNG, at most 5 MB each (Stripe's
  file upload guide, docs.stripe.com/file-upload). The type is read from the file's first
  bytes (its magic number), never only from what the sender declared.
- The text of all fields together is at most 150,000 characters (the ``evidence``
  parameter of Stripe's dispute update).
- No card number, in text or in a file (PCI DSS SAQ A scope, ``app.domain.pan``): a file
  whose bytes hold a card-number-shaped run of digits is refused. Images and compressed
  PDF streams cannot be read that way: whoever uploads evidence must mask card numbers
  (the README says so).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.domain.payments import DisputeStatus

MAX_FILE_BYTES = 5_000_000  # Stripe: 5 MB per dispute_evidence file (read as 10^6 bytes)
MAX_TEXT_CHARS = 150_000  # Stripe: all text fields of the evidence together
MAX_FILENAME = 255
NOTICE_DAYS = 3  # the default notice of dispute.evidence_due_soon (a setting)
PURPOSE_DISPUTE_EVIDENCE = "dispute_evidence"


class EvidenceText(enum.Enum):
    """Text fields of the evidence (value: Stripe's key)."""

    PRODUCT_DESCRIPTION = "product_description"
    SHIPPING_TRACKING = "shipping_tracking_number"
    UNCATEGORIZED_TEXT = "uncategorized_text"
    CUSTOMER_NAME = "customer_name"
    CUSTOMER_EMAIL_ADDRESS = "customer_email_address"
    SERVICE_DATE = "service_date"
    REFUND_POLICY_DISCLOSURE = "refund_policy_disclosure"


class EvidenceFileField(enum.Enum):
    """File fields of the evidence (value: Stripe's key, which takes a file upload id)."""

    CUSTOMER_COMMUNICATION = "customer_communication"
    RECEIPT = "receipt"
    REFUND_POLICY = "refund_policy"
    UNCATEGORIZED_FILE = "uncategorized_file"
    SERVICE_DOCUMENTATION = "service_documentation"
    SHIPPING_DOCUMENTATION = "shipping_documentation"
    CANCELLATION_POLICY = "cancellation_policy"
    DUPLICATE_CHARGE_DOCUMENTATION = "duplicate_charge_documentation"


# Stripe's limit per text field is 20,000 characters for the long ones; shorter fields
# (a name, a tracking number, a date) are given 5,000 (Stripe's maximum length of a string
# parameter).
TEXT_LIMITS: dict[EvidenceText, int] = {
    EvidenceText.PRODUCT_DESCRIPTION: 20_000,
    EvidenceText.UNCATEGORIZED_TEXT: 20_000,
    EvidenceText.REFUND_POLICY_DISCLOSURE: 20_000,
    EvidenceText.SHIPPING_TRACKING: 5_000,
    EvidenceText.CUSTOMER_NAME: 5_000,
    EvidenceText.CUSTOMER_EMAIL_ADDRESS: 5_000,
    EvidenceText.SERVICE_DATE: 5_000,
}


class FileType(enum.Enum):
    PDF = "application/pdf"
    JPEG = "image/jpeg"
    PNG = "image/png"


_MAGIC: tuple[tuple[bytes, FileType], ...] = (
    (b"%PDF-", FileType.PDF),
    (b"\xff\xd8\xff", FileType.JPEG),
    (b"\x89PNG\r\n\x1a\n", FileType.PNG),
)


def sniff(content: bytes) -> FileType | None:
    """The type a file's first bytes show (PDF, JPEG, PNG), or None."""
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return kind
    return None


# Where evidence can still be given: a dispute that needs a response (Stripe's
# ``needs_response``, ``warning_needs_response`` and ``appeal_needs_response``).
OPEN_FOR_EVIDENCE = frozenset({DisputeStatus.NEEDS_RESPONSE})
CLOSED = frozenset({DisputeStatus.WON, DisputeStatus.LOST, DisputeStatus.WARNING_CLOSED})


@dataclass(frozen=True, slots=True)
class BoundFile:
    """A file bound to an evidence field, as the draft keeps it (its details copied, so
    that reading a dispute's evidence loads no file)."""

    field: EvidenceFileField
    file_id: str  # our file's key (uuid as text)
    filename: str
    content_type: str
    size: int


def text_length(texts: dict[str, str]) -> int:
    return sum(len(value) for value in texts.values())
