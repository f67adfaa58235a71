"""POST /files: evidence files checked by their content and size, with the API's keys."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.models import File
from app.schema.node import decode_gid
from tests.conftest import Api
from tests.disputes.helpers import JPEG, PDF, PNG, upload
from tests.factories import api_key

FIVE_MB = 5_000_000


@pytest.mark.parametrize(
    ("content", "filename", "declared", "kind"),
    [
        (PDF, "receipt.pdf", "application/pdf", "application/pdf"),
        (PNG, "chat.png", "image/png", "image/png"),
        # the content decides, not the declared type or the name
        (JPEG, "photo.txt", "text/plain", "image/jpeg"),
    ],
)
async def test_pdf_jpeg_and_png_are_taken(
    api: Api, content: bytes, filename: str, declared: str, kind: str
) -> None:
    response = await upload(api, content, filename, declared=declared)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["contentType"] == kind and body["size"] == len(content)
    assert body["filename"] == filename and body["purpose"] == "dispute_evidence"
    assert decode_gid(body["id"])[0] == "File"


async def test_limits_and_bad_files_are_refused(api: Api) -> None:
    refused = {
        "over 5 MB": (PDF + b"0" * (FIVE_MB - len(PDF) + 1), "application/pdf", 413,
                      "FILE_TOO_LARGE"),
        "HTML declared as PDF": (b"<html><body>hi</body></html>", "application/pdf", 415,
                                 "FILE_TYPE_NOT_ALLOWED"),
        "GIF": (b"GIF89a" + bytes(20), "image/gif", 415, "FILE_TYPE_NOT_ALLOWED"),
        "empty": (b"", "application/pdf", 400, "BLANK"),
        "card number inside": (PDF + b"(Card 4242 4242 4242 4242) Tj\n", "application/pdf",
                               400, "CARD_DATA_NOT_ALLOWED"),
    }  # fmt: skip
    for name, (content, declared, status, code) in refused.items():
        response = await upload(api, content, declared=declared)
        assert (response.status_code, response.json()["code"]) == (status, code), name
    exactly = await upload(api, PDF + b"0" * (FIVE_MB - len(PDF)))
    assert exactly.status_code == 201, exactly.text
    purpose = await upload(api, PDF, purpose="identity_document")
    assert (purpose.status_code, purpose.json()["code"]) == (400, "INVALID")
    no_file = await api.http.post("/files", data={"purpose": "dispute_evidence"})
    assert no_file.status_code == 400
    count = await api.data("{ disputes { totalCount } }")
    assert count == {"disputes": {"totalCount": 0}}
    async with api.runtime.sessions() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(File)) == 1


async def test_uploads_need_a_billing_role(api: Api) -> None:
    growth = await api_key(api, "GROWTH")
    support = await api_key(api, "SUPPORT")
    denied = await upload(api, PDF, authorization=f"Bearer {growth}")
    assert denied.status_code == 403
    unknown = await upload(api, PDF, authorization="Bearer pg_live_notakey0000000000000000")
    assert unknown.status_code == 401
    allowed = await upload(api, PDF, authorization=f"Bearer {support}")
    assert allowed.status_code == 201
