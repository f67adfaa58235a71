"""Endpoints through GraphQL: secrets and their rotation, refused URLs, bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.domain.clock import FrozenClock
from tests.conftest import Api
from tests.factories import customer_with, paid_payment
from tests.webhooks_out.helpers import CREATE, create_endpoint, deliver
from tests.webhooks_out.receiver import receiver

ROTATE = """
mutation($input: RotateWebhookEndpointSecretInput!) {
  rotateWebhookEndpointSecret(input: $input) { secret userErrors { field code } }
}
"""


async def test_both_secrets_sign_for_a_day_after_a_rotation(api: Api, clock: FrozenClock) -> None:
    with receiver() as hooks:
        endpoint, old = await create_endpoint(api, hooks.url, ["PAYMENT_SUCCEEDED"])
        rotated = (await api.data(ROTATE, {"input": {"id": endpoint["id"]}}))[
            "rotateWebhookEndpointSecret"
        ]
        new = rotated["secret"]
        assert new.startswith("whsec_") and new != old
        customer = await customer_with(api)
        await paid_payment(api, customer)
        await deliver(api)
        first = hooks.received[-1]
        assert len(first.headers["webhook-signature"].split(" ")) == 2
        assert first.verifies(old) and first.verifies(new)
        clock.advance(timedelta(hours=24, seconds=1))
        await paid_payment(api, customer)
        await deliver(api)
        later = hooks.received[-1]
        assert later.verifies(new) and not later.verifies(old)


async def _create(api: Api, url: str, types: list[str] | None = None) -> list[dict[str, Any]]:
    variables = {
        "input": {"url": url, "eventTypes": ["PAYMENT_SUCCEEDED"] if types is None else types}
    }
    payload = (await api.data(CREATE, variables))["createWebhookEndpoint"]
    assert payload["webhookEndpoint"] is None and payload["secret"] is None
    errors: list[dict[str, Any]] = payload["userErrors"]
    return errors


async def test_bad_input_is_refused(api: Api) -> None:
    assert (await _create(api, "https://example.com/h", []))[0]["code"] == "REQUIRED"
    assert (await _create(api, "https://e.com/" + "a" * 2048))[0]["code"] == "TOO_LONG"
    assert (await _create(api, "ftp://example.com/h"))[0]["code"] == "INVALID_URL"
    body = await api.graphql(CREATE, {"input": {"url": "https://e.com", "eventTypes": ["NOPE"]}})
    assert body["errors"]  # the enum refuses an unknown event type
    foreign = await api.graphql(
        "mutation($i: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) "
        "{ userErrors { code } } }",
        {"i": {"id": "Q3VzdG9tZXI6MDE5NGQ2YmItZTc4Yy03OWMwLWI0MjAtMDAwMDAwMDAwMDAw"}},
    )
    codes = [e["code"] for e in foreign["data"]["deleteWebhookEndpoint"]["userErrors"]]
    assert codes in (["WRONG_ID_TYPE"], ["INVALID_ID"])
