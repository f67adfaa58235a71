"""Risk rules through the API: rules and lists are data, a block stops the attempt before
the PSP with a typed error and the reason kept, the client's address is believed only from
a trusted proxy, and a customer never learns which rule it met."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from tests.risk.conftest import RISK, Gate

WINDOW = 3600


async def test_a_blocked_email_is_refused_before_the_psp_and_the_reason_kept(gate: Gate) -> None:
    await gate.rule(name="Block listed", condition={"onList": "BLOCK"}, action="BLOCK", score=100)
    added = await gate.data(
        "mutation { addRiskListEntry(input: {list: BLOCK, dimension: EMAIL, "
        'value: " Fraud@Example.com ", note: "chargebacks"}) '
        "{ riskListEntry { id value dimension list } userErrors { code } } }"
    )
    assert added["addRiskListEntry"]["riskListEntry"]["value"] == "fraud@example.com"
    client = await gate.client("203.0.113.9", email="fraud@example.com")
    attached = await client.attach("tok_visa")
    assert [e["code"] for e in attached["userErrors"]] == ["RISK_BLOCKED"]
    assert attached["paymentMethod"] is None
    async with gate.api.engine.connect() as connection:  # nothing reached the PSP
        methods = await connection.scalar(sa.text("SELECT count(*) FROM payment_methods"))
        customers = await connection.scalar(sa.text("SELECT count(*) FROM psp_customers"))
    assert (methods, customers) == (0, 0)

    # listed after it attached a card: its charge is refused, recorded as a failed payment
    good = await gate.client("203.0.113.10", email="later@example.com")
    method = (await good.attach("tok_visa"))["paymentMethod"]["id"]
    await gate.data(
        "mutation { addRiskListEntry(input: {list: BLOCK, dimension: EMAIL, "
        'value: "later@example.com"}) { userErrors { code } } }'
    )
    key = str(uuid.uuid4())
    paid = await good.pay("25.00", method, idempotencyKey=key)
    assert [e["code"] for e in paid["userErrors"]] == ["RISK_BLOCKED"]
    payment = paid["payment"]
    assert (payment["status"], payment["pspReference"], payment["decline"]["code"]) == (
        "FAILED",
        None,
        "FRAUDULENT",
    )
    again = await good.pay("25.00", method, idempotencyKey=key)  # a replay: the same answer
    assert again == paid
    risk = (await gate.risk(payment["id"]))["risk"]
    assert risk["action"] == "BLOCK" and risk["level"] == "HIGHEST" and risk["score"] == 100
    assert risk["reasons"] == [
        {"ruleName": "Block listed", "action": "BLOCK", "detail": "on the block list"}
    ]
    assert risk["ipAddress"] == "203.0.113.10"


async def test_an_allow_list_wins_over_velocity(gate: Gate) -> None:
    await gate.rule(
        name="Two attempts an hour",
        condition={
            "velocity": {"dimension": "CUSTOMER", "windowSeconds": WINDOW, "maxAttempts": 2}
        },
        action="BLOCK",
        score=80,
    )
    await gate.rule(name="Trusted", condition={"onList": "ALLOW"}, action="ALLOW")
    client = await gate.client("198.51.100.7", email="vip@example.com")
    method = (await client.attach("tok_visa"))["paymentMethod"]["id"]
    assert (await client.pay("10.00", method))["payment"]["status"] == "SUCCEEDED"
    third = await client.pay("10.00", method)  # attempts: attach, pay, pay
    assert [e["code"] for e in third["userErrors"]] == ["RISK_BLOCKED"]
    await gate.data(
        "mutation { addRiskListEntry(input: {list: ALLOW, dimension: EMAIL, "
        'value: "vip@example.com"}) { userErrors { code } } }'
    )
    allowed = await client.pay("10.00", method)
    assert allowed["payment"]["status"] == "SUCCEEDED"
    risk = (await gate.risk(allowed["payment"]["id"]))["risk"]
    assert risk["action"] == "ALLOW"
    assert [r["ruleName"] for r in risk["reasons"]] == ["Trusted", "Two attempts an hour"]


async def test_card_testing_from_one_address_is_stopped_at_attach(gate: Gate) -> None:
    await gate.rule(
        name="Cards from one IP",
        condition={
            "cardTesting": {"dimension": "IP_ADDRESS", "windowSeconds": WINDOW,
                            "maxDistinctCards": 3, "maxDeclines": 3}
        },
        action="BLOCK",
        score=90,
    )  # fmt: skip
    attacker = await gate.client("192.0.2.66")
    outcomes = [await attacker.attach(f"tok_chargeDeclined.{n}") for n in range(6)]
    codes = [[e["code"] for e in o["userErrors"]] for o in outcomes]
    assert codes == [[], [], [], ["RISK_BLOCKED"], ["RISK_BLOCKED"], ["RISK_BLOCKED"]]
    # another address, another customer: not affected
    other = await gate.client("192.0.2.67")
    assert (await other.attach("tok_visa"))["userErrors"] == []


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    gate: Gate, settings: object
) -> None:
    """The test client is a trusted proxy here: the rightmost address it did not add is the
    client's; what the client wrote to the left of it is not believed."""
    await gate.rule(
        name="Two attempts per IP",
        condition={
            "velocity": {"dimension": "IP_ADDRESS", "windowSeconds": WINDOW, "maxAttempts": 2}
        },
        action="BLOCK",
    )
    # the client claims a fresh address each time; the proxy appends the real one
    codes = []
    for n in range(4):
        client = await gate.client(f"10.9.9.{n}, 192.0.2.200")
        codes.append([e["code"] for e in (await client.attach("tok_visa"))["userErrors"]])
    assert codes == [[], [], ["RISK_BLOCKED"], ["RISK_BLOCKED"]]


