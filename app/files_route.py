"""POST /files: upload a file for later use, as Stripe's Files API takes one (multipart
form: ``purpose`` and ``file``). The only purpose is ``dispute_evidence`` (bind the file to
a dispute's evidence with ``updateDisputeEvidence``).

Authenticated like the API (``Authorization: Bearer <API key>``) with a key of the admin,
support or finance role. A file is PDF, JPEG or PNG by its content (its magic number; the
declared type is not trusted), 5 MB at most (Stripe's limit for dispute evidence), and holds
no card number. Answer 201: ``{"id", "purpose", "filename", "contentType", "size",
"createdAt"}`` with the file's global ID. 400: bad form or purpose, empty file, card data;
413: too large; 415: not PDF, JPEG or PNG; 401/403: credentials.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from app.auth import Unauthenticated, authenticate
from app.context import Runtime
from app.domain import disputes as rules
from app.domain.errors import ErrorCode, UserInputError
from app.domain.ids import global_id
from app.security.policy import BILLING
from app.services.disputes import files

# The form's overhead besides the file (boundaries, headers, the purpose).
_FORM_OVERHEAD = 64 * 1024
_STATUS = {ErrorCode.FILE_TOO_LARGE: 413, ErrorCode.FILE_TYPE_NOT_ALLOWED: 415}


def _error(message: str, status: int, code: str) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status)


def router(runtime: Runtime) -> APIRouter:
    routes = APIRouter()

    @routes.post("/files", include_in_schema=False)
    async def upload_file(request: Request) -> Response:
        try:
            principal = await authenticate(request, runtime)
        except Unauthenticated as error:
            return JSONResponse(
                {"error": str(error), "code": "UNAUTHENTICATED"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="paygate"'},
            )
        if principal.actor not in BILLING:
            return _error(
                "Files are uploaded with an API key of the admin, support or finance role.",
                403,
                "FORBIDDEN",
            )
        length = request.headers.get("content-length")
        too_long = length is not None and length.isdigit()
        if too_long and int(str(length)) > rules.MAX_FILE_BYTES + _FORM_OVERHEAD:
            return _error(
                f"A file is at most {rules.MAX_FILE_BYTES:,} bytes.", 413, "FILE_TOO_LARGE"
            )
        try:
            form = await request.form(max_files=1, max_fields=4)
        except Exception:  # starlette's MultiPartException, or a body that is no form
            return _error("Send multipart/form-data with `purpose` and one `file`.", 400, "INVALID")
        try:
            upload = form.get("file")
            purpose = form.get("purpose")
            if not isinstance(upload, UploadFile) or not isinstance(purpose, str):
                return _error(
                    "Send multipart/form-data with `purpose` and one `file`.", 400, "INVALID"
                )
            content = await upload.read(rules.MAX_FILE_BYTES + 1)
            filename = upload.filename
        finally:
            await form.close()
        try:
            async with runtime.sessions() as session:
                row = await files.upload(
                    session,
                    clock=runtime.clock,
                    uploaded_by=principal.scope,
                    purpose=purpose,
                    filename=filename,
                    content=content,
                )
        except UserInputError as error:
            problem = error.problems[0]
            return _error(problem.message, _STATUS.get(problem.code, 400), problem.code.value)
        return JSONResponse(
            {
                "id": global_id("File", row.id),
                "purpose": row.purpose,
                "filename": row.filename,
                "contentType": row.content_type,
                "size": row.size_bytes,
                "createdAt": row.created_at.isoformat(),
            },
            status_code=201,
        )

    return routes
