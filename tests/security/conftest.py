"""A gateway that requires credentials (anonymous callers get the public catalog only),
with helpers to make keys of each role and customer tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.domain.clock import FrozenClock
from app.main import create_app
from app.settings import AuthSettings, Settings
from tests.conftest import Api, StatementLog
from tests.factories import staff_key

JWT_SECRET = "test-only-secret-of-at-least-32-bytes!"


@dataclass
class Secure:
    api: Api

    async def key(self, role: str) -> str:
        return await staff_key(self.api.runtime, role, f"{role} key")

    def token(self, customer_id: str, ttl: timedelta = timedelta(hours=1)) -> str:
        runtime = self.api.runtime
        return str(runtime.tokens.mint(customer_id, now=runtime.clock.now(), ttl=ttl))

    async def post(
        self, credential: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = {} if credential is None else {"authorization": f"Bearer {credential}"}
        return await self.api.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def body(
        self, credential: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.post(credential, query, variables)
        result: dict[str, Any] = response.json()
        return result

    async def data(
        self, credential: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = await self.body(credential, query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result


def secured(settings: Settings, **changes: Any) -> Settings:
    auth = AuthSettings(anonymous_role="none", jwt_secret=SecretStr(JWT_SECRET))
    return settings.model_copy(update={"auth": auth, **changes})


@pytest.fixture
async def secure(settings: Settings, clock: FrozenClock) -> AsyncIterator[Secure]:
    app = create_app(secured(settings), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:
        yield Secure(Api(http=http, sql=StatementLog(), app=app))
    await app.state.runtime.dispose()
