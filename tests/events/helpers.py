"""Reading the event log through the API, and the API's own view of an event's object."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

EVENTS = """
query($after: String, $first: Int, $types: [EventType!], $objectId: ID) {
  events(after: $after, first: $first, types: $types, objectId: $objectId) {
    edges { cursor node {
      id sequence type name apiVersion createdAt objectType objectId data previousAttributes
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def all_events(api: Api, **arguments: Any) -> list[dict[str, Any]]:
    """Every event of the log (``arguments``: ``types``, ``objectId``), page by page."""
    events: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await api.data(EVENTS, {"after": after, "first": 100, **arguments}))["events"]
        events += [edge["node"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            return events


def names(events: list[dict[str, Any]]) -> list[str]:
    return [event["name"] for event in events]


def selection(snapshot: dict[str, Any]) -> str:
    """A GraphQL selection of exactly the fields of ``snapshot`` (nested ones included)."""
    parts = []
    for field, value in snapshot.items():
        if isinstance(value, dict) and field != "metadata":
            parts.append(f"{field} {{ {selection(value)} }}")
        else:
            parts.append(field)
    return " ".join(parts)


async def as_the_api_shows(api: Api, event: dict[str, Any]) -> dict[str, Any]:
    """The event's object now, as ``node(id:)`` returns the fields of its ``data``."""
    data = event["data"]
    query = (
        f"query($id: ID!) {{ node(id: $id) {{ ... on {event['objectType']} "
        f"{{ {selection(_widest(data))} }} }} }}"
    )
    node: dict[str, Any] = (await api.data(query, {"id": event["objectId"]}))["node"]
    return node


def _widest(data: dict[str, Any]) -> dict[str, Any]:
    """Nested objects that are null in this snapshot still need their fields selected."""
    widest = dict(data)
    for field, fields in NULLABLE_OBJECTS.items():
        if field in widest and widest[field] is None:
            widest[field] = {name: None for name in fields}
    return widest


NULLABLE_OBJECTS = {
    "decline": (
        "code",
        "message",
        "retryAdvice",
        "providerCode",
        "networkDeclineCode",
        "networkAdviceCode",
    ),
    "nextAction": ("redirectUrl",),
    "collectionStop": ("reason", "customerAction", "stoppedAt"),
    "experiment": ("id",),
    "payment": ("id",),
    # a coupon of a percentage; a promotion code without a minimum
    "amountOff": ("amount", "amountMinor", "currency"),
    "minimumAmount": ("amount", "amountMinor", "currency"),
}