async def test_a_customer_cannot_read_why_and_staff_can(gate: Gate) -> None:
    client = await gate.client("203.0.113.20")
    method = (await client.attach("tok_visa"))["paymentMethod"]["id"]
    payment = (await client.pay("5.00", method))["payment"]["id"]
    response = await gate.api.http.post(
        "/graphql", json={"query": RISK, "variables": {"id": payment}}, headers=client.headers()
    )
    body = response.json()
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    risk = (await gate.risk(payment))["risk"]
    assert (risk["action"], risk["score"], risk["level"], risk["reasons"]) == (
        "ALLOW",
        0,
        "NORMAL",
        [],
    )


async def test_rules_are_data_listed_changed_and_switched_off(gate: Gate) -> None:
    rule = await gate.rule(
        name="Big amounts",
        condition={"amountAbove": {"amount": "500.00", "currency": "USD"}},
        action="REVIEW",
        score=40,
    )
    assert rule["condition"] == {
        "type": "AMOUNT_ABOVE", "dimension": None, "windowSeconds": None, "maxAttempts": None,
        "maxDistinctCards": None, "maxDeclines": None, "factor": None, "minimumPayments": None,
        "list": None, "amount": {"amount": "500.00", "currency": "USD"},
    }  # fmt: skip
    changed = await gate.data(
        "mutation($id: ID!) { updateRiskRule(input: {id: $id, active: false, score: 55}) "
        "{ riskRule { active score } userErrors { code } } }",
        {"id": rule["id"]},
    )
    assert changed["updateRiskRule"]["riskRule"] == {"active": False, "score": 55}
    listed = await gate.data(
        "{ riskRules(active: false) { totalCount edges { node { id name } } } }"
    )
    assert listed["riskRules"]["edges"] == [{"node": {"id": rule["id"], "name": "Big amounts"}}]
    installed = await gate.data(
        "mutation { installDefaultRiskRules(input: {}) { riskRules { name action } } }"
    )
    names = [r["name"] for r in installed["installDefaultRiskRules"]["riskRules"]]
    assert "Card testing from one IP address" in names and len(names) == 9
    again = await gate.data(
        "mutation { installDefaultRiskRules(input: {}) { riskRules { name } } }"
    )
    assert again["installDefaultRiskRules"]["riskRules"] == []


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (
            {
                "name": "x",
                "condition": {
                    "velocity": {"dimension": "IP_ADDRESS", "windowSeconds": 0, "maxAttempts": 1}
                },
                "action": "BLOCK",
            },
            "INVALID",
        ),
        (
            {
                "name": "x",
                "condition": {
                    "velocity": {"dimension": "COUNTRY", "windowSeconds": 60, "maxAttempts": 1}
                },
                "action": "BLOCK",
            },
            "INVALID",
        ),
        (
            {"name": "x", "condition": {"onList": "BLOCK"}, "action": "BLOCK", "score": 101},
            "INVALID",
        ),
        ({"name": " ", "condition": {"onList": "BLOCK"}, "action": "BLOCK"}, "BLANK"),
        (
            {
                "name": "x",
                "condition": {"amountAbove": {"amount": "1.001", "currency": "USD"}},
                "action": "REVIEW",
            },
            "AMOUNT_TOO_PRECISE",
        ),
        (
            {
                "name": "x",
                "condition": {"amountAbove": {"amount": "1", "currency": "XYZ"}},
                "action": "REVIEW",
            },
            "UNKNOWN_CURRENCY",
        ),
    ],
)
async def test_a_bad_rule_is_refused_with_a_typed_error_and_nothing_stored(
    gate: Gate, fields: dict[str, object], code: str
) -> None:
    from tests.risk.conftest import RULE

    made = (await gate.data(RULE, {"i": fields}))["createRiskRule"]
    assert made["riskRule"] is None
    assert code in [e["code"] for e in made["userErrors"]], made
    async with gate.api.engine.connect() as connection:
        assert await connection.scalar(sa.text("SELECT count(*) FROM risk_rules")) == 0


