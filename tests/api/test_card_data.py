"""No card data ever: anything shaped like a card number is refused before execution,
wherever it hides in a request, and appears in no response and no log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from app.domain import validation
from app.domain.errors import ErrorCode, Problems, UserInputError
from tests.conftest import Api

PAN = "4242424242424242"
CREATE = """
mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { code } }
}
"""


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (CREATE, {"input": {"name": "Ada 4242 4242 4242 4242"}}),
        (CREATE, {"input": {"metadata": {"note": "card 4000-0566-5566-5556"}}}),
        (CREATE, {"input": {"metadata": {PAN: "key holds it"}}}),
        ('mutation { createCustomer(input: {name: "4242424242424242"}) { customer { id } } }', {}),
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": int(PAN)}),
        (
            "mutation($t: String!, $c: ID!) { attachPaymentMethod(input: "
            "{customerId: $c, token: $t}) { paymentMethod { id } } }",
            {"t": "5555 5555 5555 4444", "c": "x"},
        ),
    ],
)
async def test_card_numbers_are_refused_everywhere(
    api: Api, caplog: pytest.LogCaptureFixture, query: str, variables: dict[str, Any]
) -> None:
    with caplog.at_level(logging.DEBUG):
        body = await api.graphql(query, variables)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "CARD_DATA_NOT_ALLOWED"
    digits = [text.replace(" ", "").replace("-", "") for text in (caplog.text, str(body))]
    assert all(PAN not in text and "5555555555554444" not in text for text in digits)
    count = await api.data("{ customers { totalCount } }")
    assert count["customers"]["totalCount"] == 0


async def test_ordinary_numbers_pass(api: Api) -> None:
    body = await api.data(CREATE, {"input": {"name": "Order 4242424242424241", "metadata": {}}})
    assert body["createCustomer"]["userErrors"] == []


def test_services_refuse_card_numbers_too() -> None:
    """Callers other than GraphQL (CLI, webhooks, worker) go through the same checks."""
    problems = Problems()
    assert validation.text(problems, f"x {PAN}", "name", max_length=100) is None
    assert validation.metadata(problems, {"k": PAN}, "metadata") is None
    with pytest.raises(UserInputError) as refused:
        problems.raise_if_any()
    codes = [p.code for p in refused.value.problems]
    assert codes == [ErrorCode.CARD_DATA_NOT_ALLOWED, ErrorCode.CARD_DATA_NOT_ALLOWED]
