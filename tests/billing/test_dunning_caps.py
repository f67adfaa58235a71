"""The networks' caps hold whatever the dunning policy and the customer do: a daily retry
schedule stops at the cap, and, for any sequence of renewals, retries, payments by hand and
new default methods, no card is charged again for an invoice after a decline advising
DO_NOT_RETRY, nor more often than 15 times in 30 days or 10 in 24 hours (checked on the
payments table, the record every engine writes)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.dunning import CAPS
from app.settings import Settings
from tests.conftest import Api, make_settings
from tests.factories import (
    advance,
    attach,
    clock_and_customer,
    dunning_view,
    monthly_price,
    pay_invoice,
    set_default,
    subscribe,
)

DAILY = list(range(1, 21))  # a policy that would retry every day for 20 days


@pytest.fixture
def settings_(database_url: str) -> Settings:
    return make_settings(
        database_url,
        dunning_retry_days=DAILY,
    )


@pytest.fixture(name="settings")
def _daily_dunning(settings_: Settings) -> Settings:
    return settings_


async def test_a_daily_schedule_stops_at_the_networks_cap(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_insufficientFunds")
    price = await monthly_price(api, trial_days=7)
    sub = (await subscribe(api, customer, price))["subscription"]
    await advance(api, clock, "2026-02-05T00:00:00Z")  # 28 days after the first decline
    sub = await dunning_view(api, sub["id"])
    [invoice] = sub["invoices"]
    assert invoice["attemptCount"] == 15  # the renewal and 14 retries: Visa's 15 in 30 days
    assert (sub["status"], sub["nextRetryAt"]) == ("PAST_DUE", None)
    assert sub["collectionStop"]["reason"] == "RETRY_LIMIT_REACHED"
    assert invoice["collectionStop"]["customerAction"] == "ADD_PAYMENT_METHOD"


# --- the property -----------------------------------------------------------------------------

TOKENS = [
    "tok_visa",
    "tok_chargeDeclined",
    "tok_insufficientFunds",
    "tok_lostCard",
    "tok_stolenCard",
    "tok_mastercardDoNotTryAgain",
    "tok_expiredCard",
]
Step = tuple[str, Any]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(min_value=1, max_value=240)),  # hours
        st.tuples(st.just("pay"), st.integers(min_value=1, max_value=3)),  # times, by hand
        st.tuples(st.just("card"), st.sampled_from(TOKENS)),  # a new default card
        st.tuples(st.just("default"), st.integers(min_value=0, max_value=5)),  # an old one
    ),
    min_size=3,
    max_size=12,
)


async def _play(api: Api, first: str, script: list[Step]) -> None:
    clock, customer = await clock_and_customer(api, first)
    price = await monthly_price(api, trial_days=1)
    sub = (await subscribe(api, customer, price))["subscription"]
    now = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    methods: list[str] = []
    for kind, value in script:
        if kind == "advance":
            now += timedelta(hours=value)
            await advance(api, clock, now.isoformat())
        elif kind == "pay":
            for invoice in (await dunning_view(api, sub["id"]))["invoices"]:
                if invoice["status"] == "OPEN":
                    for _ in range(value):
                        answer = await pay_invoice(api, invoice["id"], str(uuid.uuid4()))
                        codes = {e["code"] for e in answer["userErrors"]}
                        assert codes <= {"RETRY_NOT_ALLOWED"}, answer
        elif kind == "card":
            methods.append(await attach(api, customer, value))
        elif methods:
            await set_default(api, customer, methods[value % len(methods)])


async def _violations(api: Api) -> list[str]:
    """Every (invoice, card) whose attempts break a rule: an attempt after a DO_NOT_RETRY
    decline, or more attempts than a cap in one of its windows."""
    async with api.engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.text(
                    "SELECT p.invoice_id, coalesce(m.fingerprint, m.id::text), p.created_at, "
                    "p.decline_advice FROM payments p "
                    "JOIN payment_methods m ON m.id = p.payment_method_id "
                    "WHERE p.invoice_id IS NOT NULL "
                    "AND NOT (p.status = 'failed' AND p.psp_reference IS NULL) "
                    "ORDER BY p.created_at, p.id"
                )
            )
        ).all()
    attempts: dict[tuple[Any, str], list[tuple[datetime, str | None]]] = defaultdict(list)
    for invoice, card, at, advice in rows:
        attempts[(invoice, card)].append((at, advice))
    found = []
    for key, tried in attempts.items():
        advices = [advice for _, advice in tried]
        if "do_not_retry" in advices[:-1]:
            found.append(f"{key}: charged again after a DO_NOT_RETRY decline: {advices}")
        times = [at for at, _ in tried]
        for cap in CAPS:
            for start in times:
                inside = [t for t in times if start <= t < start + cap.window]
                if len(inside) > cap.attempts:
                    found.append(f"{key}: {len(inside)} attempts in {cap.window} ({cap.rule})")
    return found


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=st.sampled_from(TOKENS[1:]), script=steps)
async def test_no_card_is_retried_against_the_networks_rules(
    api: Api, first: str, script: list[Step]
) -> None:
    await _play(api, first, script)
    assert await _violations(api) == []
