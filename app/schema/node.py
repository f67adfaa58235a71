"""Relay: the Node interface and opaque global IDs (``app.domain.ids``)."""

import uuid

import strawberry

from app.domain.ids import GlobalIdError, global_id, parse_global_id


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Opaque global ID. Pass it back as it is; do not parse it."
    )


def encode_gid(type_name: str, key: uuid.UUID) -> strawberry.ID:
    return global_id(type_name, key)  # type: ignore[return-value]  # an ID: no NewType call


def decode_gid(value: str) -> tuple[str, uuid.UUID]:
    """The type name and key of a global ID."""
    return parse_global_id(value)


__all__ = ["GlobalIdError", "Node", "decode_gid", "encode_gid"]
