"""An event as it leaves paygate (webhooks to merchants, the event bus): one JSON envelope,
the same fields as the GraphQL ``Event`` type, with the type's dotted name.

Its shape follows the Standard Webhooks specification's recommended payload
(``type``, ``timestamp``, ``data``; https://www.standardwebhooks.com/), with paygate's
own fields beside them. A consumer deduplicates by ``id`` (the ``webhook-id`` header and
the bus messages' id carry the same value) and orders an object's events by ``sequence``.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.domain.ids import global_id
from app.models.events import Event


def envelope(event: Event) -> dict[str, Any]:
    return {
        "id": global_id("Event", event.id),
        "type": event.type,
        "timestamp": event.created_at.isoformat(),
        "sequence": str(event.seq),
        "apiVersion": event.api_version,
        "objectType": event.object_type,
        "objectId": global_id(event.object_type, event.object_id),
        "data": event.data,
        "previousAttributes": event.previous,
    }


def body(event: Event) -> bytes:
    """The envelope as the bytes sent (and signed)."""
    return orjson.dumps(envelope(event))
