"""The embedded default (SQLite, no worker): the API process delivers by itself."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Api
from tests.factories import customer_with, paid_payment
from tests.webhooks_out.helpers import create_endpoint
from tests.webhooks_out.receiver import receiver


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_in_process_loop_delivers_on_sqlite(api: Api) -> None:
    loop = api.app.state.webhook_deliveries
    assert loop is not None  # on by default on SQLite
    with receiver() as hooks:
        _endpoint, secret = await create_endpoint(api, hooks.url, ["PAYMENT_SUCCEEDED"])
        loop.start()
        try:
            await paid_payment(api, await customer_with(api))
            async with asyncio.timeout(20):
                while not hooks.received:
                    loop.wake()
                    await asyncio.sleep(0.05)
        finally:
            await loop.stop()
        assert hooks.received[0].verifies(secret)
        assert hooks.received[0].event["type"] == "payment.succeeded"
