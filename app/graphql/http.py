"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): the response's
media type, and what a request error answers under ``application/graphql-response+json``.

- The media type follows the request's ``Accept`` header (RFC 9110 §12.5.1: the listed type
  of the highest quality the server supports). paygate supports
  ``application/graphql-response+json`` and ``application/json``; ``*/*`` and
  ``application/*`` choose ``application/json``, as does a request without ``Accept``
  (today's clients: the specification's legacy default, "Legacy watershed").
- An ``Accept`` without a supported type is answered ``406 Not Acceptable`` (the
  specification's RECOMMENDED choice), unless it asks for a streamed answer (incremental
  delivery), which strawberry's view serves.
- Under ``application/json`` the status codes are today's: ``200`` for every GraphQL response,
  request errors included ("application/json" section).
- Under ``application/graphql-response+json`` a request error, raised before execution
  begins (the body is not JSON, its parameters are not well-formed, the document does not
  parse or validate, the operation cannot be determined, the variables cannot be coerced),
  is answered ``400`` with ``errors`` and no ``data`` entry (the GraphQL specification's
  "Response Format": ``data`` is absent when execution did not begin); an executed operation,
  field errors or not, is ``200`` ("application/graphql-response+json" section).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import orjson

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# A streamed answer (``@defer``/``@stream``): strawberry's view negotiates it.
_STREAMED = ("multipart/mixed", "text/event-stream")
CONTENT_TYPES = {
    GRAPHQL_RESPONSE_JSON: b"application/graphql-response+json; charset=utf-8",
    JSON: b"application/json",
}


class Answer(NamedTuple):
    """An HTTP answer made whole in memory: its status and its JSON body."""

    status: int
    body: bytes


class NotAcceptable(Exception):
    """The request accepts no media type paygate answers in."""


def _ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an ``Accept`` header with their quality, in the header's order."""
    ranges = []
    for part in accept.split(","):
        kind, *parameters = (p.strip() for p in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if kind:
            ranges.append((kind.lower(), quality))
    return ranges


class _Candidate(NamedTuple):
    """A media type the request accepts and paygate answers in."""

    quality: float
    specificity: int  # 2: the type itself, 1: a wildcard range
    media: str

    @property
    def rank(self) -> tuple[float, int]:
        """The higher the better: the quality, then the most specific range."""
        return (self.quality, self.specificity)


@functools.lru_cache(maxsize=256)  # clients send a few distinct headers, again and again
def response_media_type(accept: str | None) -> str | None:
    """The media type to answer in; ``None`` for a streamed answer (strawberry's view).
    Raises :class:`NotAcceptable` when the request accepts nothing paygate answers in."""
    if accept is None or not accept.strip():
        return JSON
    best: _Candidate | None = None
    for kind, quality in _ranges(accept):
        if quality <= 0:
            continue
        if kind in _STREAMED:
            return None
        if kind in (GRAPHQL_RESPONSE_JSON, JSON):
            candidate = _Candidate(quality, 2, kind)
        elif kind in ("*/*", "application/*"):
            candidate = _Candidate(quality, 1, JSON)
        else:
            continue
        if best is None or candidate.rank > best.rank:
            best = candidate
    if best is None:
        raise NotAcceptable(accept)
    return best.media


def accept_header(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The request's ``Accept`` header (several are joined, as RFC 9110 §5.3 allows)."""
    values = [value.decode("latin-1") for name, value in headers if name == b"accept"]
    return ", ".join(values) if values else None


def request_error_body(message: str, code: str, **extensions: Any) -> bytes:
    """A GraphQL response for a request error: ``errors``, and no ``data`` entry."""
    error = {"message": message, "extensions": {"code": code, **extensions}}
    return orjson.dumps({"errors": [error]})


def well_formed(body: dict[str, Any]) -> str | None:
    """What makes ``body`` not a well-formed GraphQL-over-HTTP request (its parameters'
    types, "JSON Encoding"), or ``None``."""
    query = body.get("query")
    if not isinstance(query, str):
        return "query must be a string holding the GraphQL document."
    if body.get("variables") is not None and not isinstance(body["variables"], dict):
        return "variables must be an object (map) or null."
    if body.get("operationName") is not None and not isinstance(body["operationName"], str):
        return "operationName must be a string or null."
    if body.get("extensions") is not None and not isinstance(body["extensions"], dict):
        return "extensions must be an object (map) or null."
    return None
