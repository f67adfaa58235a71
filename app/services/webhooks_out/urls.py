"""Which URLs paygate may POST webhooks to: against server-side request forgery.

An endpoint's URL is checked when it is saved and again before every attempt (DNS may
point the name elsewhere since). In production the URL must use https and every address
its host resolves to must be global (not private, loopback, link-local, shared, multicast
or reserved) unless the host is allow-listed (``PAYGATE_WEBHOOKS__ALLOWED_HOSTS``). Standard
Webhooks asks senders to guard against SSRF this way ("Security considerations",
https://www.standardwebhooks.com/). Development accepts http and local receivers, so a
receiver on the developer's machine works.

Not covered: a name that resolves to a global address here and to a private one when the
HTTP client resolves it again a moment later (DNS rebinding); pinning the connection to the
checked address would close that gap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.webhooks_out import MAX_URL_LENGTH


def shape(problems: Problems, url: str, *, production: bool, field: tuple[str, ...]) -> str:
    """The URL's host, after the checks that need no DNS (problems added to ``problems``)."""
    if len(url) > MAX_URL_LENGTH:
        problems.add(ErrorCode.TOO_LONG, f"At most {MAX_URL_LENGTH} characters.", *field)
        return ""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        problems.add(ErrorCode.INVALID_URL, "Not a URL.", *field)
        return ""
    if parts.scheme not in ("http", "https") or not host:
        problems.add(ErrorCode.INVALID_URL, "An absolute http(s) URL with a host.", *field)
        return ""
    if parts.username is not None or parts.password is not None:
        problems.add(ErrorCode.INVALID_URL, "No user name or password in the URL.", *field)
        return ""
    if parts.scheme != "https" and production:
        problems.add(ErrorCode.URL_NOT_HTTPS, "Webhooks are sent over https only.", *field)
        return ""
    return host.lower()


async def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def refusal(host: str, *, production: bool, allowed_hosts: frozenset[str]) -> str | None:
    """Why ``host`` may not be sent to (``None``: it may)."""
    if not production or host in allowed_hosts:
        return None
    try:
        addresses = await _addresses(host)
    except OSError:
        return f"{host} does not resolve"
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None)
        if not (mapped or address).is_global:
            return f"{host} resolves to a non-public address"
    return None if addresses else f"{host} does not resolve"


async def check(
    url: str, *, production: bool, allowed_hosts: frozenset[str], field: tuple[str, ...]
) -> str:
    """The URL to store, or a ``UserInputError`` saying why it is refused."""
    problems = Problems()
    host = shape(problems, url, production=production, field=field)
    problems.raise_if_any()
    reason = await refusal(host, production=production, allowed_hosts=allowed_hosts)
    if reason is not None:
        raise UserInputError(Problem(ErrorCode.URL_NOT_ALLOWED, f"Refused: {reason}.", field))
    return url.strip()
