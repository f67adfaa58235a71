"""Dispute evidence reaching real PSP adapters (their SDKs over HTTP) against the fakes:
Stripe takes the files through its Files API and the evidence with ``submit=true``; PayPal's
SDK has no dispute call, so the mutation answers ``OPERATION_NOT_SUPPORTED``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from app.domain.clock import FrozenClock
from app.domain.money import Money
from app.domain.payments import DisputeStatus
from app.psp.base import DisputeEvidenceRequest, DisputeInfo
from app.psp.errors import OperationNotSupported
from app.resolvers.common import key_of
from app.services.payments.ledger import apply_dispute, get_payment
from app.settings import PayPalSettings, Settings, StripeSettings
from tests.conftest import Api, make_settings
from tests.disputes.helpers import PDF, PNG, codes, submit, update, uploaded
from tests.factories import attach, new_customer, paid_payment
from tests.psp.fake_server import serve_in_thread
from tests.psp.paypal_fake import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, PayPalFake
from tests.psp.stripe_fake import API_KEY, StripeFake, fixture
from tests.psp.stripe_harness import WEBHOOK_SECRET
from tests.security.gdpr_helpers import stripe_event

Fakes = tuple[StripeFake, str, PayPalFake, str]


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    stripe, paypal = StripeFake(), PayPalFake(hang_seconds=3.0)
    with serve_in_thread(stripe.app) as stripe_url, serve_in_thread(paypal.app) as paypal_url:
        yield stripe, stripe_url, paypal, paypal_url


@pytest.fixture
def stripe(fakes: Fakes) -> StripeFake:
    fakes[0].reset()
    return fakes[0]


@pytest.fixture
def settings(database_url: str, fakes: Fakes) -> Settings:
    _, stripe_url, _, paypal_url = fakes
    return make_settings(
        database_url,
        enabled_psps=["sandbox", "stripe", "paypal"],
        stripe=StripeSettings(
            api_key=SecretStr(API_KEY),
            webhook_secret=SecretStr(WEBHOOK_SECRET),
            api_base=stripe_url,  # files.stripe.com too (files_base defaults to it)
            timeout_seconds=2,
        ),
        paypal=PayPalSettings(
            client_id=SecretStr(CLIENT_ID),
            client_secret=SecretStr(CLIENT_SECRET),
            webhook_id=WEBHOOK_ID,
            api_base=paypal_url,
            timeout_seconds=2,
        ),
    )


async def stripe_dispute(api: Api, stripe: StripeFake, clock: FrozenClock) -> tuple[str, str]:
    """A Stripe payment, then Stripe's ``charge.dispute.created`` about it: (the dispute's
    global ID, its Stripe id)."""
    customer = await new_customer(api, name="Ada")
    method = await attach(api, customer, "pm_card_visa", psp="STRIPE")
    payment = await paid_payment(api, customer, "25.00", paymentMethodId=method)
    intent = (await api.data("query($id: ID!) { payment(id: $id) { pspReference } }",
                             {"id": payment}))["payment"]["pspReference"]  # fmt: skip
    dispute = fixture("dispute")
    dispute.update(
        id=f"du_{intent[3:]}",
        amount=2500,
        payment_intent=intent,
        status="needs_response",
        reason="product_not_received",
    )
    dispute["evidence_details"]["due_by"] = int((clock.now() + timedelta(days=7)).timestamp())
    stripe.put(dispute)
    await stripe_event(api, "charge.dispute.created", dispute)
    found = await api.data(
        "query($id: ID!) { payment(id: $id) { disputes { id status } } }", {"id": payment}
    )
    ((ours),) = found["payment"]["disputes"]
    assert ours["status"] == "NEEDS_RESPONSE"
    return ours["id"], dispute["id"]


def _calls(stripe: StripeFake, path_start: str) -> list[Any]:
    return [c for c in stripe.calls() if c.method == "POST" and c.path.startswith(path_start)]


@pytest.mark.both_databases
async def test_evidence_is_submitted_to_stripe(
    api: Api, stripe: StripeFake, clock: FrozenClock
) -> None:
    dispute, stripe_id = await stripe_dispute(api, stripe, clock)
    listed = await api.data(
        '{ disputes(filter: {psps: ["stripe"], status: [NEEDS_RESPONSE]}) '
        "{ totalCount edges { node { id psp evidenceDueBy } } } }"
    )
    assert [e["node"]["id"] for e in listed["disputes"]["edges"]] == [dispute]
    receipt = await uploaded(api, PDF, "receipt.pdf")
    chat = await uploaded(api, PNG, "chat.png")
    drafted = await update(
        api,
        dispute,
        productDescription="Blue widget, shipped 2026-01-10",
        shippingTracking="Z01234567890",
        customerName="Ada",
        receipt=receipt,
        files=[{"field": "CUSTOMER_COMMUNICATION", "fileId": chat}],
    )
    assert drafted["userErrors"] == []
    assert _calls(stripe, "/v1/disputes") == []  # a draft stays with us

    done = await submit(api, dispute)

    assert done["userErrors"] == [], done
    assert done["dispute"]["status"] == "UNDER_REVIEW"
    # Stripe got both files (purpose dispute_evidence), then the evidence with submit=true
    uploads = _calls(stripe, "/v1/files")
    assert sorted(c.body["file"]["filename"] for c in uploads) == ["chat.png", "receipt.pdf"]
    assert {c.body["purpose"] for c in uploads} == {"dispute_evidence"}
    assert all(c.headers.get("idempotency-key") for c in uploads)
    (update_call,) = _calls(stripe, f"/v1/disputes/{stripe_id}")
    assert update_call.body["submit"] == "true"
    received = stripe.submitted[stripe_id]
    assert received["product_description"] == "Blue widget, shipped 2026-01-10"
    assert received["shipping_tracking_number"] == "Z01234567890"
    assert received["customer_name"] == "Ada"
    assert stripe.uploads[received["receipt"]][1] == PDF
    assert stripe.uploads[received["customer_communication"]][1] == PNG
    assert stripe.get(stripe_id)["evidence_details"]["submission_count"] == 1
    # a second submission goes nowhere
    again = await submit(api, dispute)
    assert codes(again) == ["EVIDENCE_ALREADY_SUBMITTED"]
    assert len(_calls(stripe, "/v1/disputes")) == 1


async def test_stripe_refusing_gives_the_submission_back(
    api: Api, stripe: StripeFake, clock: FrozenClock
) -> None:
    dispute, stripe_id = await stripe_dispute(api, stripe, clock)
    assert codes(await update(api, dispute, productDescription="Widget")) == []
    stripe.fail_next("unavailable")  # the dispute update (no file to upload)
    failed = await submit(api, dispute)
    assert codes(failed) == ["PSP_UNAVAILABLE"]
    assert failed["dispute"]["evidenceSubmittedAt"] is None
    retried = await submit(api, dispute)
    assert retried["userErrors"] == [] and retried["dispute"]["status"] == "UNDER_REVIEW"
    assert stripe.submitted[stripe_id]["product_description"] == "Widget"


@pytest.mark.both_databases
async def test_two_submissions_at_once_reach_stripe_once(
    api: Api, stripe: StripeFake, clock: FrozenClock
) -> None:
    dispute, stripe_id = await stripe_dispute(api, stripe, clock)
    receipt = await uploaded(api)
    assert codes(await update(api, dispute, productDescription="Widget", receipt=receipt)) == []
    first, second = await asyncio.gather(submit(api, dispute), submit(api, dispute))
    assert sorted([codes(first), codes(second)]) == [[], ["EVIDENCE_ALREADY_SUBMITTED"]]
    assert len(_calls(stripe, f"/v1/disputes/{stripe_id}")) == 1
    assert len(_calls(stripe, "/v1/files")) == 1


async def test_paypal_answers_operation_not_supported(api: Api, fakes: Fakes) -> None:
    paypal = fakes[2]
    paypal.reset()
    customer = await new_customer(api, name="Ada")
    method = await attach(api, customer, paypal.setup_token("PAYPAL"), psp="PAYPAL")
    payment = await paid_payment(api, customer, "12.50", paymentMethodId=method)
    # PayPal's CUSTOMER.DISPUTE.CREATED, as the webhook applies it
    async with api.runtime.sessions() as session:
        row = await get_payment(session, key_of(payment, "Payment"))
        assert row.psp_reference is not None
        report = DisputeInfo(
            psp_reference="PP-D-27803",
            payment_reference=row.psp_reference,
            amount=Money(1250, "USD"),
            reason="MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
            status=DisputeStatus.NEEDS_RESPONSE,
            evidence_due_by=api.runtime.clock.now() + timedelta(days=10),
        )
        await apply_dispute(session, row, report, clock=api.runtime.clock, psp_event_id="WH-1")
        await session.commit()
    found = await api.data(
        "query($id: ID!) { payment(id: $id) { disputes { id } } }", {"id": payment}
    )
    dispute = found["payment"]["disputes"][0]["id"]
    assert codes(await update(api, dispute, productDescription="Tickets")) == []
    before = len(paypal.calls())
    refused = await submit(api, dispute)
    assert codes(refused) == ["OPERATION_NOT_SUPPORTED"]
    assert "paypal" in refused["userErrors"][0]["message"]
    assert len(paypal.calls()) == before  # refused before any call
    # the adapter itself says so, should a caller skip the capability check
    request = DisputeEvidenceRequest("PP-D-27803", {"product_description": "x"}, (), "k")
    with pytest.raises(OperationNotSupported):
        await api.runtime.psps.get("paypal").submit_dispute_evidence(request)
    again = await update(api, dispute, productDescription="Tickets, row 4")
    assert again["userErrors"] == []  # nothing was claimed
