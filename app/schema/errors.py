"""User errors in mutation payloads, and the public errors of queries."""

from typing import Any

import strawberry
from graphql import GraphQLError

from app.domain.errors import ErrorCode, Problem
from app.schema.enums import describe_values

UserErrorCode = strawberry.enum(
    ErrorCode,
    name="UserErrorCode",
    description=(
        "Why an input was refused. Stable: clients may switch on it. `INVALID_ID`: not a "
        "global ID; `WRONG_ID_TYPE`: a global ID of another type; `NOT_FOUND`: no such "
        "object; `AMOUNT_TOO_PRECISE`: more decimals than the currency has; "
        "`AMOUNT_OUT_OF_RANGE`: beyond 64 bits of minor units; `CARD_DATA_NOT_ALLOWED`: the "
        "input looks like a card number, which paygate never accepts."
    ),
)
describe_values(
    ErrorCode,
    {
        ErrorCode.RETRY_NOT_ALLOWED: "The card networks' rules forbid charging this payment "
        "method again for this invoice (a decline that must not be retried, or the retry "
        "cap reached): pay with another one."
    },
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
