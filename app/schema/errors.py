"""User errors in mutation payloads, and the public errors of queries."""

from typing import Any

import strawberry
from graphql import GraphQLError

from app.domain.errors import ErrorCode, Problem
from app.schema.enum_values.errors import USER_ERROR_CODE
from app.schema.enums import described_enum

UserErrorCode = described_enum(
    ErrorCode,
    name="UserErrorCode",
    description=(
        "Why an input was refused (also the `extensions.code` of a query's errors). Stable: "
        "clients may switch on it."
    ),
    values=USER_ERROR_CODE,
)


@strawberry.type(description="Something wrong with the input. Nothing was changed.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. `["input", "email"]`.'
    )
    code: ErrorCode = strawberry.field(description="Stable machine-readable reason.")
    message: str = strawberry.field(description="Explanation for people.")

    @classmethod
    def from_problem(cls, problem: Problem) -> "UserError":
        return cls(field=list(problem.field) or None, code=problem.code, message=problem.message)


class PublicError(GraphQLError):
    """An expected error of a query (bad ID, bad cursor), shown as it is, with a code."""

    def __init__(self, message: str, code: ErrorCode, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code.value, **extensions})