@pytest.mark.parametrize("condition", ["{onList: BLOCK, countryMismatch: true}", "{}"])
async def test_a_condition_is_exactly_one_field(gate: Gate, condition: str) -> None:
    document = (
        'mutation { createRiskRule(input: {name: "x", action: BLOCK, '
        f"condition: {condition}}}) {{ riskRule {{ id }} }} }}"
    )
    response = await gate.api.http.post(
        "/graphql", json={"query": document}, headers={"authorization": f"Bearer {gate.admin}"}
    )
    errors = response.json()["errors"]  # @oneOf
    assert "must specify exactly one key" in errors[0]["message"], errors


async def test_only_admins_change_rules(gate: Gate) -> None:
    from tests.factories import staff_key

    support = await staff_key(gate.api.runtime, "support", "support")
    response = await gate.api.http.post(
        "/graphql",
        json={"query": "mutation { installDefaultRiskRules(input: {}) { riskRules { id } } }"},
        headers={"authorization": f"Bearer {support}"},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.both_databases
async def test_a_burst_from_one_address_passes_exactly_the_rule(gate: Gate) -> None:
    """Attempts racing from one source are screened one after the other, each counting the
    ones before: a burst of 12 at once passes the 5 the rule allows, not 12."""
    await gate.rule(
        name="Five per IP",
        condition={
            "velocity": {"dimension": "IP_ADDRESS", "windowSeconds": WINDOW, "maxAttempts": 5}
        },
        action="BLOCK",
    )
    clients = [await gate.client("192.0.2.50") for _ in range(12)]
    results = await asyncio.gather(*(c.attach("tok_visa") for c in clients))
    passed = sum(1 for r in results if not r["userErrors"])
    assert passed == 5
    late = await gate.client("192.0.2.50")
    assert [e["code"] for e in (await late.attach("tok_visa"))["userErrors"]] == ["RISK_BLOCKED"]
    async with gate.api.engine.connect() as connection:
        counted = await connection.scalar(
            sa.text("SELECT count(*) FROM risk_attempts WHERE ip_address = '192.0.2.50'")
        )
    assert counted == 13
