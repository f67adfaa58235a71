"""A gateway that trusts the test client's address as a proxy (its X-Forwarded-For names
the client), with an admin key, customer sessions and the documents the risk tests send."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.domain.clock import FrozenClock
from app.main import create_app
from app.settings import Settings
from tests.conftest import Api, StatementLog
from tests.factories import staff_key
from tests.security.conftest import secured

ATTACH = (
    "mutation($c: ID!, $t: String!) { attachPaymentMethod(input: {customerId: $c, token: $t}) "
    "{ paymentMethod { id } userErrors { code message } } }"
)
PAY = (
    "mutation($i: CreatePaymentInput!) { createPayment(input: $i) { payment { id status "
    "captureMethod pspReference decline { code } } userErrors { code message } } }"
)
RISK = (
    "query($id: ID!) { payment(id: $id) { status risk { score level action ipAddress deviceId "
    "reasons { ruleName action detail } } } }"
)
RULE = (
    "mutation($i: CreateRiskRuleInput!) { createRiskRule(input: $i) { riskRule { id name "
    "action score position active condition { type dimension windowSeconds maxAttempts "
    "maxDistinctCards maxDeclines factor minimumPayments list amount { amount currency } } } "
    "userErrors { field code message } } }"
)


@dataclass
class Client:
    """One browser or app: a customer's session from an address (and maybe a device)."""

    gate: Gate
    customer: str
    token: str
    ip: str | None = None
    device: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"authorization": f"Bearer {self.token}"}
        if self.ip:
            headers["x-forwarded-for"] = self.ip
        if self.device:
            headers["paygate-device-id"] = self.device
        return headers

    async def body(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.gate.api.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=self.headers()
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body["data"]

    async def attach(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = (await self.body(ATTACH, {"c": self.customer, "t": token}))[
            "attachPaymentMethod"
        ]
        return result

    async def pay(self, amount: str, method: str | None = None, **extra: Any) -> dict[str, Any]:
        fields = {
            "idempotencyKey": str(uuid.uuid4()),
            "customerId": self.customer,
            "amount": {"amount": amount, "currency": "USD"},
            "paymentMethodId": method,
            **extra,
        }
        result: dict[str, Any] = (await self.body(PAY, {"i": fields}))["createPayment"]
        return result


@dataclass
class Gate:
    api: Api
    admin: str

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.api.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {self.admin}"},
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]
        return result

    async def customer(self, *, email: str | None = None, country: str | None = None) -> str:
        fields: dict[str, Any] = {"name": "Payer"}
        if email:
            fields["email"] = email
        if country:
            fields["country"] = country
        made = await self.data(
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) "
            "{ customer { id } userErrors { code } } }",
            {"i": fields},
        )
        assert made["createCustomer"]["userErrors"] == [], made
        customer_id: str = made["createCustomer"]["customer"]["id"]
        return customer_id

    async def client(
        self,
        ip: str | None = None,
        device: str | None = None,
        *,
        email: str | None = None,
        country: str | None = None,
        customer: str | None = None,
    ) -> Client:
        customer = customer or await self.customer(email=email, country=country)
        runtime = self.api.runtime
        token = str(runtime.tokens.mint(customer, now=runtime.clock.now(), ttl=timedelta(hours=1)))
        return Client(self, customer, token, ip, device)

    async def rule(self, **fields: Any) -> dict[str, Any]:
        made = (await self.data(RULE, {"i": fields}))["createRiskRule"]
        assert made["userErrors"] == [], made
        rule: dict[str, Any] = made["riskRule"]
        return rule

    async def risk(self, payment_id: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self.data(RISK, {"id": payment_id}))["payment"]
        return found


def gate_settings(settings: Settings, **changes: Any) -> Settings:
    proxies = [ipaddress.ip_network("127.0.0.1/32")]
    return secured(settings, trusted_proxies=proxies, **changes)


@pytest.fixture
async def gate(settings: Settings, clock: FrozenClock) -> AsyncIterator[Gate]:
    app = create_app(gate_settings(settings), clock=clock)
    transport = httpx.ASGITransport(app=app)  # the peer is 127.0.0.1: a trusted proxy
    async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:
        api = Api(http=http, sql=StatementLog(), app=app)
        yield Gate(api, await staff_key(app.state.runtime, "admin", "risk admin"))
    await app.state.runtime.dispose()
