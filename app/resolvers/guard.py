"""Enforcement around execution: the field policy and the query cost rules before an
operation runs, the time a query may take, and, around every mutation, the caller's rate
limit and the audit log."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import strawberry
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType
from strawberry.extensions import FieldExtension, SchemaExtension

from app.domain.errors import ErrorCode, UserInputError
from app.schema.node import GlobalIdError, Node, decode_gid
from app.security.principals import Actor
from app.security.query_gate import Verdict, cost_requested, timeout_error
from app.security.ratelimit import GUESSABLE_FIELDS, GUESSABLE_MUTATIONS
from app.security.redaction import camel, redact
from app.services import audit


class AccessControl(SchemaExtension):
    """Refuse, before execution, an operation selecting any field the caller's actor may
    not (see ``app/security/policy.py``). Refused mutations are audited as ``denied``."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        runtime = getattr(context, "runtime", None)
        if runtime is not None and execution.query is not None:
            # (strawberry's OperationType, not graphql-core's)
            if execution.operation_type.value == "subscription" and not getattr(
                context, "over_websocket", False
            ):
                # strawberry's view would run one over HTTP too (multipart/mixed), outside
                # the WebSocket's limits (app.graphql.resolver_path.live)
                raise GraphQLError(
                    "Subscriptions are served over WebSocket (graphql-transport-ws) at "
                    "/graphql, not over HTTP.",
                    extensions={"code": "SUBSCRIPTION_OVER_HTTP"},
                )
            principal = context.principal
            denied = runtime.policy.denied(
                execution.query, execution.operation_name, principal.actor
            )
            if denied:
                await self._audit_refusal(denied)
                raise _refusal(denied, principal.actor)
        yield

    async def _audit_refusal(self, denied: tuple[str, ...]) -> None:
        execution = self.execution_context
        operation = _operation(execution.graphql_document, execution.operation_name)
        if operation is None or operation.operation is not OperationType.MUTATION:
            return
        context = execution.context
        principal = context.principal
        await audit.record(
            context.runtime.audit_sessions,
            clock=context.runtime.clock,
            entries=[
                audit.Entry(
                    principal=principal.scope,
                    actor=principal.actor.value,
                    operation=selection.name.value,
                    outcome="denied",
                    request_id=context.request_id,
                    error_codes=[
                        "UNAUTHENTICATED" if principal.actor is Actor.ANONYMOUS else "FORBIDDEN"
                    ],
                    input={"deniedFields": list(denied)[:20]},
                )
                for selection in operation.selection_set.selections
                if isinstance(selection, FieldNode)
            ],
        )


class QueryLimits(SchemaExtension):
    """Before an operation runs (after the field policy): its estimated cost within its
    caller's budget and, for a query, spent from its caller's rate limit, or it is refused
    with ``QUERY_TOO_EXPENSIVE`` / ``RATE_LIMITED`` before any resolver or statement runs
    (``app.security.query_gate.QueryGate``, the compiled path's rules too). A query then executes
    within the request's time limit, or answers ``REQUEST_TIMEOUT``; a mutation is never
    cut off half-way. A request whose ``extensions`` hold ``"cost": true`` gets its
    estimate, budget and rate limit in ``extensions.cost``."""

    verdict: Verdict | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        runtime = getattr(context, "runtime", None)
        query = execution.query
        if runtime is None or query is None:
            yield
            return
        gate = runtime.gate
        verdict = self.verdict = await gate.admit(
            context.principal,
            query,
            execution.operation_name,
            execution.variables,
            execution.graphql_document,
        )
        if verdict is not None and verdict.error is not None:
            message, extensions = verdict.error
            raise GraphQLError(message, extensions=extensions)
        seconds = gate.request_timeout
        if not seconds or verdict is None or not verdict.estimate.query:
            yield
            return
        timeout = asyncio.timeout(seconds)
        try:
            async with timeout:
                yield
        except TimeoutError:
            if not timeout.expired():
                raise
            context.abandon()  # a loader batch still running a statement for it
            message, extensions = timeout_error(seconds, statement=False)
            raise GraphQLError(message, extensions=extensions) from None

    def get_results(self) -> dict[str, Any]:
        verdict = self.verdict
        if verdict is None or not cost_requested(self.execution_context.operation_extensions):
            return {}
        return {"cost": verdict.report()}


