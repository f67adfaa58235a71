"""checkoutOffer: deterministic, sticky assignment; audiences; exposures; carry-over from
an anonymous visitor to the customer; subscriptions record their experiment and variant."""

from __future__ import annotations

import asyncio
import uuid
from itertools import islice

import sqlalchemy as sa

from app.models import ExperimentAssignment, ExperimentExposure
from app.schema.node import encode_gid
from tests.conftest import Api
from tests.experiments.helpers import (
    act,
    create_experiment,
    offer,
    price_test,
    product_with_prices,
    results,
    variant_of_customer,
    visitors,
)
from tests.factories import new_customer, subscribe


async def test_two_visitors_get_stable_offers_of_their_variants(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (await price_test(api, product, prices))["experiment"]
    assert experiment["status"] == "RUNNING"
    assert experiment["layerBuckets"] == {"start": 0, "end": 10_000}
    first = next(visitors(experiment, 0))
    second = next(visitors(experiment, 1))
    for _ in range(3):
        shown = await offer(api, product, anon=first)
        assert shown == {
            "price": {"id": prices[0], "unitAmount": {"amount": "29.00", "currency": "USD"}},
            "trialPeriodDays": None,
            "coupon": None,
            "experiment": {"key": "pro-price"},
            "variant": {"name": "control"},
        }
        shown = await offer(api, product, anon=second)
        assert shown is not None
        assert (shown["price"]["id"], shown["variant"]) == (prices[1], {"name": "lower"})
    # Three offers each, two units; a prefetch is not an exposure
    await offer(api, product, anon=second, record=False)
    found = await results(api, experiment["id"])
    by_name = {v["variant"]["name"]: v for v in found["results"]["variants"]}
    assert {n: (v["exposedUnits"], v["offersShown"]) for n, v in by_name.items()} == {
        "control": (1, 3),
        "lower": (1, 3),
    }
    async with api.runtime.sessions() as session:
        logged = await session.scalar(sa.select(sa.func.count()).select_from(ExperimentExposure))
    assert logged == 6


async def test_assignment_is_sticky_across_pauses_and_the_paused_experiment_shows_defaults(
    api: Api,
) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (await price_test(api, product, prices))["experiment"]
    lower = next(visitors(experiment, 1))
    assert (await offer(api, product, anon=lower) or {})["variant"] == {"name": "lower"}
    paused = await act(api, "pauseExperiment", experiment["id"], reason="checking the copy")
    assert paused["experiment"]["status"] == "PAUSED"
    assert paused["experiment"]["statusReason"] == "checking the copy"
    during = await offer(api, product, anon=lower)
    assert during is not None
    assert (during["price"]["id"], during["experiment"], during["variant"]) == (
        prices[0], None, None,
    )  # fmt: skip
    resumed = await act(api, "startExperiment", experiment["id"])
    assert resumed["experiment"]["status"] == "RUNNING"
    assert (await offer(api, product, anon=lower) or {})["variant"] == {"name": "lower"}
    found = await results(api, experiment["id"])
    assert [v["offersShown"] for v in found["results"]["variants"]] == [0, 2]


async def test_traffic_allocation_leaves_the_others_on_the_default_offer(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (await price_test(api, product, prices, trafficPercent="50"))["experiment"]
    assert experiment["trafficPercent"] == "50.00"
    assert experiment["layerBuckets"] == {"start": 0, "end": 5_000}
    shown = [await offer(api, product, anon=f"visitor-{n:06d}") for n in range(40)]
    inside = [o for o in shown if o and o["experiment"]]
    outside = [o for o in shown if o and not o["experiment"]]
    assert 8 <= len(inside) <= 32 and len(inside) + len(outside) == 40
    assert {o["price"]["id"] for o in outside} == {prices[0]}
    again = [await offer(api, product, anon=f"visitor-{n:06d}") for n in range(40)]
    assert again == shown


async def test_a_visitor_who_signs_up_keeps_the_variant_and_subscribes_at_its_price(
    api: Api,
) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (await price_test(api, product, prices))["experiment"]
    visitor = next(visitors(experiment, 1))
    assert (await offer(api, product, anon=visitor) or {})["variant"] == {"name": "lower"}

    customer = await new_customer(api, "tok_visa", name="Ada", anonymousId=visitor)
    signed_in = await offer(api, product, customer=customer)
    assert signed_in is not None and signed_in["variant"] == {"name": "lower"}

    created = await api.data(
        "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) { "
        "subscription { status experiment { key } experimentVariant { name } "
        "items { unitAmount { amount } price { id } } } userErrors { field code } } }",
        {"i": {"idempotencyKey": str(uuid.uuid4()), "customerId": customer,
               "items": [{"priceId": signed_in["price"]["id"]}]}},
    )  # fmt: skip
    sub = created["createSubscription"]["subscription"]
    assert sub == {
        "status": "ACTIVE",
        "experiment": {"key": "pro-price"},
        "experimentVariant": {"name": "lower"},
        "items": [{"unitAmount": {"amount": "24.00"}, "price": {"id": prices[1]}}],
    }
    found = await results(api, experiment["id"])
    lower = found["results"]["variants"][1]
    assert (lower["exposedUnits"], lower["paidConversions"]) == (1, 1)
    assert lower["revenue"] == {"amountMinor": "2400"}
    assert lower["mrr"] == {"amountMinor": "2400"}


async def test_the_anonymous_id_carries_over_at_subscription_too(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (await price_test(api, product, prices))["experiment"]
    customer = await new_customer(api, "tok_visa", name="Ada")
    # a visitor id whose variant differs from the customer's own hash
    own = variant_of_customer(experiment, customer)
    visitor = next(visitors(experiment, 1 - own))
    await offer(api, product, anon=visitor)
    sub = await subscribe(api, customer, prices[1 - own], anonymousId=visitor)
    assert sub["userErrors"] == []
    found = await api.data(
        "query($s: ID!) { subscription(id: $s) { experimentVariant { name } } }",
        {"s": sub["subscription"]["id"]},
    )
    assert found["subscription"]["experimentVariant"]["name"] == ["control", "lower"][1 - own]
    # and the customer sees that variant from now on, on any device
    shown = await offer(api, product, customer=customer, anon="another-device-1")
    assert shown is not None and shown["variant"]["name"] == ["control", "lower"][1 - own]


async def test_a_subscription_after_the_experiment_ended_records_none(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (await price_test(api, product, prices))["experiment"]
    customer = await new_customer(api, "tok_visa", name="Ada")
    assert (await offer(api, product, customer=customer) or {})["experiment"] is not None
    await act(api, "concludeExperiment", experiment["id"])
    sub = await subscribe(api, customer, prices[0])
    found = await api.data(
        "query($s: ID!) { subscription(id: $s) { experiment { key } experimentVariant { name } } }",
        {"s": sub["subscription"]["id"]},
    )
    assert found["subscription"] == {"experiment": None, "experimentVariant": None}


async def test_audience_filters_country_platform_and_currency(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    eur = (
        await api.data(
            "mutation($p: ID!) { createPrice(input: {productId: $p, unitAmount: {amount: "
            '"27.00", currency: "EUR"}, recurring: {interval: MONTH}}) { price { id } } }',
            {"p": product},
        )
    )["createPrice"]["price"]["id"]
    experiment = (
        await price_test(
            api, product, prices, audience={"countries": ["DE", "fr"], "platforms": ["IOS"]}
        )
    )["experiment"]
    assert experiment["audience"] == {
        "newCustomersOnly": True, "countries": ["DE", "FR"], "platforms": ["IOS"],
    }  # fmt: skip
    ids = list(islice(visitors(experiment, 1), 4))
    assert (await offer(api, product, anon=ids[0], country="US", platform="IOS") or {})[
        "experiment"
    ] is None
    assert (await offer(api, product, anon=ids[1], country="DE", platform="WEB") or {})[
        "experiment"
    ] is None
    in_euros = await offer(api, product, anon=ids[2], country="DE", platform="IOS", currency="EUR")
    assert in_euros is not None
    assert (in_euros["price"]["id"], in_euros["experiment"]) == (eur, None)
    inside = await offer(api, product, anon=ids[3], country="fr", platform="IOS")
    assert inside is not None and inside["variant"] == {"name": "lower"}
    # none of the others was assigned: they may enter later if their context changes
    found = await results(api, experiment["id"])
    assert sum(v["exposedUnits"] for v in found["results"]["variants"]) == 1


async def test_returning_customers_get_the_default_offer_unless_the_audience_includes_them(
    api: Api,
) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    _, other_prices = await product_with_prices(api, "5.00")
    returning = await new_customer(api, "tok_visa", name="Ada")
    assert (await subscribe(api, returning, other_prices[0]))["subscription"]["status"] == "ACTIVE"
    fresh = await new_customer(api, "tok_visa", name="Ada")
    experiment = (await price_test(api, product, prices))["experiment"]
    assert (await offer(api, product, customer=returning) or {})["experiment"] is None
    assert (await offer(api, product, customer=fresh) or {})["experiment"] == {"key": "pro-price"}
    await act(api, "archiveExperiment", experiment["id"])
    everyone = await price_test(
        api, product, prices, key="pro-price-all", audience={"newCustomersOnly": False}
    )
    assert (await offer(api, product, customer=returning) or {})["experiment"] == {
        "key": "pro-price-all"
    }
    assert everyone["experiment"]["audience"]["newCustomersOnly"] is False


async def test_a_variant_can_change_the_trial_and_add_a_coupon(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", trial_days=7)
    coupon = (
        await api.data(
            'mutation { createCoupon(input: {code: "WELCOME20", percentOff: "20", '
            "duration: ONCE}) { coupon { id } } }"
        )
    )["createCoupon"]["coupon"]["id"]
    created = await create_experiment(
        api, key="trial-test", name="Longer trial", productId=product, currency="USD",
        variants=[{"name": "control"},
                  {"name": "month-free", "trialPeriodDays": 30, "couponId": coupon}],
    )  # fmt: skip
    assert created["userErrors"] == []
    experiment = (await act(api, "startExperiment", created["experiment"]["id"]))["experiment"]
    control, treated = next(visitors(experiment, 0)), next(visitors(experiment, 1))
    assert await offer(api, product, anon=control) == {
        "price": {"id": prices[0], "unitAmount": {"amount": "29.00", "currency": "USD"}},
        "trialPeriodDays": 7, "coupon": None,
        "experiment": {"key": "trial-test"}, "variant": {"name": "control"},
    }  # fmt: skip
    shown = await offer(api, product, anon=treated)
    assert shown is not None
    assert (shown["trialPeriodDays"], shown["coupon"]) == (30, {"code": "WELCOME20"})
    customer = await new_customer(api, "tok_visa", name="Ada", anonymousId=treated)
    key = str(uuid.uuid4())
    sub = (await subscribe(api, customer, prices[0], idempotencyKey=key))["subscription"]
    assert (sub["status"], sub["trialEnd"][:10]) == ("TRIALING", "2026-02-14")
    # A retry of the same request replays it, even once the experiment has ended
    await act(api, "concludeExperiment", experiment["id"])
    again = await subscribe(api, customer, prices[0], idempotencyKey=key)
    assert again["userErrors"] == [] and again["subscription"]["id"] == sub["id"]
    coupons = await api.data(
        "query($c: ID!) { node(id: $c) { ... on Coupon { timesRedeemed } } }", {"c": coupon}
    )
    assert coupons["node"]["timesRedeemed"] == 1


async def test_bad_arguments_are_errors_with_codes(api: Api) -> None:
    product, _ = await product_with_prices(api, "29.00")
    cases = {
        "INVALID": {"anon": "short"},
        "INVALID_COUNTRY": {"anon": "visitor-000001", "country": "XX"},
        "UNKNOWN_CURRENCY": {"anon": "visitor-000001", "currency": "ABC"},
        "WRONG_ID_TYPE": {"customer": product},
    }
    for code, variables in cases.items():
        body = await api.graphql(
            "query($p: ID!, $anon: String, $country: String, $currency: CurrencyCode, "
            "$customer: ID) "
            "{ checkoutOffer(productId: $p, anonymousId: $anon, country: $country, "
            "currency: $currency, customerId: $customer) { price { id } } }",
            {"p": product, **variables},
        )
        assert body["errors"][0]["extensions"]["code"] == code, (code, body)
    unknown = encode_gid("Product", uuid.UUID(int=1))
    missing = await api.graphql(
        "query($p: ID!) { checkoutOffer(productId: $p) { price { id } } }", {"p": unknown}
    )
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_an_offer_costs_a_fixed_number_of_statements(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (await price_test(api, product, prices))["experiment"]
    document = (
        "query($p: ID!, $a: String!) { checkoutOffer(productId: $p, anonymousId: $a) "
        "{ price { id unitAmount { amount } product { name } } trialPeriodDays coupon { code } "
        "experiment { key } variant { name } } }"
    )
    counts = []
    for visitor in islice(visitors(experiment, 1), 3):
        for _ in range(2):  # a new unit, then a known one
            api.sql.clear()
            await api.data(document, {"p": product, "a": visitor})
            counts.append(api.sql.count)
    # new unit: product, default price, running experiments, assignments, insert, re-read,
    # exposure, first exposure; then the price and product loaders. Known unit: 3 fewer.
    assert counts == [11, 8] * 3


async def test_concurrent_first_offers_to_one_visitor_make_one_assignment(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    await price_test(api, product, prices)
    customer = await new_customer(api, name="Ada")
    shown = await asyncio.gather(
        *(offer(api, product, anon="racing-visitor-1") for _ in range(12)),
        *(offer(api, product, customer=customer) for _ in range(12)),
    )
    assert len({str(o) for o in shown[:12]}) == 1
    assert len({str(o) for o in shown[12:]}) == 1
    async with api.runtime.sessions() as session:
        rows = (
            await session.execute(
                sa.select(ExperimentAssignment.unit, sa.func.count()).group_by(
                    ExperimentAssignment.unit
                )
            )
        ).all()
        exposures = await session.scalar(sa.select(sa.func.count()).select_from(ExperimentExposure))
    assert sorted(n for _, n in rows) == [1, 1]
    assert exposures == 24


async def test_a_variant_price_archived_mid_experiment_is_no_longer_offered(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (await price_test(api, product, prices))["experiment"]
    visitor = next(visitors(experiment, 1))
    assert (await offer(api, product, anon=visitor) or {})["price"]["id"] == prices[1]
    await api.data(
        "mutation($p: ID!) { archivePrice(input: {id: $p}) { price { active } } }",
        {"p": prices[1]},
    )
    shown = await offer(api, product, anon=visitor)
    assert shown is not None
    assert (shown["price"]["id"], shown["experiment"]) == (prices[0], None)
