"""Identifiers: time-ordered UUIDs (version 7), so that keys sort by creation."""

from __future__ import annotations

import binascii
import uuid

import uuid_utils.compat


def new_id() -> uuid.UUID:
    """A new UUIDv7 (RFC 9562): unique, and ordered by creation time."""
    return uuid_utils.compat.uuid7()


# Relay global IDs: the URL-safe base64 of ``Type:uuid``, without padding. Opaque to clients.
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def global_id(type_name: str, key: uuid.UUID) -> str:
    raw = f"{type_name}:{key}".encode()
    return binascii.b2a_base64(raw, newline=False).translate(_URL_SAFE).rstrip(b"=").decode()


class GlobalIdError(ValueError):
    """The string is not a global ID issued by paygate."""


_FROM_URL_SAFE = bytes.maketrans(b"-_", b"+/")


def parse_global_id(value: str) -> tuple[str, uuid.UUID]:
    """The type name and key of a global ID."""
    try:
        # base64.urlsafe_b64decode's steps without its wrappers (hot: every usage event)
        text = (value + "=" * (-len(value) % 4)).encode("ascii").translate(_FROM_URL_SAFE)
        raw = binascii.a2b_base64(text).decode()
        type_name, _, key = raw.partition(":")
        if not type_name.isalpha():
            raise GlobalIdError(value)
        return type_name, uuid.UUID(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise GlobalIdError(value) from None
