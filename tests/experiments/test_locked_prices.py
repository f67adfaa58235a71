"""The price a subscriber was shown is the price they keep: renewals after the experiment
concluded, with another variant shipped as the default, bill the variant's price."""

from __future__ import annotations

from tests.conftest import Api
from tests.experiments.helpers import act, offer, price_test, product_with_prices, visitors
from tests.factories import advance, subscribe, subscription


async def test_a_subscriber_renews_at_the_variant_price_after_another_winner_ships(
    api: Api,
) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00", "34.00")
    experiment = (
        await price_test(
            api,
            product,
            prices,
            variants=[
                {"name": "control", "priceId": prices[0]},
                {"name": "lower", "priceId": prices[1]},
                {"name": "higher", "priceId": prices[2]},
            ],
        )
    )["experiment"]
    visitor = next(visitors(experiment, 1))
    shown = await offer(api, product, anon=visitor)
    assert shown is not None and shown["price"]["unitAmount"]["amount"] == "24.00"

    # The visitor signs up on a test clock and subscribes to the offer
    clock = (
        await api.data(
            'mutation { createTestClock(input: {frozenTime: "2026-01-01T00:00:00Z"}) '
            "{ testClock { id } } }"
        )
    )["createTestClock"]["testClock"]["id"]
    customer = (
        await api.data(
            'mutation($c: ID!, $a: String!) { createCustomer(input: {name: "Lin", '
            "testClockId: $c, anonymousId: $a}) { customer { id } userErrors { code } } }",
            {"c": clock, "a": visitor},
        )
    )["createCustomer"]["customer"]["id"]
    await api.data(
        'mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, token: "tok_visa"}) '
        "{ userErrors { code } } }",
        {"c": customer},
    )
    created = await subscribe(api, customer, shown["price"]["id"])
    assert created["userErrors"] == []
    assert created["subscription"]["status"] == "ACTIVE"

    # The experiment ends: "higher" wins and becomes the default price
    higher = experiment["variants"][2]["id"]
    concluded = await act(api, "concludeExperiment", experiment["id"], winnerId=higher,
                          shipWinner=True)  # fmt: skip
    assert concluded["experiment"]["product"]["defaultPrice"] == {"id": prices[2]}
    newcomer = await offer(api, product, anon="newcomer-after-the-test")
    assert newcomer is not None
    assert (newcomer["price"]["unitAmount"]["amount"], newcomer["experiment"]) == ("34.00", None)

    # Three renewals later, the subscriber still pays 24.00
    await advance(api, clock, "2026-04-15T00:00:00Z")
    renewed = await subscription(api, created["subscription"]["id"])
    assert renewed["status"] == "ACTIVE"
    assert [i["billingReason"] for i in renewed["invoices"]] == [
        "SUBSCRIPTION_CREATE", "SUBSCRIPTION_CYCLE", "SUBSCRIPTION_CYCLE", "SUBSCRIPTION_CYCLE",
    ]  # fmt: skip
    assert {i["total"]["amountMinor"] for i in renewed["invoices"]} == {"2400"}
    assert {i["status"] for i in renewed["invoices"]} == {"PAID"}
    assert renewed["items"][0]["unitAmount"] == {"amount": "24.00"}
