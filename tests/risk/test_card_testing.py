"""A card-testing attack among genuine customers, with the recommended rules
(`installDefaultRiskRules`): the attack is stopped before the PSP, the customers pay.

The attacker has signed up a few accounts and tries stolen cards from three addresses:
small charges, most declined, each attempt an attach then (if it passed) a charge of 1.00.
Meanwhile genuine customers, each from an address of their own, attach a card and pay.
An attack attempt "reached the PSP" when its attach was not refused by the rules (the PSP
saw the card). Issue 28's figures (2,000 attempts, 500 cards, 500 genuine payments) are
`make test-long`'s sizes; `make test` runs fewer (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from tests.conftest import CARD_TESTING_ATTEMPTS, CARD_TESTING_CARDS, CARD_TESTING_GENUINE
from tests.risk.conftest import Client, Gate

pytestmark = [pytest.mark.slow, pytest.mark.both_databases]

ATTACKER_ADDRESSES = ("192.0.2.11", "192.0.2.12", "192.0.2.13")
ATTACKER_ACCOUNTS = 10
CONCURRENCY = 8


@dataclass
class Tally:
    attempts: int = 0
    reached_psp: int = 0
    blocked: int = 0
    reviewed: int = 0
    paid: int = 0
    declined: int = 0
    codes: list[str] = field(default_factory=list)


async def attack_attempt(client: Client, card: str, tally: Tally) -> None:
    tally.attempts += 1
    attached = await client.attach(card)
    codes = [e["code"] for e in attached["userErrors"]]
    if codes == ["RISK_BLOCKED"]:
        tally.blocked += 1
        return
    tally.reached_psp += 1
    if codes:
        tally.codes.extend(codes)
        return
    paid = await client.pay("1.00", attached["paymentMethod"]["id"])
    status = paid["payment"]["status"]
    tally.declined += status == "FAILED"


async def genuine_payment(gate: Gate, n: int, rng: random.Random, tally: Tally) -> None:
    tally.attempts += 1
    client = await gate.client(f"10.{n // 250}.{n % 250}.{1 + n % 7}", f"device-{n}")
    attached = await client.attach(f"tok_visa.g{n}")
    if [e["code"] for e in attached["userErrors"]] == ["RISK_BLOCKED"]:
        tally.blocked += 1
        return
    amount = f"{rng.randint(20, 200)}.{rng.randint(0, 99):02d}"
    paid = await client.pay(amount, attached["paymentMethod"]["id"])
    status = paid["payment"]["status"]
    if status == "SUCCEEDED":
        tally.paid += 1
    elif status == "REQUIRES_CAPTURE":
        tally.reviewed += 1
    else:
        tally.blocked += 1


async def test_a_card_testing_attack_is_stopped_while_customers_pay(gate: Gate) -> None:
    installed = await gate.data(
        "mutation { installDefaultRiskRules(input: {}) { riskRules { name } } }"
    )
    assert len(installed["installDefaultRiskRules"]["riskRules"]) == 9
    rng = random.Random(28)
    accounts = [
        await gate.client(ATTACKER_ADDRESSES[n % 3], customer=await gate.customer())
        for n in range(ATTACKER_ACCOUNTS)
    ]
    attack, genuine = Tally(), Tally()
    jobs = []
    for n in range(CARD_TESTING_ATTEMPTS):
        account = accounts[n % ATTACKER_ACCOUNTS]
        attempt = Client(gate, account.customer, account.token, ATTACKER_ADDRESSES[n % 3])
        kind = "tok_chargeDeclined" if rng.random() < 0.7 else "tok_visa"
        card = f"{kind}.c{rng.randrange(CARD_TESTING_CARDS)}"
        jobs.append(lambda a=attempt, c=card: attack_attempt(a, c, attack))
    every = max(1, CARD_TESTING_ATTEMPTS // CARD_TESTING_GENUINE)
    for n in range(CARD_TESTING_GENUINE):  # spread among the attack
        jobs.insert(n * (every + 1), lambda n=n: genuine_payment(gate, n, rng, genuine))

    limit = asyncio.Semaphore(CONCURRENCY)

    async def run(job: object) -> None:
        async with limit:
            await job()  # type: ignore[operator]

    await asyncio.gather(*(run(job) for job in jobs))

    stopped = attack.blocked / attack.attempts
    affected = (genuine.blocked + genuine.reviewed) / genuine.attempts
    print(  # noqa: T201 - the figures of the closing note
        f"card testing: {attack.attempts} attack attempts, {attack.blocked} blocked before the "
        f"PSP ({stopped:.2%}), {attack.reached_psp} reached it ({attack.declined} declined); "
        f"{genuine.attempts} genuine payments, {genuine.paid} paid, {genuine.reviewed} "
        f"reviewed, {genuine.blocked} blocked ({affected:.2%} affected)"
    )
    assert attack.codes == []
    # Each address may try what the rules allow before they block it (3 cards an hour),
    # whatever the size of the attack: at issue 28's size that is under 1 %.
    assert attack.reached_psp <= 3 * len(ATTACKER_ADDRESSES)
    assert attack.reached_psp <= max(0.01 * attack.attempts, 9)
    assert affected <= 0.01
    assert genuine.paid >= 0.99 * genuine.attempts
