"""The audit log: every mutation call, append-only, without secrets or personal data."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from app.security.redaction import redact
from tests.card_scan import card_numbers
from tests.security.conftest import Secure

EVENTS = """
query($f: AuditEventFilter) {
  auditEvents(first: 50, filter: $f) {
    totalCount
    edges { node { operation principal actor outcome errorCodes targetIds input requestId } }
  }
}
"""


async def events(secure: Secure, admin: str, **filter_: str) -> list[dict[str, object]]:
    data = await secure.data(admin, EVENTS, {"f": filter_ or None})
    return [edge["node"] for edge in data["auditEvents"]["edges"]]


async def test_every_mutation_is_recorded_without_personal_data(secure: Secure) -> None:
    admin = await secure.key("admin")
    readonly = await secure.key("readonly")
    response = await secure.api.http.post(
        "/graphql",
        json={
            "query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) "
            "{ customer { id } userErrors { code } } }",
            "variables": {
                "i": {
                    "email": "grace@example.com",
                    "name": "Grace Hopper",
                    "country": "US",
                    "metadata": {"crm": "C-1906"},
                }
            },
        },
        headers={"authorization": f"Bearer {admin}", "x-request-id": "req-audit-0001"},
    )
    customer = response.json()["data"]["createCustomer"]["customer"]["id"]
    await secure.body(
        admin, 'mutation { createCustomer(input: {email: "nope"}) { userErrors { code } } }'
    )
    await secure.body(readonly, 'mutation { createProduct(input: {name: "X"}) { product { id } } }')
    await secure.body(
        admin,
        "mutation($c: ID!) { createPayment(input: {customerId: $c, idempotencyKey: "
        '"order-grace@example.com", amount: {amount: "10.00", currency: "USD"}}) '
        "{ userErrors { code } } }",
        {"c": customer},
    )

    recorded = await events(secure, admin)
    by_operation = {(e["operation"], e["outcome"]): e for e in recorded}
    created = by_operation[("createCustomer", "ok")]
    assert created["actor"] == "admin" and str(created["principal"]).startswith("key:")
    assert created["requestId"] == "req-audit-0001"
    assert created["targetIds"] == [customer]
    assert created["input"] == {
        "input": {
            "idempotencyKey": None,
            "email": "[redacted]",
            "name": "[redacted]",
            "country": "US",
            "locale": None,
            "metadata": "[redacted]",
            "testClockId": None,
            "anonymousId": None,
        }
    }
    refused = by_operation[("createCustomer", "user_error")]
    assert refused["errorCodes"] == ["INVALID_EMAIL"]
    denied = by_operation[("createProduct", "denied")]
    assert denied["actor"] == "readonly" and denied["errorCodes"] == ["FORBIDDEN"]
    payment = next(e for e in recorded if e["operation"] == "createPayment")
    assert payment["targetIds"][0] == customer
    key = payment["input"]["input"]["idempotencyKey"]  # type: ignore[index]
    assert key.startswith("sha256:")
    assert "grace" not in json.dumps(recorded).lower() and "Hopper" not in json.dumps(recorded)
    # Filters: by target and by operation.
    assert {e["operation"] for e in await events(secure, admin, targetId=customer)} == {
        "createCustomer",
        "createPayment",
    }
    assert len(await events(secure, admin, operation="createProduct")) == 1
    # Only admins read it.
    support = await secure.key("support")
    body = await secure.body(support, EVENTS)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_audit_log_is_append_only_in_the_database(secure: Secure) -> None:
    admin = await secure.key("admin")
    await secure.body(admin, 'mutation { createCustomer(input: {name: "X"}) { customer { id } } }')
    for statement in (
        "UPDATE audit_events SET outcome = 'ok'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ):
        async with secure.api.engine.connect() as connection:
            with pytest.raises(DBAPIError, match="append-only"):
                await connection.execute(sa.text(statement))
    assert len(await events(secure, admin)) == 1


def test_an_idempotency_keys_digest_is_never_read_as_a_card_number() -> None:
    """The audit log keeps a digest of each idempotency key. Cut to 16 hex digits, one key in
    1,850 had only decimal digits, and one in ten of those passed the Luhn check: this key's
    was ``3324246214102024``, a "card number" the suite's card scan found in the log."""
    key = "00000000-0000-4000-8000-0000000055be"
    digest = redact({"idempotencyKey": key})["idempotencyKey"]
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 32
    assert card_numbers(json.dumps({"input": {"idempotencyKey": digest}})) == []
