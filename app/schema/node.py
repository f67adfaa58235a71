"""Relay: the Node interface and opaque global IDs."""

import base64
import binascii
import uuid

import strawberry


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Opaque global ID. Pass it back as it is; do not parse it."
    )


class GlobalIdError(ValueError):
    """The string is not a global ID issued by paygate."""


# base64's URL-safe alphabet from the standard one (what base64.urlsafe_b64encode does).
URL_SAFE = bytes.maketrans(b"+/", b"-_")


def encode_gid(type_name: str, key: uuid.UUID) -> strawberry.ID:
    raw = f"{type_name}:{key}".encode()
    encoded = binascii.b2a_base64(raw, newline=False).translate(URL_SAFE)
    return encoded.rstrip(b"=").decode()  # type: ignore[return-value]  # an ID: no NewType call


def decode_gid(value: str) -> tuple[str, uuid.UUID]:
    """The type name and key of a global ID."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, _, key = raw.partition(":")
        if not type_name.isalpha():
            raise GlobalIdError(value)
        return type_name, uuid.UUID(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise GlobalIdError(value) from None
