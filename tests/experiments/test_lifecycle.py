"""Creating, editing, starting, pausing, concluding (shipping the winner) and archiving
experiments through GraphQL; layers keep experiments apart."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.events.helpers import all_events
from tests.experiments.helpers import (
    EXPERIMENT_FIELDS,
    act,
    create_experiment,
    offer,
    price_test,
    product_with_prices,
    visitors,
)


def _codes(payload: dict[str, Any]) -> dict[str, str]:
    return {".".join(e["field"]): e["code"] for e in payload["userErrors"]}


async def _count(api: Api) -> int:
    found = await api.data("query { experiments { totalCount } }")
    return int(found["experiments"]["totalCount"])


async def test_every_problem_of_a_design_is_reported_at_once_and_nothing_is_created(
    api: Api,
) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    other, other_prices = await product_with_prices(api, "9.00")
    refused = await create_experiment(
        api, key="Bad Key!", name="  ", productId=product, currency="USD",
        trafficPercent="0", alpha=0.5, minimumDetectableLift="abc", layer="no spaces",
        audience={"countries": ["XX"]}, guardrails={"maxRefundRate": "120"},
        variants=[{"name": "control", "priceId": prices[0], "weight": 0},
                  {"name": "Control", "priceId": other_prices[0], "trialPeriodDays": 900}],
    )  # fmt: skip
    assert refused["experiment"] is None
    assert _codes(refused) == {
        "input.key": "INVALID",
        "input.name": "BLANK",
        "input.trafficPercent": "INVALID",
        "input.alpha": "INVALID",
        "input.minimumDetectableLift": "INVALID",
        "input.layer": "INVALID",
        "input.audience.countries.0": "INVALID_COUNTRY",
        "input.guardrails.maxRefundRate": "INVALID",
        "input.variants.0.weight": "INVALID",
        "input.variants.1.name": "INVALID",
        "input.variants.1.trialPeriodDays": "INVALID_TRIAL",
        "input.variants.1.priceId": "INVALID",
    }
    one = await create_experiment(
        api, key="one", name="One", productId=other, currency="EUR",
        variants=[{"name": "only", "priceId": other_prices[0]}],
    )  # fmt: skip
    assert _codes(one) == {
        "input.variants": "INVALID",
        "input.variants.0.priceId": "CURRENCY_MISMATCH",
    }
    wrong = await create_experiment(
        api, key="wrong", name="W", productId=prices[0], currency="USD", variants=[]
    )
    assert _codes(wrong) == {"input.productId": "WRONG_ID_TYPE"}
    assert await _count(api) == 0


async def test_keys_are_unique(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    await price_test(api, product, prices, key="same")
    again = await create_experiment(
        api, key="same", name="Again", productId=product, currency="USD",
        variants=[{"name": "a"}, {"name": "b"}],
    )  # fmt: skip
    assert _codes(again) == {"input.key": "DUPLICATE_KEY"}


async def test_a_draft_can_change_a_started_experiment_cannot(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00", "34.00")
    draft = (
        await create_experiment(
            api,
            key="draft",
            name="Draft",
            productId=product,
            currency="USD",
            variants=[{"name": "control"}, {"name": "lower", "priceId": prices[1]}],
        )
    )["experiment"]
    update = (
        "mutation($i: UpdateExperimentInput!) { updateExperiment(input: $i) "
        f"{{ experiment {{ {EXPERIMENT_FIELDS} }} userErrors {{ field code message }} }} }}"
    )
    changed = (
        await api.data(
            update,
            {
                "i": {
                    "id": draft["id"],
                    "name": "Three prices",
                    "trafficPercent": "12.5",
                    "guardrails": {"maxRefundRate": "5", "minimumPayments": 20},
                    "variants": [
                        {"name": "control", "weight": 2},
                        {"name": "lower", "priceId": prices[1]},
                        {"name": "higher", "priceId": prices[2]},
                    ],
                }
            },
        )
    )["updateExperiment"]
    assert changed["userErrors"] == []
    experiment = changed["experiment"]
    assert (experiment["name"], experiment["trafficPercent"]) == ("Three prices", "12.50")
    assert [(v["name"], v["weight"], v["isControl"]) for v in experiment["variants"]] == [
        ("control", 2, True), ("lower", 1, False), ("higher", 1, False),
    ]  # fmt: skip
    assert experiment["guardrails"] == {
        "maxRefundRate": "5.00", "maxDisputeRate": None, "maxPaymentFailureRate": None,
        "minimumPayments": 20,
    }  # fmt: skip
    started = await act(api, "startExperiment", draft["id"])
    assert started["experiment"]["layerBuckets"] == {"start": 0, "end": 1_250}
    frozen = (await api.data(update, {"i": {"id": draft["id"], "name": "Too late"}}))[
        "updateExperiment"
    ]
    assert _codes(frozen) == {"input.id": "INVALID_STATE"}


async def test_only_the_arrows_of_the_lifecycle_are_allowed(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    draft = (
        await create_experiment(
            api,
            key="arrows",
            name="Arrows",
            productId=product,
            currency="USD",
            variants=[{"name": "a"}, {"name": "b", "priceId": prices[1]}],
        )
    )["experiment"]["id"]
    assert _codes(await act(api, "pauseExperiment", draft)) == {"input.id": "INVALID_STATE"}
    assert _codes(await act(api, "concludeExperiment", draft)) == {"input.id": "INVALID_STATE"}
    assert (await act(api, "startExperiment", draft))["experiment"]["status"] == "RUNNING"
    assert (await act(api, "pauseExperiment", draft))["experiment"]["status"] == "PAUSED"
    archived = (await act(api, "archiveExperiment", draft))["experiment"]
    assert (archived["status"], archived["layerBuckets"]) == ("ARCHIVED", None)
    assert _codes(await act(api, "startExperiment", draft)) == {"input.id": "INVALID_STATE"}
    assert _codes(await act(api, "archiveExperiment", draft)) == {"input.id": "INVALID_STATE"}
    assert _codes(await act(api, "startExperiment", product)) == {"input.id": "WRONG_ID_TYPE"}
    # the refused moves stated nothing; each move made, its event
    assert [e["name"] for e in await all_events(api, objectId=draft)] == [
        "experiment.started",
        "experiment.paused",
    ]


async def test_a_concluded_experiment_states_it(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    started = await price_test(api, product, prices, key="concluded")
    experiment = started["experiment"]["id"]
    concluded = await act(api, "concludeExperiment", experiment)
    assert concluded["experiment"]["status"] == "CONCLUDED", concluded
    [event] = await all_events(api, objectId=experiment, types=["EXPERIMENT_CONCLUDED"])
    assert event["data"]["status"] == "CONCLUDED"
    assert event["previousAttributes"]["status"] == "RUNNING"


async def test_experiments_of_a_layer_never_share_units(api: Api) -> None:
    first_product, first_prices = await product_with_prices(api, "29.00", "24.00")
    second_product, second_prices = await product_with_prices(api, "9.00", "7.00")
    third_product, third_prices = await product_with_prices(api, "99.00", "89.00")
    first = await price_test(api, first_product, first_prices, key="first",
                             layer="checkout", trafficPercent="60")  # fmt: skip
    assert first["experiment"]["layerBuckets"] == {"start": 0, "end": 6_000}
    too_wide = await price_test(api, second_product, second_prices, key="second",
                                layer="checkout", trafficPercent="60")  # fmt: skip
    assert _codes(too_wide) == {"input.id": "INVALID_STATE"}
    assert "no free range" in too_wide["userErrors"][0]["message"]
    fits = await api.data(
        "mutation($i: UpdateExperimentInput!) { updateExperiment(input: $i) "
        "{ experiment { id } userErrors { code } } }",
        {"i": {"id": await _id(api, "second"), "trafficPercent": "40"}},
    )  # fmt: skip
    assert fits["updateExperiment"]["userErrors"] == []
    second = await act(api, "startExperiment", await _id(api, "second"))
    assert second["experiment"]["layerBuckets"] == {"start": 6_000, "end": 10_000}
    # No visitor sees both (the layer hash places each unit in one range)
    for n in range(60):
        anonymous_id = f"layered-{n:05d}"
        a = await offer(api, first_product, anon=anonymous_id)
        b = await offer(api, second_product, anon=anonymous_id)
        assert a is not None and b is not None
        assert (a["experiment"] is None) != (b["experiment"] is None)
    # Concluding frees the range for the next experiment of the layer
    await act(api, "concludeExperiment", first["experiment"]["id"])
    third = await price_test(api, third_product, third_prices, key="third",
                             layer="checkout", trafficPercent="60")  # fmt: skip
    assert third["experiment"]["layerBuckets"] == {"start": 0, "end": 6_000}


async def _id(api: Api, key: str) -> str:
    found = await api.data("query { experiments(first: 50) { edges { node { id key } } } }")
    return next(e["node"]["id"] for e in found["experiments"]["edges"] if e["node"]["key"] == key)


async def test_experiments_on_one_product_share_a_layer(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00", "19.00")
    await price_test(api, product, prices, key="first", trafficPercent="50")
    elsewhere = await price_test(
        api, product, [prices[0], prices[2]], key="second", trafficPercent="50", layer="other"
    )
    assert _codes(elsewhere) == {"input.id": "INVALID_STATE"}
    assert "share a layer" in elsewhere["userErrors"][0]["message"]
    same = await price_test(api, product, [prices[0], prices[2]], key="third",
                            trafficPercent="50", layer="first")  # fmt: skip
    assert same["experiment"]["layerBuckets"] == {"start": 5_000, "end": 10_000}


async def test_a_draft_whose_price_was_archived_cannot_start(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    draft = (
        await create_experiment(
            api,
            key="stale",
            name="Stale",
            productId=product,
            currency="USD",
            variants=[{"name": "a"}, {"name": "b", "priceId": prices[1]}],
        )
    )["experiment"]["id"]
    await api.data(
        "mutation($p: ID!) { archivePrice(input: {id: $p}) { price { active } } }",
        {"p": prices[1]},
    )
    refused = await act(api, "startExperiment", draft)
    assert _codes(refused) == {"input.id": "INVALID_STATE"}
    assert "archived" in refused["userErrors"][0]["message"]


async def test_concluding_ships_the_winner_as_the_default_price(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    started = (await price_test(api, product, prices))["experiment"]
    other = (
        await price_test(api, *(await product_with_prices(api, "1.00", "2.00")), key="other-test")
    )["experiment"]
    control, lower = started["variants"]
    no_winner = await act(api, "concludeExperiment", started["id"], shipWinner=True)
    assert _codes(no_winner) == {"input.winnerId": "REQUIRED"}
    foreign = await act(api, "concludeExperiment", started["id"],
                        winnerId=other["variants"][1]["id"])  # fmt: skip
    assert _codes(foreign) == {"input.winnerId": "NOT_FOUND"}
    assert _codes(await act(api, "concludeExperiment", started["id"], winnerId=product)) == {
        "input.winnerId": "WRONG_ID_TYPE"
    }
    visitor = next(visitors(started, 0))
    assert (await offer(api, product, anon=visitor) or {})["price"]["id"] == prices[0]
    concluded = (
        await act(
            api,
            "concludeExperiment",
            started["id"],
            winnerId=lower["id"],
            shipWinner=True,
            reason="lower price wins on revenue",
        )
    )["experiment"]
    assert (concluded["status"], concluded["winner"], concluded["winnerShipped"]) == (
        "CONCLUDED", {"name": "lower"}, True,
    )  # fmt: skip
    assert concluded["product"]["defaultPrice"] == {"id": prices[1]}
    assert concluded["statusReason"] == "lower price wins on revenue"
    after = await offer(api, product, anon=visitor)
    assert after is not None
    assert (after["price"]["id"], after["experiment"]) == (prices[1], None)
    assert control["isControl"]


async def test_a_variant_without_a_price_cannot_be_shipped(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00")
    created = await create_experiment(
        api, key="trial", name="Trial", productId=product, currency="USD",
        variants=[{"name": "control"}, {"name": "longer", "trialPeriodDays": 30}],
    )  # fmt: skip
    experiment = (await act(api, "startExperiment", created["experiment"]["id"]))["experiment"]
    refused = await act(api, "concludeExperiment", experiment["id"],
                        winnerId=experiment["variants"][1]["id"], shipWinner=True)  # fmt: skip
    assert _codes(refused) == {"input.shipWinner": "INVALID"}
    assert prices


async def test_experiments_are_nodes_and_can_be_listed_by_status_and_product(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    running = (await price_test(api, product, prices))["experiment"]
    draft = (
        await create_experiment(
            api,
            key="later",
            name="Later",
            productId=product,
            currency="USD",
            variants=[{"name": "a"}, {"name": "b"}],
        )
    )["experiment"]
    listed = await api.data(
        "query($p: ID!) { experiments(filter: {status: [RUNNING], productId: $p}) "
        "{ totalCount edges { node { key } } } all: experiments { totalCount } }",
        {"p": product},
    )
    assert listed["experiments"] == {"totalCount": 1, "edges": [{"node": {"key": "pro-price"}}]}
    assert listed["all"]["totalCount"] == 2
    nodes = await api.data(
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename "
        "... on Experiment { key } ... on ExperimentVariant { name experiment { key } } } }",
        {"ids": [running["id"], draft["id"], running["variants"][1]["id"]]},
    )
    assert nodes["nodes"] == [
        {"__typename": "Experiment", "key": "pro-price"},
        {"__typename": "Experiment", "key": "later"},
        {"__typename": "ExperimentVariant", "name": "lower", "experiment": {"key": "pro-price"}},
    ]
