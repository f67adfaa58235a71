"""Inbound webhooks: verified first, deduplicated, order-independent, exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app.domain.money import Money
from app.domain.payments import DisputeStatus, PaymentStatus
from app.psp.base import DisputeInfo, PaymentResult
from app.psp.codec import encode
from app.psp.sandbox import SandboxGateway
from tests.conftest import Api
from tests.events.helpers import all_events
from tests.factories import customer_with, get_payment, pay


def sandbox_event(event_id: str, kind: str, type_: str, **objects: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": type_,
        "kind": kind,
        "created": 1768478400,
        "data": {name: encode(value) for name, value in objects.items()},
    }


async def post(api: Api, headers: dict[str, str], body: bytes, psp: str = "sandbox") -> Any:
    return await api.http.post(f"/webhooks/{psp}", headers=headers, content=body)


def payment_report(
    reference: str, status: PaymentStatus, received: int, total: int
) -> PaymentResult:
    usd = "USD"
    capturable = total if status is PaymentStatus.REQUIRES_CAPTURE else 0
    return PaymentResult(
        psp_reference=reference,
        status=status,
        amount=Money(total, usd),
        amount_capturable=Money(capturable, usd),
        amount_received=Money(received, usd),
        raw_status=status.value,
    )


async def snapshot(api: Api, payment_id: str) -> dict[str, Any]:
    payment = await get_payment(api, payment_id)
    return {
        "status": payment["status"],
        "received": payment["amountReceived"],
        "refunded": payment["amountRefunded"],
        "refunds": sorted((r["status"], r["amount"]["amount"]) for r in payment["refunds"]),
        "disputes": sorted((d["status"], d["amount"]["amount"]) for d in payment["disputes"]),
        "events": sorted(Counter(e["type"] for e in payment["events"]).items()),
    }


async def test_bad_signatures_are_refused_and_change_nothing(api: Api) -> None:
    customer = await customer_with(api)
    authorised = (await pay(api, customer, "10.00", captureMethod="MANUAL"))["payment"]
    sandbox: SandboxGateway = api.runtime.psps.sandbox
    report = payment_report(authorised["pspReference"], PaymentStatus.SUCCEEDED, 1000, 1000)
    event = sandbox_event("evt_bad", "payment", "payment.succeeded", payment=report)
    headers, body = sandbox.signed(event)
    now = api.runtime.clock.now()
    other = SandboxGateway(webhook_secret=b"not-the-secret", clock=api.runtime.clock)
    cases = {
        "tampered body": (headers, body.replace(b"1000", b"9000")),
        "wrong secret": other.signed(event),
        "missing header": ({"content-type": "application/json"}, body),
        "stale timestamp": sandbox.signed(event, at=now - timedelta(minutes=6)),
        "future timestamp": sandbox.signed(event, at=now + timedelta(minutes=6)),
        "garbage header": ({"paygate-sandbox-signature": "t=x,v1=y"}, body),
    }
    before = await snapshot(api, authorised["id"])
    for name, (bad_headers, bad_body) in cases.items():
        response = await post(api, bad_headers, bad_body)
        assert response.status_code == 400, name
        assert "secret" not in response.text
    assert await snapshot(api, authorised["id"]) == before
    async with api.engine.connect() as connection:
        assert await connection.scalar(sa.text("SELECT count(*) FROM webhook_events")) == 1
    ok = await post(api, headers, body)
    assert (ok.status_code, ok.json()) == (200, {"received": "processed"})
    assert (await get_payment(api, authorised["id"]))["status"] == "SUCCEEDED"


async def test_unknown_psp_and_unknown_event_types(api: Api) -> None:
    sandbox: SandboxGateway = api.runtime.psps.sandbox
    headers, body = sandbox.signed(sandbox_event("evt_other", "other", "account.updated"))
    assert (await post(api, headers, body, psp="adyen")).status_code == 404
    first = await post(api, headers, body)
    assert first.json() == {"received": "ignored"}
    again = await post(api, headers, body)
    assert again.json() == {"received": "duplicate"}
    async with api.engine.connect() as connection:
        stored = (
            await connection.execute(sa.text("SELECT type, deliveries FROM webhook_events"))
        ).all()
    assert [tuple(row) for row in stored] == [("account.updated", 2)]


async def test_a_late_processing_after_succeeded_changes_nothing(api: Api) -> None:
    customer = await customer_with(api)
    paid = (await pay(api, customer, "10.00"))["payment"]
    sandbox: SandboxGateway = api.runtime.psps.sandbox
    late = payment_report(paid["pspReference"], PaymentStatus.PROCESSING, 0, 1000)
    headers, body = sandbox.signed(sandbox_event("evt_late", "payment", "x", payment=late))
    assert (await post(api, headers, body)).json() == {"received": "processed"}
    payment = await get_payment(api, paid["id"])
    assert (payment["status"], payment["amountReceived"]) == ("SUCCEEDED", {"amount": "10.00"})


async def test_disputed_payment_and_a_lost_dispute(api: Api) -> None:
    customer = await customer_with(api, "tok_disputed")
    paid = (await pay(api, customer, "30.00"))["payment"]
    payment = await get_payment(api, paid["id"])
    assert [(d["status"], d["reason"], d["outcome"]) for d in payment["disputes"]] == [
        ("NEEDS_RESPONSE", "fraudulent", None)
    ]
    dispute = api.runtime.psps.sandbox  # the sandbox already told us; now the bank decides
    lost = DisputeInfo(
        psp_reference=f"sbxdp_lost_{paid['pspReference']}",
        payment_reference=paid["pspReference"],
        amount=Money(3000, "USD"),
        reason="fraudulent",
        status=DisputeStatus.LOST,
        evidence_due_by=None,
    )
    existing = payment["disputes"][0]
    node = await api.data(
        "query($id: ID!) { dispute(id: $id) { pspReference evidenceDueBy } }",
        {"id": existing["id"]},
    )
    lost = (
        DisputeInfo(**{**lost.__dict__, "psp_reference": node["dispute"]["pspReference"]})
        if hasattr(lost, "__dict__")
        else DisputeInfo(
            node["dispute"]["pspReference"],
            lost.payment_reference,
            lost.amount,
            lost.reason,
            lost.status,
            None,
        )
    )
    headers, body = dispute.signed(
        sandbox_event("evt_lost", "dispute", "dispute.closed", dispute=lost)
    )
    assert (await post(api, headers, body)).status_code == 200
    payment = await get_payment(api, paid["id"])
    assert [(d["status"], d["outcome"]) for d in payment["disputes"]] == [("LOST", "lost")]
    reversal = [e for e in payment["events"] if e["type"] == "dispute.funds_reversed"]
    assert [e["amount"] for e in reversal] == [{"amount": "30.00"}]
    # the event log: created, then closed, with the dispute as the API shows it
    disputes = await all_events(api, objectId=existing["id"])
    assert [(e["name"], e["data"]["status"]) for e in disputes] == [
        ("dispute.created", "NEEDS_RESPONSE"),
        ("dispute.closed", "LOST"),
    ]
    assert disputes[-1]["previousAttributes"]["status"] == "NEEDS_RESPONSE"
