"""POST /webhooks/{psp}: PSP events in, through the same service for every provider (and
for the sandbox, which delivers its events in-process through ``deliver``)."""

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.context import Runtime
from app.observability.metrics import Metrics
from app.psp.errors import PspInvalidRequest, WebhookVerificationError
from app.psp.registry import UnknownPsp
from app.services.webhooks import inbound

logger = logging.getLogger("paygate.webhooks")
MAX_BODY = 1 << 20


async def deliver(
    runtime: Runtime,
    psp: str,
    headers: dict[str, str],
    body: bytes,
    *,
    metrics: Metrics | None = None,
) -> str:
    """Verify, store and apply one delivery; returns what happened (and counts it)."""
    result = "error"
    try:
        async with runtime.sessions() as session:
            receipt = await inbound.receive(
                session,
                psps=runtime.psps,
                clock=runtime.clock,
                psp_name=psp,
                headers=headers,
                body=body,
            )
        result = receipt.value
        return result
    except (UnknownPsp, WebhookVerificationError, PspInvalidRequest):
        result = "refused"
        raise
    finally:
        if metrics is not None:
            label = psp if psp in runtime.psps.names else "unknown"
            metrics.webhook_receipts.labels(label, result).inc()


def router(runtime: Runtime, *, metrics: Metrics | None = None) -> APIRouter:
    routes = APIRouter()

    @routes.post("/webhooks/{psp}", include_in_schema=False)
    async def receive(psp: str, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        try:
            receipt = await deliver(runtime, psp, dict(request.headers), body, metrics=metrics)
        except UnknownPsp:
            return JSONResponse({"error": "unknown PSP"}, status_code=404)
        except WebhookVerificationError as error:
            logger.warning("refused a %s webhook: %s", psp, error)
            return JSONResponse({"error": "signature verification failed"}, status_code=400)
        except PspInvalidRequest:
            return JSONResponse({"error": "malformed event"}, status_code=400)
        return JSONResponse({"received": receipt})

    return routes
