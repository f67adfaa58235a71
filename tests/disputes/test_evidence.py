"""Dispute evidence through GraphQL over HTTP, with the sandbox PSP: drafted, submitted
once, and refused (with a typed error, changing nothing) where it cannot be given."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.clock import FrozenClock
from app.domain.money import Money
from app.domain.payments import DisputeStatus
from app.psp.base import DisputeInfo
from app.schema.node import decode_gid
from tests.api.test_webhooks import post, sandbox_event
from tests.conftest import Api
from tests.disputes.helpers import (
    PDF,
    PNG,
    SUBMIT,
    UPDATE,
    codes,
    dispute_of,
    disputed_payment,
    submit,
    update,
    uploaded,
)
from tests.factories import get_payment, new_customer, pay
from tests.security.gdpr_helpers import erase


async def test_evidence_is_drafted_then_submitted_once(api: Api) -> None:
    payment, dispute = await disputed_payment(api)
    receipt = await uploaded(api, PDF, "receipt.pdf")
    chat = await uploaded(api, PNG, "chat.png")

    # given a draft in two steps: text and files, then one more field
    first = await update(
        api,
        dispute,
        productDescription="Pro plan, monthly",
        uncategorizedText="The customer used the service all month.",
        receipt=receipt,
        files=[{"field": "CUSTOMER_COMMUNICATION", "fileId": chat}],
    )
    assert first["userErrors"] == []
    second = await update(api, dispute, shippingTracking="Z01234567890")
    assert second["userErrors"] == []
    drafted = second["dispute"]
    assert drafted["hasEvidence"] and drafted["evidenceSubmittedAt"] is None
    assert drafted["evidence"]["productDescription"] == "Pro plan, monthly"
    assert drafted["evidence"]["shippingTracking"] == "Z01234567890"
    assert [(f["field"], f["fileId"], f["contentType"]) for f in drafted["evidence"]["files"]] == [
        ("CUSTOMER_COMMUNICATION", chat, "image/png"),
        ("RECEIPT", receipt, "application/pdf"),
    ]
    # null clears a field; omitted ones stay
    cleared = await update(api, dispute, shippingTracking=None)
    assert cleared["dispute"]["evidence"]["shippingTracking"] is None
    assert cleared["dispute"]["evidence"]["productDescription"] == "Pro plan, monthly"

    # when it is submitted
    done = await submit(api, dispute)

    # then the sandbox received it, files and all, and the dispute is under review
    assert done["userErrors"] == []
    assert done["dispute"]["status"] == "UNDER_REVIEW"
    assert done["dispute"]["evidenceSubmittedAt"] is not None
    sandbox = api.runtime.psps.sandbox
    (received,) = sandbox.evidence.values()
    assert received.texts == {
        "product_description": "Pro plan, monthly",
        "uncategorized_text": "The customer used the service all month.",
    }
    assert {(f.field, f.filename, f.content) for f in received.files} == {
        ("receipt", "receipt.pdf", PDF),
        ("customer_communication", "chat.png", PNG),
    }
    history = [e["type"] for e in (await get_payment(api, payment))["events"]]
    assert "dispute.evidence_submitted" in history

    # and a second submission, or a change after it, is refused
    again = await submit(api, dispute)
    assert codes(again) == ["EVIDENCE_ALREADY_SUBMITTED"] and again["dispute"] is None
    late = await update(api, dispute, productDescription="changed")
    assert codes(late) == ["EVIDENCE_ALREADY_SUBMITTED"]
    assert (await dispute_of(api, dispute))["evidence"]["productDescription"] == (
        "Pro plan, monthly"
    )
    assert len(sandbox.evidence) == 1


async def test_bad_evidence_is_refused_and_changes_nothing(api: Api) -> None:
    _, dispute = await disputed_payment(api)
    receipt = await uploaded(api)
    # a card number never gets past the API's front (the whole request is refused)
    carded = await api.graphql(
        UPDATE,
        {"i": {"disputeId": dispute, "evidence": {"uncategorizedText": "4242 4242 4242 4242"}}},
    )
    assert [e["extensions"]["code"] for e in carded["errors"]] == ["CARD_DATA_NOT_ALLOWED"]
    refused = {
        "too long": ({"productDescription": "x" * 20_001}, "TOO_LONG"),
        "unknown file": (
            {"receipt": "RmlsZTowMTkzYjJlMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDA"},
            "NOT_FOUND",
        ),
        "not a file": ({"receipt": dispute}, "WRONG_ID_TYPE"),
        "field twice": (
            {"receipt": receipt, "files": [{"field": "RECEIPT", "fileId": receipt}]},
            "INVALID",
        ),
    }
    for name, (evidence, code) in refused.items():
        payload = await update(api, dispute, **{"serviceDate": "2026-01-01", **evidence})
        assert codes(payload) == [code], name
    assert (await dispute_of(api, dispute))["evidence"] is None
    # a dispute that is not one, and an unknown one
    payment_id = (await api.data("{ disputes(first: 1) { edges { node { payment { id } } } } }"))[
        "disputes"
    ]["edges"][0]["node"]["payment"]["id"]
    assert codes(await update(api, payment_id, productDescription="x")) == ["WRONG_ID_TYPE"]
    empty = await submit(api, dispute)
    assert codes(empty) == ["EVIDENCE_EMPTY"]
    assert api.runtime.psps.sandbox.evidence == {}


async def test_past_due_and_closed_disputes_take_no_evidence(api: Api, clock: FrozenClock) -> None:
    paid, due = await disputed_payment(api)
    assert codes(await update(api, due, productDescription="on time")) == []
    # the sandbox gives 7 days
    clock.advance(timedelta(days=7, seconds=1))
    assert codes(await update(api, due, productDescription="late")) == ["EVIDENCE_PAST_DUE"]
    assert codes(await submit(api, due)) == ["EVIDENCE_PAST_DUE"]
    assert (await dispute_of(api, due))["evidence"]["productDescription"] == "on time"

    _, closed = await disputed_payment(api, "12.00")
    node = await api.data(
        "query($id: ID!) { dispute(id: $id) { pspReference payment { pspReference } } }",
        {"id": closed},
    )
    lost = DisputeInfo(
        psp_reference=node["dispute"]["pspReference"],
        payment_reference=node["dispute"]["payment"]["pspReference"],
        amount=Money(1200, "USD"),
        reason="fraudulent",
        status=DisputeStatus.LOST,
        evidence_due_by=None,
    )
    headers, body = api.runtime.psps.sandbox.signed(
        sandbox_event("evt_closed", "dispute", "dispute.closed", dispute=lost)
    )
    assert (await post(api, headers, body)).status_code == 200
    assert codes(await update(api, closed, productDescription="x")) == ["DISPUTE_CLOSED"]
    assert codes(await submit(api, closed)) == ["DISPUTE_CLOSED"]
    assert paid


@pytest.mark.both_databases
async def test_two_submissions_at_once_reach_the_psp_once(api: Api) -> None:
    import asyncio

    _, dispute = await disputed_payment(api)
    assert codes(await update(api, dispute, productDescription="Pro plan")) == []
    sandbox = api.runtime.psps.sandbox
    calls: list[str] = []
    original = sandbox.submit_dispute_evidence

    async def counted(request: object) -> object:
        calls.append("submit")
        await asyncio.sleep(0.05)  # both requests are in flight meanwhile
        return await original(request)  # type: ignore[arg-type]

    sandbox.submit_dispute_evidence = counted  # the PSP, not our database
    try:
        first, second = await asyncio.gather(submit(api, dispute), submit(api, dispute))
    finally:
        del sandbox.submit_dispute_evidence
    outcomes = sorted([codes(first), codes(second)])
    assert outcomes == [[], ["EVIDENCE_ALREADY_SUBMITTED"]]
    assert calls == ["submit"]
    assert (await dispute_of(api, dispute))["status"] == "UNDER_REVIEW"


async def test_uploaded_file_ids_are_file_global_ids(api: Api) -> None:
    file_id = await uploaded(api)
    assert decode_gid(file_id)[0] == "File"


async def test_erasing_the_customer_scrubs_the_evidence(api: Api) -> None:
    customer = await new_customer(api, "tok_disputed", name="Ada Lovelace", email="ada@example.org")
    paid = (await pay(api, customer, "30.00"))["payment"]
    dispute = (await get_payment(api, paid["id"]))["disputes"][0]["id"]
    drafted = await update(
        api,
        dispute,
        customerName="Ada Lovelace",
        customerEmailAddress="ada@example.org",
        uncategorizedText="Ada Lovelace signed in on 2026-01-10 and used the service.",
        productDescription="Pro plan",
    )
    assert drafted["userErrors"] == []

    erased = await erase(api, customer)

    assert erased["userErrors"] == [], erased
    evidence = (await dispute_of(api, dispute))["evidence"]
    assert "Ada" not in str(evidence) and "ada@example.org" not in str(evidence)
    assert evidence["productDescription"] == "Pro plan"


async def test_a_repeated_request_with_its_key_replays(api: Api) -> None:
    _, dispute = await disputed_payment(api)
    draft = {"disputeId": dispute, "idempotencyKey": "draft-1",
             "evidence": {"productDescription": "Pro plan"}}  # fmt: skip
    first = (await api.data(UPDATE, {"i": draft}))["updateDisputeEvidence"]
    again = (await api.data(UPDATE, {"i": draft}))["updateDisputeEvidence"]
    assert first == again and first["userErrors"] == []
    other = {**draft, "evidence": {"productDescription": "Other"}}
    assert codes((await api.data(UPDATE, {"i": other}))["updateDisputeEvidence"]) == [
        "IDEMPOTENCY_KEY_REUSED"
    ]
    submission = {"disputeId": dispute, "idempotencyKey": "submit-1"}
    sent = (await api.data(SUBMIT, {"i": submission}))["submitDisputeEvidence"]
    replayed = (await api.data(SUBMIT, {"i": submission}))["submitDisputeEvidence"]
    assert sent["userErrors"] == [] and replayed == sent  # the same answer, not a refusal
    assert len(api.runtime.psps.sandbox.evidence) == 1
