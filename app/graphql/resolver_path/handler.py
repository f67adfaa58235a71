"""The resolver path for one operation: POST /graphql handed over by the endpoint
(``app.graphql.endpoint``) with the caller it authenticated.

A JSON request for one operation, the usual kind, is executed here by the same schema and
context as through strawberry's HTTP view (``app.graphql.resolver_path.view``), with the
same answer (``{"data", "errors", "extensions"}`` as strawberry's ``process_result`` makes
it, encoded with orjson like the view), the same 400 answers, and the same metrics and
request line (``app.observability.http.Watch``). What it skips is the per-request machinery
on the way there: Starlette's middleware stack and router, FastAPI's dependency solving and
exit stack, strawberry's request adapter.

Anything else goes to the view as before: batches, bodies that are not an object or whose
``query``, ``variables``, ``operationName`` or ``extensions`` have the wrong type
(strawberry's view words those errors), and requests that ask for a streamed answer.
Resolvers get ``info.context.request`` (a Starlette request); there is no
``info.context.response`` to set headers on (nothing in paygate does).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry import Schema
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from app.context import RequestContext, Runtime
from app.graphql.http import CONTENT_TYPES, GRAPHQL_RESPONSE_JSON, JSON, request_error_body
from app.observability.http import Watch, Watcher
from app.security.principals import Principal

ROUTE = "/graphql"
_OPERATION_TYPES = OperationType.from_http("POST")


def takes(scope: Scope, body: dict[str, Any]) -> bool:
    """Whether this handler answers ``body`` (see the module's docstring)."""
    for name, value in scope["headers"]:
        if name == b"accept" and (b"multipart" in value or b"event-stream" in value):
            return False  # a streamed answer: strawberry's view
    query = body.get("query")
    variables = body.get("variables")
    name = body.get("operationName")
    extensions = body.get("extensions")
    return (
        isinstance(query, str)
        and (variables is None or isinstance(variables, dict))
        and (name is None or isinstance(name, str))
        and (extensions is None or isinstance(extensions, dict))
    )


class ResolverPath:
    """Called by the endpoint with a single operation that ``takes`` accepts, and the
    caller."""

    def __init__(self, schema: Schema, runtime: Runtime, watcher: Watcher) -> None:
        self.schema = schema
        self.runtime = runtime
        self.watcher = watcher

    async def __call__(
        self,
        scope: Scope,
        body: dict[str, Any],
        principal: Principal,
        receive: Receive,
        send: Send,
        media: str = JSON,
    ) -> None:
        watch = Watch(self.watcher, scope)
        started = False
        status = 500

        async def send_and_watch(message: Any) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                watch.responding(ROUTE)
            await send(message)

        failure: BaseException | None = None
        try:
            await self._serve(scope, body, principal, receive, send_and_watch, media)
        except BaseException as error:
            failure = error
            if not started and isinstance(error, Exception):
                # As Starlette's ServerErrorMiddleware: a plain 500 (inside the request
                # id's middleware, so it carries the id), the error raised on for the
                # server to log.
                await PlainTextResponse("Internal Server Error", 500)(scope, receive, send)
            raise
        finally:
            watch.end(ROUTE, status, failure)

    async def _serve(
        self,
        scope: Scope,
        body: dict[str, Any],
        principal: Principal,
        receive: Receive,
        send: Send,
        media: str,
    ) -> None:
        context = RequestContext(self.runtime, scope["state"]["request_id"], principal)
        context.request = Request(scope, receive)
        try:
            try:
                result = await self.schema.execute(
                    body["query"],
                    variable_values=body.get("variables"),
                    context_value=context,
                    operation_name=body.get("operationName"),
                    allowed_operation_types=_OPERATION_TYPES,
                    operation_extensions=body.get("extensions"),
                )
            except CannotGetOperationTypeError as error:
                refusal = _refusal(media, error.as_http_error_reason(), "OPERATION_NOT_FOUND")
            except InvalidOperationTypeError as error:
                reason = error.as_http_error_reason("POST")
                refusal = _refusal(media, reason, "OPERATION_NOT_ALLOWED")
            except MissingQueryError:
                reason = "No GraphQL query found in the request"
                refusal = _refusal(media, reason, "BAD_REQUEST")
            else:
                if not isinstance(result, ExecutionResult):  # pragma: no cover - streams
                    raise TypeError(f"unexpected result {type(result).__name__}")
                answer = process_result(result)
                status = 200
                if media == GRAPHQL_RESPONSE_JSON and (
                    isinstance(result, PreExecutionError) or context.request_error
                ):
                    # a request error: execution never began (GraphQL over HTTP)
                    answer.pop("data", None)
                    status = 400
                encoded = orjson.dumps(answer)
                headers = [
                    (b"content-type", CONTENT_TYPES[media]),
                    (b"content-length", str(len(encoded)).encode()),
                ]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": encoded})
                return
            await refusal(scope, receive, send)
        finally:
            await context.close()


def _refusal(media: str, reason: str, code: str) -> Response:
    """A request refused before its operation could run: strawberry's plain-text 400 under
    ``application/json`` (today's answer), a GraphQL response without ``data`` under
    ``application/graphql-response+json``."""
    if media == GRAPHQL_RESPONSE_JSON:
        return Response(
            request_error_body(reason, code), 400, media_type=CONTENT_TYPES[media].decode()
        )
    return PlainTextResponse(reason, 400)
