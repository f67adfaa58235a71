"""The README's pricing-experiment walkthrough, run as a newcomer would in GraphiQL on
`make run` (the embedded SQLite mode with the demo catalog): create a two-variant price
experiment, start it, see two visitors get stable offers, subscribe one, read the results."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from app.main import create_app
from app.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Walkthrough (GraphiQL, `make run`)") :]
    found = re.search(r"```graphql\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


async def test_the_readme_walkthrough_runs_on_the_embedded_mode(tmp_path: Path) -> None:
    document = walkthrough()
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'paygate.db'}"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):

        async def run(operation: str, **variables: Any) -> dict[str, Any]:
            response = await http.post(
                "/graphql",
                json={"query": document, "operationName": operation, "variables": variables},
            )
            body = response.json()
            assert "errors" not in body, body
            data: dict[str, Any] = body["data"]
            return data

        current = (await run("CurrentPrice"))["price"]
        assert current["unitAmount"]["formatted"] == "$29.00"
        product = current["product"]["id"]
        lower = (await run("LowerPrice", product=product))["createPrice"]["price"]["id"]
        created = (await run("CreateExperiment", product=product, current=current["id"],
                             lower=lower))["createExperiment"]  # fmt: skip
        assert created["userErrors"] == []
        experiment = created["experiment"]["id"]
        started = (await run("StartExperiment", experiment=experiment))["startExperiment"]
        assert started["experiment"]["status"] == "RUNNING"

        offers = await run("Offers", product=product)
        assert offers == await run("Offers", product=product)  # stable
        ada, alan = offers["ada"], offers["alan"]
        assert (ada["price"]["unitAmount"]["formatted"], ada["variant"]) == (
            "$24.00", {"name": "lower"},
        )  # fmt: skip
        assert (alan["price"]["unitAmount"]["formatted"], alan["variant"]) == (
            "$29.00", {"name": "control"},
        )  # fmt: skip
        assert ada["trialPeriodDays"] == alan["trialPeriodDays"] == 14

        customer = (await run("SignUp"))["createCustomer"]["customer"]["id"]
        assert (await run("SaveCard", customer=customer))["attachPaymentMethod"]["userErrors"] == []
        subscribed = (await run("Subscribe", customer=customer, price=ada["price"]["id"]))[
            "createSubscription"
        ]
        assert subscribed["userErrors"] == []
        assert subscribed["subscription"]["status"] == "TRIALING"
        assert subscribed["subscription"]["experiment"] == {"key": "pro-monthly-2027"}
        assert subscribed["subscription"]["experimentVariant"] == {"name": "lower"}
        assert subscribed["subscription"]["items"] == [{"unitAmount": {"formatted": "$24.00"}}]

        results = (await run("Results", experiment=experiment))["experiment"]["results"]
        control, treated = results["variants"]
        assert [v["exposedUnits"] for v in results["variants"]] == [1, 1]
        assert [v["offersShown"] for v in results["variants"]] == [2, 2]
        assert (treated["trialsStarted"], treated["paidConversions"]) == (1, 0)
        assert control["conversionVsControl"] is None
        interval = treated["conversionRate"]["interval"]
        assert interval["low"] == 0.0 and 0.5 < interval["high"] < 1.0  # Wilson, 0 of 1
        assert treated["conversionVsControl"]["significant"] is False
        assert results["sampleRatio"]["mismatch"] is False
