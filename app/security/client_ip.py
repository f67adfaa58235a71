"""The client's address and device, as the risk rules see them.

The peer's address is the client's, unless the peer is a trusted proxy
(``PAYGATE_TRUSTED_PROXIES``): then ``X-Forwarded-For`` is read from the right, skipping
the trusted proxies, and the first address that is not one is the client (the rightmost
untrusted address: anything to its left was written by the client itself, and a client can
write anything; MDN, "X-Forwarded-For", Security and privacy concerns). A header from a
peer that is not trusted is ignored.

The device id is what the frontend sends in ``Paygate-Device-Id`` (a fingerprinting SDK's
id, or an id the app keeps): 1-128 printable ASCII characters, else ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import HTTPConnection

DEVICE_HEADER = "paygate-device-id"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ClientSignals:
    ip_address: str | None = None
    device_id: str | None = None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]
) -> bool:
    return any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]
) -> str | None:
    """The client's address: ``peer``, or from ``forwarded_for`` (every X-Forwarded-For
    header's value, in order) when ``peer`` is a trusted proxy."""
    address = _address(peer) if peer else None
    if address is None:
        return None
    if not _trusted(address, proxies):
        return str(address)
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        candidate = _address(hop)
        if candidate is None:
            return None  # a malformed chain: nothing in it can be believed
        if not _trusted(candidate, proxies):
            return str(candidate)
        address = candidate
    return str(address)


def device_id(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not 1 <= len(value) <= 128 or not all(33 <= ord(c) <= 126 for c in value):
        return None
    return value


def signals_of(connection: HTTPConnection | None, proxies: Sequence[Network]) -> ClientSignals:
    if connection is None:
        return ClientSignals()
    peer = connection.client.host if connection.client else None
    return ClientSignals(
        ip_address=client_address(peer, connection.headers.getlist("x-forwarded-for"), proxies),
        device_id=device_id(connection.headers.get(DEVICE_HEADER)),
    )
