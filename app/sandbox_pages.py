"""The sandbox's stand-in for a bank's 3-D Secure page: the customer approves or fails the
challenge; the sandbox then reports the payment's new state through its webhook."""

import html

import sqlalchemy as sa
from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.context import Runtime
from app.models import Payment
from app.psp.errors import PspInvalidRequest

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox 3-D Secure</title></head>
<body>
<h1>Sandbox 3-D Secure</h1>
<p>Payment <code>{reference}</code> asks the cardholder to authenticate.</p>
<form method="post"><input type="hidden" name="outcome" value="succeed">
<button type="submit">Complete authentication</button></form>
<form method="post"><input type="hidden" name="outcome" value="fail">
<button type="submit">Fail authentication</button></form>
</body></html>"""
CSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"


def router(runtime: Runtime) -> APIRouter:
    routes = APIRouter(prefix="/sandbox/actions")

    @routes.get("/{reference}", include_in_schema=False)
    async def challenge(reference: str) -> Response:
        page = PAGE.format(reference=html.escape(reference))
        return HTMLResponse(page, headers={"Content-Security-Policy": CSP})

    @routes.post("/{reference}", include_in_schema=False)
    async def answer(reference: str, outcome: str = Form(...)) -> Response:
        sandbox = runtime.psps.sandbox
        if sandbox is None or outcome not in ("succeed", "fail"):
            return HTMLResponse("Not found", status_code=404)
        try:
            await sandbox.complete_action(reference, succeed=outcome == "succeed")
        except PspInvalidRequest:
            return HTMLResponse("This payment is not waiting for authentication.", 409)
        async with runtime.sessions() as session:
            return_url = await session.scalar(
                sa.select(Payment.return_url).where(
                    Payment.psp == "sandbox", Payment.psp_reference == reference
                )
            )
        if return_url:
            return RedirectResponse(return_url, status_code=303)
        return HTMLResponse("Done: go back to the shop and confirm the payment.")

    return routes
