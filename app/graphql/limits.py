"""The limits of a GraphQL document, one set for both paths.

The resolver path applies them through the schema's extensions (:class:`DocumentLimits`,
:func:`token_limiter`), the compiled path when it compiles a trusted document
(``app.graphql.compiled_path.compiler``): a document beyond them is never compiled, and the
resolver path then refuses it with its own error.
"""

from __future__ import annotations

from graphql import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)

MAX_DEPTH = 10  # selections nested in one operation
MAX_ALIASES = 30  # aliases in one document
MAX_TOKENS = 4000  # tokens in one document (the parser stops there)
MAX_BATCH = 10  # operations in one batched request (a JSON array)

# The depth and alias limits as validation rules, made once for the process: strawberry's
# limiters make a new rule class each time they are constructed.
VALIDATION_RULES: tuple[type[ASTValidationRule], ...] = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


class DocumentLimits(AddValidationRules):
    """The depth and alias limits as the schema's validation rules, the same rule classes
    for every request: ``DocumentValidationCache`` (``app.graphql.schema``) keys its cache
    on them, so rules made per request would make every request miss it."""

    def __init__(self) -> None:
        super().__init__(_RULES)


_RULES = list(VALIDATION_RULES)


def token_limiter() -> MaxTokensLimiter:
    """The token limit as the schema's extension (one per request, as strawberry makes
    them)."""
    return MaxTokensLimiter(max_token_count=MAX_TOKENS)
