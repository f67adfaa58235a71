"""A customer session reaches its own objects and the catalog, nothing else.

Customers A and B each get a payment method, payments (one refunded, one disputed), a
subscription and its invoice. Then A's session asks for every one of B's objects every way
the schema allows: ``node``, ``nodes``, the typed roots, aliases, fragments, nested edges,
filters, and every self-service mutation naming B's IDs (each refused with ``NOT_FOUND`` on
the very argument that names B's object). A leak is any of B's IDs, or B's email, in a
response to A.

Which mutations a customer session may call comes from the policy (``app/security/policy.py``):
each of them works on the customer's own objects, and every other mutation is refused with
``FORBIDDEN`` before it runs. A mutation added to the self-service set fails these tests until
it is covered here.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import graphql

from app.graphql.schema import schema as paygate_schema
from app.security.policy import TYPES
from app.security.principals import Actor
from tests.billing.test_coupons_taxes import coupon, tax_rate
from tests.factories import clock_and_customer, customer_with, monthly_price, pay, refund, subscribe
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
VIEWER = EVERYTHING.replace("customer(id: $id)", "viewer").replace("($id: ID!)", "")
OWNED_TYPES = ("customer", "payment", "refund", "dispute", "subscription", "invoice")
SCHEMA = paygate_schema._schema
# The mutations a customer session may call, by the policy: all of them on its own objects.
SELF_SERVICE = frozenset(
    name for name, policy in TYPES["Mutation"].items() if Actor.CUSTOMER in policy
)


def mutation(name: str, given: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A document calling mutation ``name`` with ``input`` as a variable, and its variables.
    An idempotency key is added when the input takes one and ``given`` has none (so that the
    document stays valid whichever mutations require a key)."""
    field = SCHEMA.mutation_type.fields[name] if SCHEMA.mutation_type else None
    assert field is not None, name
    input_type = graphql.get_named_type(field.args["input"].type)
    assert isinstance(input_type, graphql.GraphQLInputObjectType)
    if "idempotencyKey" in input_type.fields and "idempotencyKey" not in given:
        given = {**given, "idempotencyKey": str(uuid.uuid4())}
    document = (
        f"mutation($input: {field.args['input'].type}) {{ {name}(input: $input) "
        "{ userErrors { field code } } }"
    )
    return document, {"input": given}


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
    own = await ask(VIEWER)
    assert own["data"]["viewer"]["id"] == a and own["data"]["viewer"]["subscriptions"]

    # Lists and filters that could name B are staff-only.
    for query in (
        "query($id: ID!) { invoices(filter: {customerId: $id}) { totalCount } }",
        '{ customers(filter: {email: "b@example.com"}) { totalCount } }',
    ):
        body = await ask(query, {"id": b} if "$id" in query else None)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # Every self-service mutation naming one of B's objects, on its own or beside A's: refused
    # as if the object did not exist, on the argument that names it, and nothing else.
    b_subscription, b_invoice, b_payment = (
        typed[k][0] for k in ("subscription", "invoice", "payment")
    )
    b_method = method_ids[0]
    a_invoice = own["data"]["viewer"]["invoices"][0]["id"]
    price = own["data"]["viewer"]["subscriptions"][0]["items"][0]["price"]["id"]
    usd = {"amount": "1.00", "currency": "USD"}
    items = [{"priceId": price, "quantity": 1}]
    foreign: dict[str, list[tuple[dict[str, Any], str]]] = {
        "exportCustomerData": [({"customerId": b}, "customerId")],
        "startPaymentMethodSetup": [({"customerId": b}, "customerId")],
        "attachPaymentMethod": [({"customerId": b, "token": "tok_visa"}, "customerId")],
        "detachPaymentMethod": [
            ({"customerId": b, "paymentMethodId": b_method}, "customerId"),
            ({"customerId": a, "paymentMethodId": b_method}, "paymentMethodId"),
        ],
        "setDefaultPaymentMethod": [
            ({"customerId": b, "paymentMethodId": b_method}, "customerId"),
            ({"customerId": a, "paymentMethodId": b_method}, "paymentMethodId"),
        ],
        "createPayment": [
            ({"customerId": b, "amount": usd}, "customerId"),
            ({"customerId": a, "amount": usd, "paymentMethodId": b_method}, "paymentMethodId"),
        ],
        "confirmPayment": [({"paymentId": b_payment}, "paymentId")],
        "createSubscription": [
            ({"customerId": b, "items": items}, "customerId"),
            ({"customerId": a, "items": items, "paymentMethodId": b_method}, "paymentMethodId"),
        ],
        "cancelSubscription": [({"subscriptionId": b_subscription}, "subscriptionId")],
        "payInvoice": [
            ({"invoiceId": b_invoice}, "invoiceId"),
            ({"invoiceId": a_invoice, "paymentMethodId": b_method}, "paymentMethodId"),
        ],
        "validatePromotionCode": [
            ({"customerId": b, "code": "ANY-CODE", "priceIds": [price]}, "customerId"),
        ],
    }
    assert set(foreign) == SELF_SERVICE  # every mutation a customer may call is tried
    for name, calls in foreign.items():
        for given, named in calls:
            body = await ask(*mutation(name, given))
            assert "errors" not in body, (name, body)
            assert body["data"][name]["userErrors"] == [
                {"code": "NOT_FOUND", "field": ["input", named]}
            ], (name, given, body)
    body = await ask(
        "query($id: ID!) { previewSubscriptionChange(subscriptionId: $id, quantity: 2) "
        "{ total { amount } } }",
        {"id": b_subscription},
    )
    assert body["data"] is None
    refusals = [(e.get("extensions", {}).get("code"), e.get("path")) for e in body["errors"]]
    assert refusals == [("NOT_FOUND", ["previewSubscriptionChange"])], body

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


