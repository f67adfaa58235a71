"""Assembles the one GraphQL schema of the process, with its limits and error policy."""

import logging
import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document

from app.db import is_statement_timeout
from app.domain.errors import ErrorCode, UserInputError
from app.domain.pan import contains_card_number
from app.execution import PlainFieldExecutor
from app.lean_extensions import LeanSchema
from app.observability.graphql import OperationMetrics
from app.resolvers.guard import AccessControl, MutationGuard, QueryLimits
from app.resolvers.mutation import Mutation
from app.resolvers.query import Query
from app.schema.billing import Invoice, Subscription, TestClock
from app.schema.catalog import Price, Product
from app.schema.coupons import Coupon, TaxRate
from app.schema.customer import Customer
from app.schema.experiments import Experiment, ExperimentVariant
from app.schema.payment import Dispute, Payment, Refund
from app.schema.payment_method import PaymentMethod
from app.schema.scalars import SCALAR_MAP
from app.schema.security import ApiKey, AuditEvent
from app.security.query_gate import timeout_error

logger = logging.getLogger("paygate.graphql")

MAX_BATCH = 10  # operations in one batched request (a JSON array)


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


# Texts known to hold no card number: at most 1024, of at most 20,000 characters each.
_CLEAN_DOCUMENTS: dict[str, None] = {}


def _document_holds_card_number(document: str) -> bool:
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
    number, before parsing, so that it is never executed, echoed in an error or logged."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        if _document_holds_card_number(context.query or "") or any(
            contains_card_number(text) for text in _strings(context.variables or {})
        ):
            raise GraphQLError(
                "The request contains what looks like a card number. paygate never accepts "
                "card data: collect cards with your PSP's hosted fields and send the token.",
                extensions={"code": ErrorCode.CARD_DATA_NOT_ALLOWED.value},
            )
        yield


SEVERAL_OPERATIONS = "Must provide operationName: the document holds several operations."


class DocumentValidationCache(SchemaExtension):
    """A document validated once, then its errors (usually none) remembered by the identity
    of its parsed document: ``ParserCache`` hands out the same ``DocumentNode`` for the same
    text. strawberry's ``ValidationCache`` keys an ``lru_cache`` on the document itself, and
    a document is a tree of frozen dataclasses whose hash walks every node in Python (~280
    calls for customer_page's document, on every request). The document is kept with its
    entry, so that its id is not reused while the entry lives; at most ``MAX`` entries."""

    MAX = 1024
    _validated: dict[tuple[int, tuple[Any, ...]], tuple[Any, list[GraphQLError], int]] = {}

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        rules = context.validation_rules
        key = (id(document), rules)
        entry = self._validated.get(key)
        if entry is None or entry[0] is not document:
            assert document is not None  # parsed before validation
            errors = validate_document(context.schema._schema, document, rules)
            operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
            if len(self._validated) >= self.MAX:
                self._validated.clear()
            entry = self._validated[key] = (document, errors, operations)
        errors = entry[1]
        if entry[2] > 1 and context._provided_operation_name is None:
            # GraphQL spec, GetOperation(): with several operations and no operationName,
            # a request error (strawberry ran the first one)
            errors = [*errors, GraphQLError(SEVERAL_OPERATIONS)]
        context.pre_execution_errors = errors
        yield


class DocumentLimits(AddValidationRules):
    """Depth (10) and alias (30) limits as validation rules built once for the process.

    ``DocumentValidationCache`` keys its cache on the rule classes too: strawberry's
    ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` make a new rule class each time they are
    constructed, so made per request they would make every request miss the cache and
    validate again."""

    RULES = [
        *QueryDepthLimiter(max_depth=10).validation_rules,
        *MaxAliasesLimiter(max_alias_count=30).validation_rules,
    ]

    def __init__(self) -> None:
        super().__init__(self.RULES)


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
        lambda: MaxTokensLimiter(max_token_count=4000),
        AccessControl,
        QueryLimits,  # after the field policy: a refused field is reported as such
        ErrorPolicy,
    ],
)


def sdl() -> str:
    """The schema's SDL, always with its ``schema { … }`` block. graphql-core leaves the
    block out when the roots have the conventional names, and a reader of such an SDL
    (graphql-core's ``build_schema``, code generators, gateways) then takes the billing
    object ``Subscription`` for the root of subscription operations (GraphQL spec, "Root
    Operation Types": the default names apply only when the block is absent)."""
    text = schema.as_str()
    if not re.search(r"^schema \{", text, re.MULTILINE):
        served = schema._schema
        roots = [("query", served.query_type), ("mutation", served.mutation_type)]
        roots.append(("subscription", served.subscription_type))
        block = "".join(f"  {op}: {root.name}\n" for op, root in roots if root is not None)
        text = "schema {\n" + block + "}\n\n" + text
    return text + "\n"
