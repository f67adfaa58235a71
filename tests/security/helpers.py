"""Credentials for tests: API keys per role and customer tokens, made through the API."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

CREATE_KEY = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { apiKey { id role prefix } secret userErrors { code } }
}
"""


async def api_key(api: Api, role: str, name: str | None = None) -> str:
    """A new key of ``role``, made by the development profile's anonymous admin."""
    data = await api.data(CREATE_KEY, {"input": {"name": name or f"{role} key", "role": role}})
    secret: str = data["createApiKey"]["secret"]
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


async def as_(api: Api, secret: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    """POST ``query`` with ``secret``; the JSON body."""
    response = await api.http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=bearer(secret)
    )
    return response.json()
