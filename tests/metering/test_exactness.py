"""Exactness of usage billing, as a property: for any stream of usage events, split into any
batches, sent in any order with duplicates and late arrivals (during the period, within the
grace window, and after the period's invoice was finalized), the usage lines billed for each
period (the original line plus adjustments on later invoices) add up to the price model
applied to that period's deduplicated events, to the minor unit; and no finalized invoice
ever changes. On PostgreSQL and SQLite, through GraphQL and ``POST /usage``."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.metering import Aggregation, PriceModel, PriceScheme, Tier, line_amount
from tests.conftest import EXACTNESS_EXAMPLES, Api
from tests.factories import advance, clock_and_customer, subscribe
from tests.metering.usage import create_meter, invoices, post_usage, usage_price

pytestmark = pytest.mark.both_databases

START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOWS = [
    (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
    (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
    (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
]
# Where the test clock stops, in order; events are sent at a stop. Each window's invoice is
# drafted at its end, finalized an hour later (the grace window).
STOPS = [
    datetime(2026, 1, 20, tzinfo=UTC),
    datetime(2026, 2, 1, 0, 30, tzinfo=UTC),  # January's invoice waits (grace)
    datetime(2026, 2, 20, tzinfo=UTC),  # January's invoice is final: late events adjust
    datetime(2026, 3, 1, 0, 30, tzinfo=UTC),
    datetime(2026, 3, 25, tzinfo=UTC),
    datetime(2026, 4, 1, 0, 30, tzinfo=UTC),
    datetime(2026, 4, 20, tzinfo=UTC),
]
END = datetime(2026, 5, 1, 2, tzinfo=UTC)  # adjustments of March land on May's invoice
MAX_AGE = timedelta(days=35)
_runs = itertools.count()


@dataclass(frozen=True)
class Usage:
    key: int
    window: int
    second: int  # offset into the window
    value: int

    @property
    def timestamp(self) -> datetime:
        return WINDOWS[self.window][0] + timedelta(seconds=self.second)


def _stops_for(at: datetime) -> list[int]:
    """The stops at which an event of ``at`` may be sent: at or after it, within 35 days."""
    return [i for i, stop in enumerate(STOPS) if at <= stop and stop - at <= MAX_AGE]


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[Usage], list[tuple[int, Usage]]]:
    count = draw(st.integers(1, 40))
    events = []
    for key in range(count):
        window = draw(st.integers(0, 2))
        length = int((WINDOWS[window][1] - WINDOWS[window][0]).total_seconds())
        events.append(
            Usage(key, window, draw(st.integers(0, length - 1)), draw(st.integers(0, 60)))
        )
    sends: list[tuple[int, Usage]] = []
    for event in events:
        stops = _stops_for(event.timestamp)
        if not stops:
            continue
        for _ in range(draw(st.integers(1, 3))):  # duplicates, maybe at other stops
            sends.append((draw(st.sampled_from(stops)), event))
    return events, draw(st.permutations(sends))


schemes = st.one_of(
    st.builds(
        lambda unit: {"model": "PER_UNIT", "unitAmountDecimal": unit},
        st.sampled_from(["0.0025", "0.01", "0.333", "1.5"]),
    ),
    st.builds(
        lambda a, b, flat: {
            "model": "TIERED_GRADUATED",
            "tiers": [
                {"upTo": a, "unitAmount": "0"},
                {"upTo": a + b, "unitAmount": "0.015", "flatAmount": flat},
                {"upTo": None, "unitAmount": "0.0025"},
            ],
        },
        st.integers(1, 30),
        st.integers(1, 500),
        st.sampled_from(["0", "2.50"]),
    ),
    st.builds(
        lambda a: {
            "model": "TIERED_VOLUME",
            "tiers": [
                {"upTo": a, "unitAmount": "0.05", "flatAmount": "1.00"},
                {"upTo": None, "unitAmount": "0.035"},
            ],
        },
        st.integers(1, 200),
    ),
    st.builds(
        lambda size: {
            "model": "PACKAGE",
            "unitAmount": {"amount": "2.00", "currency": "USD"},
            "packageSize": size,
        },
        st.integers(1, 25),
    ),
)


def _scheme(model: dict[str, Any]) -> PriceScheme:
    """The price as the domain computes it, for the expected figures."""
    kind = PriceModel[model["model"]]
    if kind is PriceModel.PACKAGE:
        return PriceScheme(kind, Fraction(200), package_size=model["packageSize"])
    if kind is PriceModel.PER_UNIT:
        return PriceScheme(kind, Fraction(model["unitAmountDecimal"]) * 100)
    tiers = tuple(
        Tier(t["upTo"], Fraction(t["unitAmount"]) * 100,
             int(Fraction(t.get("flatAmount", "0")) * 100))
        for t in model["tiers"]
    )  # fmt: skip
    return PriceScheme(kind, Fraction(0), tiers)


@settings(
    max_examples=EXACTNESS_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stream=streams(),
    model=schemes,
    aggregation=st.sampled_from([Aggregation.COUNT, Aggregation.SUM]),
    batch=st.integers(1, 7),
)
async def test_billed_usage_equals_the_price_of_each_periods_events(
    api: Api,
    stream: tuple[list[Usage], list[tuple[int, Usage]]],
    model: dict[str, Any],
    aggregation: Aggregation,
    batch: int,
) -> None:
    events, sends = stream
    run = next(_runs)
    meter_key = f"m{run}"
    meter = await create_meter(api, meter_key, aggregation.name)
    price = await usage_price(api, meter, **model)
    clock, customer = await clock_and_customer(api, "tok_visa", at="2026-01-01T00:00:00Z")
    created = await subscribe(api, customer, price)
    assert created["userErrors"] == [], created
    subscription = created["subscription"]["id"]

    finalized: dict[str, dict[str, Any]] = {}
    for index, stop in enumerate(STOPS):
        await advance(api, clock, stop.isoformat())
        for invoice in await invoices(api, subscription):
            if invoice["number"] is None:
                continue
            # a finalized invoice never changes
            assert finalized.setdefault(invoice["number"], invoice) == invoice
        due = [event for at, event in sends if at == index]
        for first in range(0, len(due), batch):
            body = [
                {
                    "idempotencyKey": f"{run}-{e.key}",
                    "meterKey": meter_key,
                    "customerId": customer,
                    "timestamp": e.timestamp.isoformat(),
                    "value": str(e.value),
                }
                for e in due[first : first + batch]
            ]
            answer = await post_usage(api, body)
            assert answer["refused"] == 0, answer
    await advance(api, clock, END.isoformat())

    billed: dict[str, int] = {}
    for invoice in await invoices(api, subscription):
        for line in invoice["lines"]:
            if line["usageQuantity"] is not None:
                start = line["periodStart"]
                billed[start] = billed.get(start, 0) + int(line["amount"]["amountMinor"])
        if invoice["number"] in finalized:
            assert finalized[invoice["number"]] == invoice
    sent = {event.key for _, event in sends}
    scheme = _scheme(model)
    for window, (start, _) in enumerate(WINDOWS):
        counted = [e for e in events if e.window == window and e.key in sent]
        quantity = (
            Fraction(len(counted))
            if aggregation is Aggregation.COUNT
            else Fraction(sum(e.value for e in counted))
        )
        assert billed.get(start.isoformat(), 0) == line_amount(scheme, quantity), (
            window,
            billed,
        )