def _refusal(denied: tuple[str, ...], actor: Actor) -> GraphQLError:
    shown = ", ".join(denied[:10])
    if actor is Actor.ANONYMOUS:
        return GraphQLError(
            "Authentication required: send `Authorization: Bearer <API key or customer "
            f"token>`. Not available anonymously: {shown}.",
            extensions={"code": "UNAUTHENTICATED", "fields": list(denied)},
        )
    return GraphQLError(
        f"Not allowed for the {actor.value} role: {shown}.",
        extensions={"code": "FORBIDDEN", "fields": list(denied)},
    )


def _operation(document: Any, name: str | None) -> OperationDefinitionNode | None:
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == name), None)


def _global_ids(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        try:
            decode_gid(value)
        except GlobalIdError:
            return
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _global_ids(getattr(value, f.name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _global_ids(item)


def _payload_ids(payload: Any) -> Iterator[str]:
    if not dataclasses.is_dataclass(payload) or isinstance(payload, type):
        return
    for f in dataclasses.fields(payload):
        value = getattr(payload, f.name, None)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Node):
                yield str(item.id)


def _guessable(value: Any) -> bool:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(
            (camel(f.name) in GUESSABLE_FIELDS and getattr(value, f.name) not in (None, ""))
            or _guessable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not strawberry.UNSET
        )
    return False


class MutationGuard(FieldExtension):
    """On every Mutation field: count it against the caller's rate limits, run it, and
    append what happened to the audit log."""

    async def resolve_async(
        self,
        next_: Callable[..., Awaitable[Any]],
        source: Any,
        info: strawberry.Info,
        **kwargs: Any,
    ) -> Any:
        context = info.context
        runtime = context.runtime
        principal = context.principal
        given = kwargs.get("input")
        targets = list(dict.fromkeys(_global_ids(given)))

        async def log(outcome: str, codes: list[str], extra: Sequence[str] = ()) -> None:
            await audit.record(
                runtime.audit_sessions,
                clock=runtime.clock,
                entries=[
                    audit.Entry(
                        principal=principal.scope,
                        actor=principal.actor.value,
                        operation=info.field_name,
                        outcome=outcome,
                        request_id=context.request_id,
                        target_ids=list(dict.fromkeys([*targets, *extra])),
                        input=redact(kwargs, unset=strawberry.UNSET),
                        error_codes=codes,
                    )
                ],
            )

        guessable = info.field_name in GUESSABLE_MUTATIONS or _guessable(given)
        refusal = await runtime.limits.hit(principal.scope, guessable=guessable)
        if refusal is not None:
            await log("rate_limited", [ErrorCode.RATE_LIMITED.value])
            raise GraphQLError(
                f"Too many requests ({refusal.limit} for {refusal.budget}). Retry in "
                f"{refusal.retry_after_seconds} s.",
                extensions={
                    "code": ErrorCode.RATE_LIMITED.value,
                    "retryAfterSeconds": refusal.retry_after_seconds,
                },
            )
        try:
            result = await next_(source, info, **kwargs)
        except UserInputError as error:
            await context.end_failed_transaction(info.field_name)
            await log("user_error", [p.code.value for p in error.problems])
            raise
        except GraphQLError as error:
            await context.end_failed_transaction(info.field_name)
            await log("error", [str((error.extensions or {}).get("code", "ERROR"))])
            raise
        except Exception:
            await context.end_failed_transaction(info.field_name)
            await log("error", ["INTERNAL_ERROR"])
            raise
        await context.end_write_transaction(info.field_name)
        codes = [e.code.value for e in getattr(result, "user_errors", None) or []]
        await log("user_error" if codes else "ok", codes, list(_payload_ids(result)))
        return result
