"""Pricing experiments under authorisation: growth runs them, frontends read offers that
name the experiment and variant and nothing more, and nobody ties a visitor to another
customer."""

from __future__ import annotations

from tests.experiments.helpers import price_test, product_with_prices
from tests.factories import customer_with
from tests.security.conftest import Secure

OFFER = """
query($p: ID!, $a: String, $c: ID) {
  checkoutOffer(productId: $p, anonymousId: $a, customerId: $c) {
    price { unitAmount { amount } } trialPeriodDays
    experiment { id key } variant { id name }
  }
}
"""


async def test_growth_runs_experiments_and_offers_reveal_only_their_names(
    secure: Secure,
) -> None:
    admin, growth, support = [await secure.key(r) for r in ("admin", "growth", "support")]
    secure.api.http.headers["authorization"] = f"Bearer {admin}"
    product, prices = await product_with_prices(secure.api, "29.00", "24.00")
    customer_a = await customer_with(secure.api)
    customer_b = await customer_with(secure.api)
    secure.api.http.headers["authorization"] = f"Bearer {growth}"
    experiment = (await price_test(secure.api, product, prices))["experiment"]
    assert experiment["status"] == "RUNNING"
    del secure.api.http.headers["authorization"]

    create = (
        'mutation($p: ID!) { createExperiment(input: {key: "x", name: "x", productId: $p, '
        'currency: "USD", variants: []}) { userErrors { code } } }'
    )
    for credential in (support, secure.token(customer_a)):
        body = await secure.body(credential, create, {"p": product})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # An anonymous visitor gets a stable offer naming the experiment and its variant...
    shown = await secure.data(None, OFFER, {"p": product, "a": "visitor-0001"})
    offer = shown["checkoutOffer"]
    assert offer["experiment"]["key"] == "pro-price"
    assert offer["variant"]["name"] in ("control", "lower")
    assert (await secure.data(None, OFFER, {"p": product, "a": "visitor-0001"})) == shown
    # ... but not the design, the salt or the results.
    for field in ("salt", "status", "results { sampleRatio { pValue } }", "variants { weight }"):
        body = await secure.body(
            None,
            'query($p: ID!) { checkoutOffer(productId: $p, anonymousId: "visitor-0001") '
            f"{{ experiment {{ {field} }} }} }}",
            {"p": product},
        )
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", field
    assert (await secure.data(None, "query($id: ID!) { node(id: $id) { id } }",
                              {"id": experiment["id"]}))["node"] is None  # fmt: skip

    # Nobody ties a visitor to another customer: anonymous callers and customer sessions
    # may name no customer but their own.
    refused = await secure.body(None, OFFER, {"p": product, "a": "visitor-0001", "c": customer_b})
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    token = secure.token(customer_a)
    refused = await secure.body(token, OFFER, {"p": product, "a": "visitor-0001", "c": customer_b})
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    own = await secure.data(token, OFFER, {"p": product, "c": customer_a})
    assert own["checkoutOffer"]["experiment"]["key"] == "pro-price"
    # The same offer without naming the customer: a session is its own customer.
    assert await secure.data(token, OFFER, {"p": product}) == own
