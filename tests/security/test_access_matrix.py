"""A customer session reaches its own objects and the catalog, nothing else.

Customers A and B each get a payment method, payments (one refunded, one disputed), a
subscription and its invoice. Then A's session asks for every one of B's objects every way
the schema allows: ``node``, ``nodes``, the typed roots, aliases, fragments, nested edges,
filters, and the self-service mutations naming B's IDs. A leak is any of B's IDs, or B's
email, in a response to A.
"""

from __future__ import annotations

import json
from typing import Any

from tests.api.payments_helpers import customer_with, pay, refund
from tests.billing.helpers import clock_and_customer, monthly_price, subscribe
from tests.billing.test_coupons_taxes import coupon, tax_rate
from tests.security.conftest import Secure

EVERYTHING = """
query($id: ID!) {
  customer(id: $id) {
    id email
    paymentMethods { id }
    subscriptions { id items { price { id } } invoices { id payments { id } } }
    invoices { id lines { description } payments { id } }
    payments(first: 50) { edges { node { id refunds { id } disputes { id } } } }
  }
}
"""
OWNED_TYPES = ("customer", "payment", "refund", "dispute", "subscription", "invoice")


def _ids(value: Any) -> set[str]:
    """Every global ID in a response."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "id" and isinstance(item, str):
                found.add(item)
            else:
                found |= _ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= _ids(item)
    return found


async def _customer(secure: Secure, email: str, token: str) -> str:
    customer = await customer_with(secure.api, token)
    await secure.api.data(
        "mutation($id: ID!, $e: String!) { updateCustomer(input: {id: $id, email: $e}) "
        "{ userErrors { code } } }",
        {"id": customer, "e": email},
    )
    price = await monthly_price(secure.api)
    assert (await subscribe(secure.api, customer, price))["userErrors"] == []
    paid = await pay(secure.api, customer, "40.00")
    assert paid["payment"]["status"] == "SUCCEEDED", paid
    assert (await refund(secure.api, paid["payment"]["id"], "5.00"))["userErrors"] == []
    return customer


async def test_customer_a_never_sees_customer_b(secure: Secure) -> None:
    admin = await secure.key("admin")
    secure.api.http.headers["authorization"] = f"Bearer {admin}"  # set-up as admin
    a = await _customer(secure, "a@example.com", "tok_visa")
    b = await _customer(secure, "b@example.com", "tok_disputed")

    everything_b = await secure.api.data(EVERYTHING, {"id": b})
    b_ids = _ids(everything_b)
    b_ids.discard(next(iter(_ids(everything_b["customer"]["subscriptions"][0]["items"]))))
    typed: dict[str, list[str]] = {name: [] for name in OWNED_TYPES}
    typed["customer"] = [b]
    typed["subscription"] = [s["id"] for s in everything_b["customer"]["subscriptions"]]
    typed["invoice"] = [i["id"] for i in everything_b["customer"]["invoices"]]
    for edge in everything_b["customer"]["payments"]["edges"]:
        typed["payment"].append(edge["node"]["id"])
        typed["refund"] += [r["id"] for r in edge["node"]["refunds"]]
        typed["dispute"] += [d["id"] for d in edge["node"]["disputes"]]
    assert all(typed.values()), typed  # B has an object of every owned type
    method_ids = [m["id"] for m in everything_b["customer"]["paymentMethods"]]
    staff_only = [
        (await coupon(secure.api, code="SPRING", percentOff="10", duration="ONCE"))["coupon"]["id"],
        (
            await tax_rate(
                secure.api, displayName="VAT", percentage="20", inclusive=False, country="GB"
            )
        )["taxRate"]["id"],
        (await clock_and_customer(secure.api, None))[0],
    ]
    listed = await secure.api.data(
        "{ apiKeys(first: 1) { edges { node { id } } } "
        "auditEvents(first: 1) { edges { node { id } } } }"
    )
    staff_only += [listed[name]["edges"][0]["node"]["id"] for name in ("apiKeys", "auditEvents")]
    del secure.api.http.headers["authorization"]

    token = secure.token(a)
    responses: list[dict[str, Any]] = []

    async def ask(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await secure.body(token, query, variables)
        responses.append(body)
        return body

    # node(), nodes(), typed roots, aliases and fragments.
    for gid in sorted(b_ids):
        body = await ask(
            "query($id: ID!) { node(id: $id) { id __typename "
            "... on Customer { email } ... on Payment { amount { amount } } } }",
            {"id": gid},
        )
        assert body["data"]["node"] is None
    body = await ask("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": sorted(b_ids)})
    assert body["data"]["nodes"] == [None] * len(b_ids)
    for name, ids in typed.items():
        for gid in ids:
            body = await ask(f"query($id: ID!) {{ {name}(id: $id) {{ id }} }}", {"id": gid})
            assert body["data"][name] is None, (name, body)
    aliases = " ".join(
        f'x{i}: node(id: "{gid}") {{ ...Own }}' for i, gid in enumerate(sorted(b_ids)[:25])
    )
    body = await ask(f"query {{ {aliases} }} fragment Own on Node {{ id }}")
    assert set(body["data"].values()) == {None}
    body = await ask(EVERYTHING, {"id": b})
    assert body["data"]["customer"] is None
    # Staff-only node types (coupon, tax rate, test clock, API key, audit event): not even
    # their existence.
    body = await ask(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }", {"ids": staff_only}
    )
    assert body["data"]["nodes"] == [None] * len(staff_only)

    # Nested edges from A's own objects hold A's objects only.
    own = await ask(EVERYTHING.replace("customer(id: $id)", "viewer").replace("($id: ID!)", ""))
    assert own["data"]["viewer"]["id"] == a and own["data"]["viewer"]["subscriptions"]

    # Lists and filters that could name B are staff-only.
    for query in (
        "query($id: ID!) { invoices(filter: {customerId: $id}) { totalCount } }",
        '{ customers(filter: {email: "b@example.com"}) { totalCount } }',
    ):
        body = await ask(query, {"id": b} if "$id" in query else None)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # Self-service mutations on B's objects: refused as if they did not exist.
    subscription, invoice, payment = (typed[k][0] for k in ("subscription", "invoice", "payment"))
    mutations = [
        ("attachPaymentMethod", f'{{customerId: "{b}", token: "tok_visa"}}'),
        ("startPaymentMethodSetup", f'{{customerId: "{b}"}}'),
        ("setDefaultPaymentMethod", f'{{customerId: "{a}", paymentMethodId: "{method_ids[0]}"}}'),
        ("detachPaymentMethod", f'{{customerId: "{b}", paymentMethodId: "{method_ids[0]}"}}'),
        ("cancelSubscription", f'{{subscriptionId: "{subscription}"}}'),
        ("payInvoice", f'{{invoiceId: "{invoice}", idempotencyKey: "k1"}}'),
        ("confirmPayment", f'{{paymentId: "{payment}", idempotencyKey: "k2"}}'),
        (
            "createPayment",
            f'{{customerId: "{b}", idempotencyKey: "k3", '
            'amount: {amount: "1.00", currency: "USD"}}',
        ),
    ]
    for name, arguments in mutations:
        body = await ask(f"mutation {{ {name}(input: {arguments}) {{ userErrors {{ code }} }} }}")
        assert body["data"][name]["userErrors"][0]["code"] == "NOT_FOUND", (name, body)
    body = await ask(
        "query($id: ID!) { previewSubscriptionChange(subscriptionId: $id, quantity: 2) "
        "{ total { amount } } }",
        {"id": typed["subscription"][0]},
    )
    assert body["data"] is None

    text = json.dumps(responses)
    leaks = sorted(gid for gid in b_ids | set(method_ids) | set(staff_only) if gid in text)
    leaks += ["b@example.com"] if "b@example.com" in text else []
    print(  # noqa: T201
        f"access matrix: {len(responses)} requests by A over {len(b_ids)} of B's objects "
        f"and {len(staff_only)} staff-only ones, leaks = {len(leaks)}"
    )
    assert leaks == []

    # B's objects are unchanged: still there for the admin, subscription still active.
    secure.api.http.headers["authorization"] = f"Bearer {admin}"
    after = await secure.api.data(EVERYTHING, {"id": b})
    assert after == everything_b
