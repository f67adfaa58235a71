"""Identifiers: time-ordered UUIDs (version 7), so that keys sort by creation."""

from __future__ import annotations

import uuid

import uuid_utils.compat


def new_id() -> uuid.UUID:
    """A new UUIDv7 (RFC 9562): unique, and ordered by creation time."""
    return uuid_utils.compat.uuid7()
