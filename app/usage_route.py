"""POST /usage: usage events as JSON for high-rate senders, the same as the ``recordUsage``
mutation (``app/services/metering/ingest.py``) without GraphQL's parsing and validation.

Request: ``{"events": [{"idempotencyKey", "meterKey", "customerId" | "subscriptionId",
"timestamp", "value", "properties"}, …]}`` (1 to 100 events) with a server API key of the
admin, support or finance role. Answer 200: one result per event (``ACCEPTED``,
``DUPLICATE`` or ``REFUSED`` with ``errors``), and the counts. Accepted events are
committed before the answer is sent; resending a batch after a timeout or a 5xx is safe
(each event's key counts once). 400: the body is not such an object; 401/403: credentials.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.auth import Unauthenticated, authenticate
from app.context import Runtime
from app.security.policy import BILLING
from app.services.metering import ingest

MAX_BODY = 1 << 20


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def answer(results: list[ingest.Result]) -> dict[str, Any]:
    counts = ingest.tally(results)
    return {
        "accepted": counts[ingest.Outcome.ACCEPTED],
        "duplicates": counts[ingest.Outcome.DUPLICATE],
        "refused": counts[ingest.Outcome.REFUSED],
        "results": [
            {
                "index": r.index,
                "idempotencyKey": r.idempotency_key,
                "outcome": r.outcome.name,
                "errors": [
                    {"field": list(p.field) or None, "code": p.code.value, "message": p.message}
                    for p in r.problems
                ],
            }
            for r in results
        ],
    }


def router(runtime: Runtime) -> APIRouter:
    routes = APIRouter()

    @routes.post("/usage", include_in_schema=False)
    async def record_usage(request: Request) -> Response:
        try:
            principal = await authenticate(request, runtime)
        except Unauthenticated as error:
            return JSONResponse(
                {"error": str(error)},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="paygate"'},
            )
        if principal.actor not in BILLING:
            return _error("Usage is recorded with an API key of the admin, support or finance "
                          "role.", 403)  # fmt: skip
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error("The body is larger than 1 MiB: send at most 100 events.", 413)
        try:
            document = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            return _error("The body is not JSON.", 400)
        events = document.get("events") if isinstance(document, dict) else None
        if not isinstance(events, list) or not 1 <= len(events) <= ingest.MAX_BATCH:
            return _error(f'Send {{"events": [...]}} with 1 to {ingest.MAX_BATCH} events.', 400)
        async with runtime.sessions() as session:
            results = await ingest.record(
                session, clock=runtime.clock, sender=principal.scope, events=events
            )
        return JSONResponse(answer(results))

    return routes
