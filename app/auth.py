"""Authentication of HTTP requests (and of WebSocket connections: ``connection_init``'s
``authorization``): the ``Authorization`` header becomes a principal.

- no header: anonymous (the deployment decides what anonymous callers may do);
- ``Bearer pgk_…``: a server API key (``app/services/api_keys.py``);
- ``Bearer <JWT>``: a customer session (``app/security/tokens.py``).

Credentials that are present but wrong are never downgraded to anonymous: the request is
refused with 401, whatever it asked.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from app.context import Runtime
from app.schema.node import GlobalIdError, decode_gid
from app.security.principals import Principal
from app.security.tokens import InvalidToken
from app.services.api_keys import looks_like_key


class Unauthenticated(Exception):
    """Credentials were sent and are not valid. The message never quotes them."""


async def authenticate(request: Request, runtime: Runtime) -> Principal:
    client = request.client.host if request.client else "unknown"
    return await authenticate_header(request.headers.get("authorization"), client, runtime)


async def authenticate_header(header: str | None, client: str, runtime: Runtime) -> Principal:
    """The principal of an ``Authorization`` value (HTTP's header, or the ``authorization``
    of a WebSocket's ``connection_init``); ``client`` is the caller's address."""
    if header is None:
        return Principal.anonymous(client, runtime.settings.anonymous_role)
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise Unauthenticated("Use `Authorization: Bearer <API key or customer token>`.")
    if looks_like_key(credential):
        verified = await runtime.keys.verify(credential)
        if verified is None:
            raise Unauthenticated("Unknown or revoked API key.")
        return Principal.api_key(verified.key_id, verified.role)
    try:
        claims = await runtime.tokens.verify(credential, now=runtime.clock.now())
    except InvalidToken as error:
        raise Unauthenticated(str(error)) from None
    try:
        type_name, customer_id = decode_gid(claims.subject)
    except GlobalIdError:
        raise Unauthenticated("The token does not name a customer.") from None
    if type_name != "Customer":
        raise Unauthenticated("The token does not name a customer.")
    return Principal.customer(customer_id)


def unauthenticated_response(error: Unauthenticated, request_id: str) -> JSONResponse:
    """A GraphQL-shaped 401, so that clients read it like any other error."""
    return JSONResponse(
        {
            "data": None,
            "errors": [
                {
                    "message": str(error),
                    "extensions": {"code": "UNAUTHENTICATED", "requestId": request_id},
                }
            ],
        },
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="paygate"'},
    )
