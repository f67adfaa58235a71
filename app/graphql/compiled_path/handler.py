"""Trusted documents with their plans, and a plan run for an authenticated caller.

The endpoint (``app.graphql.endpoint``) finds the document a request names; when its plan
compiled and takes the request (:meth:`CompiledPath.takes`), it authenticates the caller and
runs the plan here: the field policy, the variables coerced, the query budget and time
limit (the resolver path's ``QueryLimits``), then the plan's one SQL statement, answering
``{"data": <the JSON text PostgreSQL wrote>}``. Whatever would make the resolver path report
an error (a malformed or foreign ID, an out-of-range size, a refused field) raises
:class:`FallThrough`: the resolver path answers, so errors are its own, exactly. A refusal
by the budget or the time limit raises :class:`Refused` with the resolver path's words.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from time import perf_counter
from typing import Any

import orjson
from graphql import GraphQLSchema

from app.context import Runtime
from app.db import is_statement_timeout
from app.graphql.card_data import values_hold_card_number
from app.graphql.compiled_path.compiler import FallThrough, Plan, Unsupported, compile_document
from app.graphql.compiled_path.registry import TrustedDocument
from app.graphql.http import Answer
from app.observability.metrics import Metrics
from app.security.principals import Principal
from app.security.query_gate import Verdict, cost_requested, timeout_error

logger = logging.getLogger("paygate.trusted")


class TrustedDocuments:
    """The registry, with a plan for each document inside the compiled subset."""

    def __init__(
        self, documents: Iterable[TrustedDocument], schema: GraphQLSchema, *, compile: bool
    ) -> None:
        self.by_hash: dict[str, TrustedDocument] = {}
        self.by_text: dict[str, TrustedDocument] = {}
        self.plans: dict[str, Plan] = {}
        self.unsupported: dict[str, str] = {}
        self.schema = schema
        self.compile = compile
        for document in documents:
            self.add(document)

    def add(self, document: TrustedDocument) -> None:
        """Register a document (at start-up), compiling it when it is in the subset."""
        self.by_hash[document.sha256] = document
        self.by_text[document.text] = document
        if not self.compile:
            return
        try:
            self.plans[document.sha256] = compile_document(self.schema, document)
        except Unsupported as reason:
            self.unsupported[document.name] = str(reason)
            logger.info("trusted document %s served by the resolvers: %s", document.name, reason)

    def find(self, body: dict[str, Any]) -> tuple[TrustedDocument | None, bool]:
        """The document a request names, and whether it named an id that is unknown (never
        echoed: it could be anything, even card data)."""
        named = body.get("documentId")
        if named is None:
            extensions = body.get("extensions")
            persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
            if isinstance(persisted, dict):
                named = persisted.get("sha256Hash")
                named = None if named is None else f"sha256:{named}"
        if named is not None:
            digest = named.removeprefix("sha256:") if isinstance(named, str) else ""
            found = self.by_hash.get(digest)
            return found, found is None
        query = body.get("query")
        return (self.by_text.get(query) if isinstance(query, str) else None), False


class Refused(Exception):
    """A plan's request refused with a GraphQL error (the resolver path's words)."""

    def __init__(self, error: tuple[str, dict[str, Any]], report: dict[str, Any] | None) -> None:
        message, extensions = error
        super().__init__(message)
        body: dict[str, Any] = {
            "data": None,
            "errors": [{"message": message, "extensions": extensions}],
        }
        if report is not None:
            body["extensions"] = {"cost": report}
        self.answer = Answer(200, orjson.dumps(body))


class CompiledPath:
    """Runs plans, at most as many at once as the pool has connections, the others waiting in
    arrival order with the resolver path's requests (``Runtime.connection_slots``)."""

    def __init__(self, runtime: Runtime, metrics: Metrics | None) -> None:
        self.runtime = runtime
        self.slots = runtime.connection_slots
        self.metrics = metrics

    @staticmethod
    def takes(plan: Plan, body: dict[str, Any]) -> bool:
        """Whether the plan may answer ``body`` whoever calls: its operation, variables that
        are an object and hold no card number (the resolver path refuses those, as always)."""
        variables = body.get("variables") or {}
        return (
            isinstance(variables, dict)
            and body.get("operationName") in (None, plan.operation_name)
            and not values_hold_card_number(variables)
        )

    async def __call__(self, plan: Plan, body: dict[str, Any], principal: Principal) -> Answer:
        """The plan's answer for ``principal``; :class:`FallThrough` when the resolver path
        must answer, :class:`Refused` for the budget's and time limit's refusals."""
        began = perf_counter()
        runtime = self.runtime
        variables = body.get("variables") or {}
        if runtime.policy.denied(plan.document.text, plan.operation_name, principal.actor):
            raise FallThrough  # refused, with the resolver path's error and audit
        arguments = plan.arguments(variables, principal)
        # The resolver path's rules (``QueryLimits``): the budget and rate limit by cost,
        # then the request's time limit; a statement's own limit is the connection's.
        gate = runtime.gate
        verdict = await gate.admit(principal, plan.document.text, plan.operation_name, variables)
        report = _report(verdict, body)
        if verdict is not None and verdict.error is not None:
            raise Refused(verdict.error, report)
        timeout = asyncio.timeout(gate.request_timeout)
        try:
            async with timeout, self.slots, runtime.engine.connect() as connection:
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection
                data: str = await driver.fetchval(plan.sql, *arguments)
        except TimeoutError:
            if not timeout.expired():
                raise
            raise Refused(timeout_error(gate.request_timeout, statement=False), report) from None
        except Exception as error:
            if not is_statement_timeout(error):
                raise
            seconds = runtime.settings.db_statement_timeout_seconds or None
            logger.warning("statement timeout of compiled plan %s", plan.document.name)
            raise Refused(timeout_error(seconds, statement=True), report) from None
        if self.metrics is not None:
            label = self.metrics.operation_name(plan.operation_name)
            self.metrics.graphql_duration.labels(label, "query").observe(perf_counter() - began)
        if report is not None:
            extensions = orjson.dumps({"cost": report})
            return Answer(200, b'{"data":' + data.encode() + b',"extensions":' + extensions + b"}")
        return Answer(200, b'{"data":' + data.encode() + b"}")


def _report(verdict: Verdict | None, body: dict[str, Any]) -> dict[str, Any] | None:
    """``extensions.cost`` when the request asks for it."""
    if verdict is None or not cost_requested(body.get("extensions")):
        return None
    return verdict.report()
