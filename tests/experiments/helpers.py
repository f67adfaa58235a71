"""Steps of the experiment tests through GraphQL: a product with prices, an experiment,
offers, and visitors whose variant is known in advance (assignment is deterministic)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

from app.domain.experiments.assignment import (
    anonymous_unit,
    choose_variant,
    customer_unit,
    in_traffic,
)
from app.resolvers.common import key_of
from tests.conftest import Api

EXPERIMENT_FIELDS = """
  id key name status statusReason currency trafficPercent salt layer
  layerBuckets { start end } alpha minimumDetectableLift winnerShipped
  audience { newCustomersOnly countries platforms }
  guardrails { maxRefundRate maxDisputeRate maxPaymentFailureRate minimumPayments }
  product { id defaultPrice { id } }
  variants { id name isControl weight trialPeriodDays price { id unitAmount { amount } }
             coupon { code } }
  winner { name }
"""
PAYLOAD = f"experiment {{ {EXPERIMENT_FIELDS} }} userErrors {{ field code message }}"
OFFER = """
query Offer($product: ID!, $anon: String, $customer: ID, $platform: Platform,
            $country: String, $currency: CurrencyCode, $record: Boolean! = true) {
  checkoutOffer(productId: $product, anonymousId: $anon, customerId: $customer,
                platform: $platform, country: $country, currency: $currency,
                recordExposure: $record) {
    price { id unitAmount { amount currency } }
    trialPeriodDays
    coupon { code }
    experiment { key }
    variant { name }
  }
}
"""
RESULTS = """
query Results($id: ID!, $cuped: Boolean! = false) {
  experiment(id: $id) {
    status statusReason
    results(cuped: $cuped) {
      status alpha
      sampleRatio { chiSquare pValue mismatch expectedUnits }
      cuped { theta varianceReduction }
      guardrails { metric variant { name } rate events payments threshold evaluated breached }
      variants {
        variant { name isControl }
        exposedUnits offersShown trialsStarted paidConversions
        conversionRate { events units value interval { low high } }
        revenue { amountMinor } mrr { amountMinor } activeSubscriptions
        revenuePerExposedUnit { value interval { low high } }
        refundRate { events units value } disputeRate { events units value }
        paymentFailureRate { events units value }
        conversionVsControl {
          difference interval { low high } pValue relativeLift
          relativeLiftInterval { low high } alwaysValidPValue
          confidenceSequence { low high } significant
        }
        revenuePerExposedUnitVsControl {
          difference interval { low high } pValue alwaysValidPValue
          confidenceSequence { low high } significant
        }
      }
    }
  }
}
"""


async def product_with_prices(
    api: Api, *amounts: str, currency: str = "USD", trial_days: int | None = None
) -> tuple[str, list[str]]:
    """A product and a monthly price per amount; the first becomes the default price."""
    product = (
        await api.data('mutation { createProduct(input: {name: "Pro"}) { product { id } } }')
    )["createProduct"]["product"]["id"]
    prices = []
    for amount in amounts:
        fields: dict[str, Any] = {
            "productId": product,
            "unitAmount": {"amount": amount, "currency": currency},
            "recurring": {"interval": "MONTH"},
        }
        if trial_days:
            fields["trialPeriodDays"] = trial_days
        created = await api.data(
            "mutation($i: CreatePriceInput!) { createPrice(input: $i) { price { id } "
            "userErrors { code } } }",
            {"i": fields},
        )
        prices.append(created["createPrice"]["price"]["id"])
    updated = await api.data(
        "mutation($p: ID!, $d: ID!) { updateProduct(input: {id: $p, defaultPriceId: $d}) "
        "{ product { defaultPrice { id } } userErrors { field code message } } }",
        {"p": product, "d": prices[0]},
    )
    assert updated["updateProduct"]["userErrors"] == [], updated
    return product, prices


async def create_experiment(api: Api, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.data(
            "mutation($i: CreateExperimentInput!) { createExperiment(input: $i) "
            f"{{ {PAYLOAD} }} }}",
            {"i": fields},
        )
    )["createExperiment"]
    return result


async def price_test(
    api: Api, product: str, prices: list[str], key: str = "pro-price", **extra: Any
) -> dict[str, Any]:
    """A started two-variant price test: control (the first price) against the second."""
    created = await create_experiment(
        api,
        key=key,
        name="Pro at a lower price",
        productId=product,
        currency=extra.pop("currency", "USD"),
        variants=extra.pop(
            "variants",
            [
                {"name": "control", "priceId": prices[0]},
                {"name": "lower", "priceId": prices[1]},
            ],
        ),
        **extra,
    )
    assert created["userErrors"] == [], created
    return await act(api, "startExperiment", created["experiment"]["id"])


async def act(api: Api, mutation: str, experiment: str, **fields: Any) -> dict[str, Any]:
    """startExperiment, pauseExperiment, concludeExperiment or archiveExperiment."""
    kind = {
        "startExperiment": "ExperimentActionInput",
        "archiveExperiment": "ExperimentActionInput",
        "pauseExperiment": "PauseExperimentInput",
        "concludeExperiment": "ConcludeExperimentInput",
    }[mutation]
    result: dict[str, Any] = (
        await api.data(
            f"mutation($i: {kind}!) {{ {mutation}(input: $i) {{ {PAYLOAD} }} }}",
            {"i": {"id": experiment, **fields}},
        )
    )[mutation]
    return result


async def offer(api: Api, product: str, **variables: Any) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.data(OFFER, {"product": product, **variables}))[
        "checkoutOffer"
    ]
    return found


async def results(api: Api, experiment: str, cuped: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = (await api.data(RESULTS, {"id": experiment, "cuped": cuped}))[
        "experiment"
    ]
    return found


def visitors(experiment: dict[str, Any], variant: int, *, prefix: str = "visitor") -> Iterator[str]:
    """Anonymous ids that the experiment puts in ``variant`` (by the same hash as paygate)."""
    weights = [v["weight"] for v in experiment["variants"]]
    buckets = experiment["layerBuckets"]
    for n in count():
        anonymous_id = f"{prefix}-{n:06d}"
        unit = anonymous_unit(anonymous_id)
        inside = in_traffic(
            experiment["layer"], unit, buckets["start"], buckets["end"] - buckets["start"]
        )
        if inside and choose_variant(experiment["salt"], unit, weights) == variant:
            yield anonymous_id


def variant_of_customer(experiment: dict[str, Any], customer: str) -> int:
    weights = [v["weight"] for v in experiment["variants"]]
    unit = customer_unit(key_of(customer, "Customer"))
    return choose_variant(experiment["salt"], unit, weights)
