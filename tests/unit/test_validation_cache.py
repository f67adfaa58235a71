"""Each parsed document is validated once (``DocumentValidationCache``): the same text again
is neither parsed nor validated again, and gives the same answer, errors included."""

from typing import Any

import pytest

from app.graphql import schema as paygate_graphql
from app.graphql.schema import DocumentValidationCache, schema

VALID = "{ __typename products(first: 1) { totalCount } }"
INVALID = "{ products(first: 1) { noSuchField } }"
TOO_DEEP = (
    "{ a: __typename " + "products(first: 1) { edges { node { " * 6 + "id" + " } } }" * 6 + "}"
)


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The documents validated, in order."""
    seen: list[Any] = []
    validate = paygate_graphql.validate_document

    def counting(schema_: Any, document: Any, rules: Any) -> Any:
        seen.append(document)
        return validate(schema_, document, rules)

    monkeypatch.setattr(paygate_graphql, "validate_document", counting)
    monkeypatch.setattr(DocumentValidationCache, "_validated", {})
    return seen


async def test_a_document_is_validated_once(validations: list[Any]) -> None:
    for _ in range(3):
        result = await schema.execute(INVALID)
        assert result.errors is not None
        assert "Cannot query field 'noSuchField'" in result.errors[0].message
    assert len(validations) == 1


async def test_the_limits_still_apply_from_the_cache(validations: list[Any]) -> None:
    messages = set()
    for _ in range(2):
        result = await schema.execute(TOO_DEEP)
        assert result.errors is not None
        messages.add(result.errors[0].message)
    assert len(messages) == 1
    assert "exceeds maximum operation depth" in messages.pop()
    assert len(validations) == 1


async def test_another_text_is_validated_on_its_own(validations: list[Any]) -> None:
    await schema.execute(INVALID)
    await schema.execute(VALID)  # no context: fails later, but validates first
    await schema.execute(VALID)
    assert len(validations) == 2
    assert validations[0] is not validations[1]
