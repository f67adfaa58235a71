"""Disputes through the API: a disputed payment, files uploaded to ``POST /files``, and the
evidence mutations."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Api
from tests.factories import customer_with, get_payment, pay

# The smallest files of each type the upload accepts (their magic numbers, then filler).
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20) + b"\xff\xd9"

DISPUTE_FIELDS = """
  id status psp hasEvidence evidenceDueBy evidenceUpdatedAt evidenceSubmittedAt
  evidence {
    productDescription shippingTracking uncategorizedText customerName customerEmailAddress
    serviceDate refundPolicyDisclosure
    files { field fileId filename contentType size }
  }
"""
UPDATE = f"""
mutation($i: UpdateDisputeEvidenceInput!) {{
  updateDisputeEvidence(input: $i) {{
    dispute {{ {DISPUTE_FIELDS} }}
    userErrors {{ field code message }}
  }}
}}
"""
SUBMIT = f"""
mutation($i: SubmitDisputeEvidenceInput!) {{
  submitDisputeEvidence(input: $i) {{
    dispute {{ {DISPUTE_FIELDS} }}
    userErrors {{ field code message }}
  }}
}}
"""
GET = f"query($id: ID!) {{ dispute(id: $id) {{ {DISPUTE_FIELDS} }} }}"


async def disputed_payment(api: Api, amount: str = "30.00") -> tuple[str, str]:
    """A sandbox payment that the cardholder disputes at once: (payment ID, dispute ID)."""
    customer = await customer_with(api, "tok_disputed")
    paid = (await pay(api, customer, amount))["payment"]
    payment = await get_payment(api, paid["id"])
    (dispute,) = payment["disputes"]
    return paid["id"], dispute["id"]


async def upload(
    api: Api,
    content: bytes,
    filename: str = "receipt.pdf",
    *,
    declared: str = "application/pdf",
    purpose: str = "dispute_evidence",
    **headers: str,
) -> httpx.Response:
    return await api.http.post(
        "/files",
        data={"purpose": purpose},
        files={"file": (filename, content, declared)},
        headers=headers,
    )


async def uploaded(api: Api, content: bytes = PDF, filename: str = "receipt.pdf") -> str:
    """An uploaded evidence file: its global ID."""
    response = await upload(api, content, filename)
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


async def update(api: Api, dispute: str, **evidence: Any) -> dict[str, Any]:
    data = await api.data(UPDATE, {"i": {"disputeId": dispute, "evidence": evidence}})
    result: dict[str, Any] = data["updateDisputeEvidence"]
    return result


async def submit(api: Api, dispute: str) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(SUBMIT, {"i": {"disputeId": dispute}}))[
        "submitDisputeEvidence"
    ]
    return result


async def dispute_of(api: Api, dispute: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.data(GET, {"id": dispute}))["dispute"]
    return found


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]
