"""The staff list of disputes and its role policy, and the evidence paygate suggests."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.disputes.helpers import disputed_payment, submit, update
from tests.factories import api_key, monthly_price, new_customer, subscribe

LIST = """
query($f: DisputeFilter, $first: Int, $after: String) {
  disputes(filter: $f, first: $first, after: $after) {
    totalCount
    edges { cursor node { id status psp hasEvidence evidenceSubmittedAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
SUGGEST = """
query($id: ID!) {
  disputeEvidenceSuggestion(disputeId: $id) {
    productDescription uncategorizedText serviceDate customerName customerEmailAddress
  }
}
"""


async def _ids(api: Api, **filter_: Any) -> list[str]:
    page = (await api.data(LIST, {"f": filter_}))["disputes"]
    return [edge["node"]["id"] for edge in page["edges"]]


async def test_disputes_filtered_and_paged(api: Api) -> None:
    _, first = await disputed_payment(api)
    _, second = await disputed_payment(api, "15.00")
    _, answered = await disputed_payment(api, "16.00")
    await update(api, answered, productDescription="Widget")
    assert (await submit(api, answered))["userErrors"] == []

    assert await _ids(api) == [answered, second, first]  # newest first
    assert await _ids(api, status=["NEEDS_RESPONSE"]) == [second, first]
    assert await _ids(api, status=["UNDER_REVIEW"]) == [answered]
    assert await _ids(api, evidenceSubmitted=False) == [second, first]
    assert await _ids(api, psps=["stripe"]) == []
    assert await _ids(api, psps=["sandbox"], evidenceDueBefore="2026-01-01T00:00:00Z") == []
    assert len(await _ids(api, evidenceDueBefore="2026-02-01T00:00:00Z")) == 3
    page = (await api.data(LIST, {"first": 2}))["disputes"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    rest = await api.data(LIST, {"first": 2, "after": page["pageInfo"]["endCursor"]})
    assert [e["node"]["id"] for e in rest["disputes"]["edges"]] == [first]


async def test_the_list_and_evidence_are_for_support_finance_and_admins(api: Api) -> None:
    _, dispute = await disputed_payment(api)
    await update(api, dispute, productDescription="Widget")
    for role in ("SUPPORT", "FINANCE", "ADMIN"):
        secret = await api_key(api, role)
        body = await api.graphql(LIST, {}, authorization=f"Bearer {secret}")
        assert "errors" not in body, (role, body)
        evidence = await api.graphql(
            "query($id: ID!) { dispute(id: $id) { evidence { productDescription } } }",
            {"id": dispute},
            authorization=f"Bearer {secret}",
        )
        assert evidence["data"]["dispute"]["evidence"] == {"productDescription": "Widget"}
    for role in ("GROWTH", "READONLY"):
        secret = await api_key(api, role)
        for document, variables in (
            (LIST, {}),
            (SUGGEST, {"id": dispute}),
            ("query($id: ID!) { dispute(id: $id) { evidence { productDescription } } }",
             {"id": dispute}),
            ('mutation($i: UpdateDisputeEvidenceInput!) { updateDisputeEvidence(input: $i) '
             "{ userErrors { code } } }",
             {"i": {"disputeId": dispute, "evidence": {"productDescription": "x"}}}),
            ("mutation($i: SubmitDisputeEvidenceInput!) { submitDisputeEvidence(input: $i) "
             "{ userErrors { code } } }", {"i": {"disputeId": dispute}}),
        ):  # fmt: skip
            body = await api.graphql(document, variables, authorization=f"Bearer {secret}")
            assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], role
    # the read-only role still sees that a dispute has evidence, not what it says
    secret = await api_key(api, "READONLY")
    body = await api.graphql(
        "query($id: ID!) { dispute(id: $id) { hasEvidence evidenceSubmittedAt } }",
        {"id": dispute},
        authorization=f"Bearer {secret}",
    )
    assert body["data"]["dispute"] == {"hasEvidence": True, "evidenceSubmittedAt": None}


async def test_suggested_evidence_from_the_invoice_and_subscription(api: Api) -> None:
    customer = await new_customer(api, "tok_disputed", name="Ada Lovelace", email="ada@example.org")
    price = await monthly_price(api, "29.00")
    created = await subscribe(api, customer, price)
    assert created["userErrors"] == [], created
    found = await api.data(
        "query($id: ID!) { customer(id: $id) { payments(first: 5) { edges { node { "
        "disputes { id } } } } invoices(last: 5) { number } } }",
        {"id": customer},
    )
    (payment,) = found["customer"]["payments"]["edges"]
    dispute = payment["node"]["disputes"][0]["id"]
    number = found["customer"]["invoices"][0]["number"]

    suggestion = (await api.data(SUGGEST, {"id": dispute}))["disputeEvidenceSuggestion"]

    assert suggestion["productDescription"] == "Pro x 1"
    text = suggestion["uncategorizedText"]
    assert f"Invoice {number}" in text and "29.00 USD" in text
    assert "Subscription since 2026-01-15" in text
    assert suggestion["serviceDate"] == "2026-01-15"
    assert (suggestion["customerName"], suggestion["customerEmailAddress"]) == (
        "Ada Lovelace",
        "ada@example.org",
    )
    # it can be passed on as it is
    drafted = await update(api, dispute, **{k: v for k, v in suggestion.items() if v is not None})
    assert drafted["userErrors"] == []
    assert drafted["dispute"]["evidence"]["customerName"] == "Ada Lovelace"
