"""Requests take the pool's connections in turn (``Runtime.connection_slots``): more requests
than connections all get their answer, whether they succeed or fail, and each gives its
slot back when it is done."""

import asyncio
from typing import Any

import httpx

from app.domain.clock import FrozenClock
from app.main import create_app
from app.settings import Settings

PAGE = "query($after: String) { customers(first: 3, after: $after) { edges { node { id } } } }"


async def test_more_requests_than_connections_all_answered_and_slots_returned(
    settings: Settings, clock: FrozenClock
) -> None:
    narrow = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0})
    app = create_app(narrow, clock=clock)
    slots = app.state.runtime.connection_slots
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:

            async def post(query: str, variables: dict[str, Any]) -> dict[str, Any]:
                response = await http.post(
                    "/graphql", json={"query": query, "variables": variables}
                )
                assert response.status_code == 200, response.text
                answer: dict[str, Any] = response.json()
                return answer

            for n in range(4):
                created = await post(
                    "mutation($n: String!) { createCustomer(input: {name: $n}) "
                    "{ customer { id } userErrors { message } } }",
                    {"n": f"Customer {n}"},
                )
                assert created["data"]["createCustomer"]["userErrors"] == [], created
            answers = await asyncio.wait_for(
                asyncio.gather(
                    *(post(PAGE, {"after": None}) for _ in range(8)),
                    post(PAGE, {"after": "not a cursor"}),  # fails after taking its slot
                    *(post(PAGE, {"after": None}) for _ in range(8)),
                ),
                timeout=60,
            )
            pages, failed = answers[:8] + answers[9:], answers[8]
            assert all(len(page["data"]["customers"]["edges"]) == 3 for page in pages)
            assert failed["errors"][0]["extensions"]["code"] == "INVALID"
            assert not slots.locked()  # every slot back: the next request goes at once
            assert len((await post(PAGE, {"after": None}))["data"]["customers"]["edges"]) == 3
    finally:
        await app.state.runtime.dispose()
