"""Assembles the one GraphQL schema of the process, with its extensions: limits, card
data, validation cache, access control, query cost and error policy."""

import logging
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document

from app.db import is_statement_timeout
from app.domain.errors import UserInputError
from app.graphql.card_data import CardDataGuard
from app.graphql.limits import MAX_BATCH, DocumentLimits, token_limiter
from app.graphql.resolver_path.executor import PlainFieldExecutor
from app.graphql.resolver_path.lean_extensions import LeanSchema
from app.observability.graphql import OperationMetrics
from app.resolvers.guard import AccessControl, MutationGuard, QueryLimits
from app.resolvers.live import LiveUpdates
from app.resolvers.mutation import Mutation
from app.resolvers.query import Query
from app.schema.catalog import Price, Product
from app.schema.coupons import Coupon, TaxRate
from app.schema.customer import Customer
from app.schema.experiments import Experiment, ExperimentVariant
from app.schema.invoices import Invoice
from app.schema.payment import Dispute, Payment, Refund
from app.schema.payment_method import PaymentMethod
from app.schema.scalars import SCALAR_MAP
from app.schema.security import ApiKey, AuditEvent
from app.schema.subscriptions import Subscription
from app.schema.test_clocks import TestClock
from app.security.query_gate import timeout_error

logger = logging.getLogger("paygate.graphql")

SEVERAL_OPERATIONS = "Must provide operationName: the document holds several operations."


class _Validated(NamedTuple):
    """A document's validation, remembered."""

    document: DocumentNode  # kept with its entry: its id is not reused while the entry lives
    errors: list[GraphQLError]
    operations: int  # how many operations it defines


class DocumentValidationCache(SchemaExtension):
    """A document validated once, then its errors (usually none) remembered by the identity
    of its parsed document: ``ParserCache`` hands out the same ``DocumentNode`` for the same
    text. strawberry's ``ValidationCache`` keys an ``lru_cache`` on the document itself, and
    a document is a tree of frozen dataclasses whose hash walks every node in Python (~280
    calls for customer_page's document, on every request). At most ``MAX`` entries."""

    MAX = 1024
    _validated: dict[tuple[int, tuple[Any, ...]], _Validated] = {}

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        rules = context.validation_rules
        key = (id(document), rules)
        entry = self._validated.get(key)
        if entry is None or entry.document is not document:
            assert document is not None  # parsed before validation
            errors = validate_document(context.schema._schema, document, rules)
            operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
            if len(self._validated) >= self.MAX:
                self._validated.clear()
            entry = self._validated[key] = _Validated(document, errors, operations)
        errors = entry.errors
        # strawberry keeps the request's operationName privately: ``operation_name`` falls
        # back to the first operation's
        if entry.operations > 1 and context._provided_operation_name is None:
            # GraphQL spec, GetOperation(): with several operations and no operationName,
            # a request error (strawberry ran the first one)
            errors = [*errors, GraphQLError(SEVERAL_OPERATIONS)]
        context.pre_execution_errors = errors
        yield


class ErrorPolicy(MaskErrors):
    """Expected errors stay readable with a stable ``extensions.code``; anything else is
    masked to a message with the request id, and logged in full server-side."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=self._should_rewrite)

    @staticmethod
    def _should_rewrite(error: GraphQLError) -> bool:
        # No original error: GraphQL syntax or validation errors, shown as they are.
        return error.original_error is not None

    def _process_result(self, result: object) -> None:
        """``MaskErrors``' test, a result with errors, without its ``isinstance`` against a
        runtime ``Protocol`` (which walks the protocol's attributes: ~5 % of a small
        request's instructions)."""
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, GraphQLError):  # a PublicError, or GraphQL's own coercion
            return GraphQLError(
                error.message,
                nodes=error.nodes,
                path=error.path,
                extensions=original.extensions or error.extensions,
            )
        if isinstance(original, UserInputError):
            problem = original.problems[0]
            return GraphQLError(
                problem.message,
                nodes=error.nodes,
                path=error.path,
                extensions={"code": problem.code.value, "field": list(problem.field)},
            )
        context = self.execution_context.context
        request_id = getattr(context, "request_id", "unknown")
        if is_statement_timeout(original):
            runtime = getattr(context, "runtime", None)
            seconds = runtime.settings.db_statement_timeout_seconds if runtime else None
            logger.warning("statement timeout (request id %s)", request_id)
            message, extensions = timeout_error(seconds or None, statement=True)
            return GraphQLError(message, nodes=error.nodes, path=error.path, extensions=extensions)
        logger.error("unexpected error (request id %s)", request_id, exc_info=original or error)
        return GraphQLError(
            f"Internal error. Quote request id {request_id} to support.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_ERROR", "requestId": request_id},
        )


# Every mutation is rate limited and audited.
for _field in Mutation.__strawberry_definition__.fields:  # type: ignore[attr-defined]
    _field.extensions.append(MutationGuard())

schema = LeanSchema(
    query=Query,
    mutation=Mutation,
    # Live subscriptions (graphql-transport-ws): the root is not called ``Subscription``,
    # the billing object's name (``sdl`` writes the ``schema`` block that says so).
    subscription=LiveUpdates,
    types=[
        Customer,
        Product,
        Price,
        PaymentMethod,
        Payment,
        Refund,
        Dispute,
        Subscription,
        Invoice,
        TestClock,
        Coupon,
        TaxRate,
        ApiKey,
        AuditEvent,
        Experiment,
        ExperimentVariant,
    ],
    config=StrawberryConfig(scalar_map=SCALAR_MAP, batching_config={"max_operations": MAX_BATCH}),
    execution_context_class=PlainFieldExecutor,
    extensions=[
        OperationMetrics,  # first: it times the whole operation (and counts after masking)
        CardDataGuard,
        ParserCache,
        DocumentValidationCache,
        DocumentLimits,
        token_limiter,
        AccessControl,
        QueryLimits,  # after the field policy: a refused field is reported as such
        ErrorPolicy,
    ],
)
# The graphql-core schema under strawberry's (strawberry keeps it under a private name).
core_schema: GraphQLSchema = schema._schema


def sdl() -> str:
    """The schema's SDL, always with its ``schema { … }`` block. graphql-core leaves the
    block out when the roots have the conventional names, and a reader of such an SDL
    (graphql-core's ``build_schema``, code generators, gateways) then takes the billing
    object ``Subscription`` for the root of subscription operations (GraphQL spec, "Root
    Operation Types": the default names apply only when the block is absent)."""
    text = schema.as_str()
    if not re.search(r"^schema \{", text, re.MULTILINE):
        served = core_schema
        roots = [("query", served.query_type), ("mutation", served.mutation_type)]
        roots.append(("subscription", served.subscription_type))
        block = "".join(f"  {op}: {root.name}\n" for op, root in roots if root is not None)
        text = "schema {\n" + block + "}\n\n" + text
    return text + "\n"
