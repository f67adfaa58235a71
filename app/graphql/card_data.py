"""No card data on either path: a document or variables holding something shaped like a
card number is refused before it is parsed, so that it is never executed, echoed in an
error or logged. The resolver path refuses it with :class:`CardDataGuard` (a schema
extension); the compiled path hands such a request to the resolver path, which refuses it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.domain.errors import ErrorCode
from app.domain.pan import contains_card_number

CARD_DATA_REFUSED = (
    "The request contains what looks like a card number. paygate never accepts "
    "card data: collect cards with your PSP's hosted fields and send the token."
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool):
        return
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def values_hold_card_number(values: Any) -> bool:
    """Whether any text of ``values`` (parsed JSON: keys, strings, numbers) looks like a
    card number."""
    return any(contains_card_number(text) for text in _strings(values))


# Texts known to hold no card number: at most 1024, of at most 20,000 characters each.
_CLEAN_DOCUMENTS: dict[str, None] = {}


def document_holds_card_number(document: str) -> bool:
    """Scanned once per document text: clients send the same few documents over and over.
    Only clean texts are remembered: one that holds a card number is refused, never kept."""
    if document in _CLEAN_DOCUMENTS:
        return False
    if contains_card_number(document):
        return True
    if len(document) <= 20_000:  # documents, not whatever a caller may send
        if len(_CLEAN_DOCUMENTS) >= 1024:
            _CLEAN_DOCUMENTS.clear()
        _CLEAN_DOCUMENTS[document] = None
    return False


class CardDataGuard(SchemaExtension):
    """Refuse any operation whose document or variables hold something shaped like a card
    number, before parsing."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        if document_holds_card_number(context.query or "") or values_hold_card_number(
            context.variables or {}
        ):
            raise GraphQLError(
                CARD_DATA_REFUSED, extensions={"code": ErrorCode.CARD_DATA_NOT_ALLOWED.value}
            )
        yield