async def test_a_customer_session_may_call_exactly_the_self_service_mutations(
    secure: Secure,
) -> None:
    """On its own objects each self-service mutation works; every other mutation of the
    schema is refused before it runs, with ``FORBIDDEN`` naming it."""
    admin = await secure.key("admin")
    secure.api.http.headers["authorization"] = f"Bearer {admin}"
    a = await _customer(secure, "a@example.com", "tok_visa")
    del secure.api.http.headers["authorization"]
    token = secure.token(a)
    viewer = (await secure.data(token, VIEWER))["viewer"]
    [method] = viewer["paymentMethods"]
    [subscription] = viewer["subscriptions"]
    price = subscription["items"][0]["price"]["id"]
    payment = viewer["payments"]["edges"][0]["node"]["id"]
    invoice = subscription["invoices"][0]["id"]

    async def call(name: str, given: dict[str, Any]) -> dict[str, Any]:
        body = await secure.body(token, *mutation(name, given))
        assert "errors" not in body, (name, body)
        payload: dict[str, Any] = body["data"][name]
        return payload

    attached = await call("attachPaymentMethod", {"customerId": a, "token": "tok_mastercard"})
    assert attached["userErrors"] == []
    methods = (await secure.data(token, "{ viewer { paymentMethods { id } } }"))["viewer"]
    [other] = [m["id"] for m in methods["paymentMethods"] if m["id"] != method["id"]]
    usd = {"amount": "3.00", "currency": "USD"}
    own: list[tuple[str, dict[str, Any]]] = [
        ("exportCustomerData", {"customerId": a}),
        ("startPaymentMethodSetup", {"customerId": a}),
        ("setDefaultPaymentMethod", {"customerId": a, "paymentMethodId": other}),
        ("detachPaymentMethod", {"customerId": a, "paymentMethodId": other}),
        ("createPayment", {"customerId": a, "amount": usd, "paymentMethodId": method["id"]}),
        ("confirmPayment", {"paymentId": payment}),
        ("createSubscription", {"customerId": a, "items": [{"priceId": price}]}),
        ("cancelSubscription", {"subscriptionId": subscription["id"]}),
        ("payInvoice", {"invoiceId": invoice}),  # paid already: answered as it is
        ("validatePromotionCode", {"customerId": a, "code": "NO-SUCH", "priceIds": [price]}),
    ]
    assert {name for name, _ in own} | {"attachPaymentMethod"} == SELF_SERVICE
    for name, given in own:
        assert (await call(name, given))["userErrors"] == [], name

    mutations = SCHEMA.mutation_type.fields if SCHEMA.mutation_type else {}
    staff_only = sorted(set(mutations) - SELF_SERVICE)
    assert staff_only  # createCustomer, createRefund, createApiKey …
    for name in staff_only:
        arguments = ", ".join(f"{arg}: ${arg}" for arg in mutations[name].args)
        declared = ", ".join(f"${arg}: {t.type}" for arg, t in mutations[name].args.items())
        body = await secure.body(
            token, f"mutation({declared}) {{ {name}({arguments}) {{ __typename }} }}"
        )
        assert body["data"] is None
        refusals = [
            (e.get("extensions", {}).get("code"), e.get("extensions", {}).get("fields"))
            for e in body["errors"]
        ]
        assert refusals == [("FORBIDDEN", [f"Mutation.{name}"])], (name, body)
