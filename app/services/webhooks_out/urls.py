"""Which URLs paygate may POST webhooks to: against server-side request forgery.

An endpoint's URL is checked when it is saved and again before every attempt (DNS may
point the name elsewhere since). In production the URL must use https and every address
its host resolves to must be global (not private, loopback, link-local, shared, multicast
or reserved) unless the host is allow-listed (``PAYGATE_WEBHOOKS__ALLOWED_HOSTS``). Standard
Webhooks asks senders to guard against SSRF this way ("Security considerations",
https://www.standardwebhooks.com/). Development accepts http and local receivers, so a
receiver on the developer's machine works.

Against DNS rebinding (a name that resolves to a global address for the check and to a
private one a moment later, when the HTTP client resolves it again), a delivery in
production connects to the address it checked: :func:`pinned` puts that address in the URL
and sends the name in the ``Host`` header and as TLS's server name (SNI), which the
certificate is verified against.
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


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


async def checked_address(
    host: str, *, production: bool, allowed_hosts: frozenset[str]
) -> tuple[str | None, Address | None]:
    """Why ``host`` may not be sent to (``None``: it may), and the address checked (``None``
    where nothing is checked: development, an allow-listed host)."""
    if not production or host in allowed_hosts:
        return None, None
    try:
        addresses = await _addresses(host)
    except OSError:
        return f"{host} does not resolve", None
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None)
        if not (mapped or address).is_global:
            return f"{host} resolves to a non-public address", None
    if not addresses:
        return f"{host} does not resolve", None
    return None, addresses[0]


async def refusal(host: str, *, production: bool, allowed_hosts: frozenset[str]) -> str | None:
    """Why ``host`` may not be sent to (``None``: it may)."""
    reason, _ = await checked_address(host, production=production, allowed_hosts=allowed_hosts)
    return reason


def pinned(url: str, address: Address) -> tuple[str, dict[str, str], dict[str, str]]:
    """``url`` with its host replaced by ``address``; the ``Host`` header and the request
    extensions (TLS server name) that keep the name for the receiver and its certificate."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    header = host if parts.port is None else f"{host}:{parts.port}"
    return parts._replace(netloc=netloc).geturl(), {"host": header}, {"sni_hostname": host}


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
