"""The README's frontend checkout walkthrough, run as written, over HTTP.

Everything comes from the README's section: the settings (its ``export`` lines), the API
keys (its ``paygate create-api-key`` commands, run through the CLI) and every GraphQL
document, sent as its exact text. The merchant's server calls with its API key; the
browser sends a CORS preflight, then each request with ``Origin`` and the customer token
only, and follows ``nextAction`` to the sandbox's 3-D Secure page as a browser would. The
audit log then shows who did what: no step of the browser ran as anything but the customer.
"""

from __future__ import annotations

import asyncio
import functools
import html.parser
import io
import re
import secrets
import shlex
import uuid
from collections.abc import AsyncIterator
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from graphql import OperationDefinitionNode, parse

from app.cli import main as paygate_cli
from app.domain.clock import FrozenClock
from app.main import create_app
from app.settings import Settings
from tests.conftest import make_settings

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Frontend checkout walkthrough"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(HEADING)
    end = text.find("\n## ", start + len(HEADING))
    return text[start : end if end != -1 else len(text)]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), re.DOTALL)


@functools.cache
def documents() -> dict[str, str]:
    """Every operation of the section's GraphQL blocks, by name, as its exact text."""
    found: dict[str, str] = {}
    for block in blocks("graphql"):
        for definition in parse(block).definitions:
            assert isinstance(definition, OperationDefinitionNode) and definition.name
            assert definition.loc is not None
            assert definition.name.value not in found, definition.name.value
            found[definition.name.value] = block[definition.loc.start : definition.loc.end]
    return found


def set_up_commands() -> tuple[dict[str, str], list[list[str]]]:
    """The first shell block: its exported settings, and its ``paygate`` commands. The
    secret made with ``$(openssl rand -hex 32)`` is made here the same way."""
    environment: dict[str, str] = {}
    commands: list[list[str]] = []
    for line in blocks("sh")[0].splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            name, _, value = words[1].partition("=")
            environment[name] = secrets.token_hex(32) if value.startswith("$(openssl") else value
        elif words and words[0].endswith("/paygate"):
            commands.append(words[1:])
    return environment, commands


class Forms(html.parser.HTMLParser):
    """The forms of a page: method, action, fields and the text of their button."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._in_button = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": attributes, "fields": {}, "button": ""})
        elif tag == "input" and self.forms and attributes.get("name"):
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value") or ""
        elif tag == "button":
            self._in_button = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_button = False

    def handle_data(self, data: str) -> None:
        if self._in_button and self.forms:
            self.forms[-1]["button"] += data.strip()


def payloads_without_user_errors(data: dict[str, Any]) -> None:
    for name, payload in data.items():
        if isinstance(payload, dict) and "userErrors" in payload:
            assert payload["userErrors"] == [], (name, payload["userErrors"])


@dataclass
class Server:
    """The merchant's server: its API key, never seen by a browser."""

    http: httpx.AsyncClient
    key: str

    async def run(self, operation: str, **variables: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": documents()[operation], "variables": variables},
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        payloads_without_user_errors(data)
        return data


@dataclass
class Browser:
    """A page of the shop: the customer token and nothing else, every request from the
    shop's origin, as the README's ``fetch`` helper sends it."""

    http: httpx.AsyncClient
    origin: str
    session: str
    requests: list[httpx.Request] = field(default_factory=list)

    async def preflight(self) -> httpx.Response:
        response = await self.http.options(
            "/graphql",
            headers={
                "Origin": self.origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        self.requests.append(response.request)
        return response

    async def post(self, operation: str, **variables: Any) -> dict[str, Any]:
        """POST a document of the README by name (or, for the test's own checks, a text)."""
        response = await self.http.post(
            "/graphql",
            json={"query": documents().get(operation, operation), "variables": variables},
            headers={"Origin": self.origin, "Authorization": f"Bearer {self.session}"},
        )
        self.requests.append(response.request)
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == self.origin
        body: dict[str, Any] = response.json()
        return body

    async def run(self, operation: str, **variables: Any) -> dict[str, Any]:
        body = await self.post(operation, **variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        payloads_without_user_errors(data)
        return data

    async def authenticate(self, url: str, button: str) -> httpx.Response:
        """Open the 3-D Secure page (a top-level navigation: no token, no API origin) and
        press ``button``: the browser submits that form to the page's own origin."""
        page = await self.http.get(url)
        self.requests.append(page.request)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        forms = Forms()
        forms.feed(page.text)
        [form] = [form for form in forms.forms if form["button"] == button]
        assert form["attrs"].get("method", "get").lower() == "post"
        page_origin = f"{page.url.scheme}://{page.url.host}"
        answer = await self.http.post(
            urljoin(str(page.url), form["attrs"].get("action") or ""),
            data=form["fields"],
            headers={"Origin": page_origin},
        )
        self.requests.append(answer.request)
        return answer


@dataclass
class Shop:
    http: httpx.AsyncClient
    settings: Settings
    server: Server
    back_office: Server
    product: str
    price: str

    def browser(self, session: str) -> Browser:
        [origin] = self.settings.cors_origins
        return Browser(self.http, origin, session)

    async def sign_up(self, email: str, name: str) -> tuple[str, str]:
        """The server's part: the customer, and a token for their browser."""
        created = await self.server.run("SignUp", email=email, name=name)
        customer: str = created["createCustomer"]["customer"]["id"]
        session = (await self.server.run("CustomerSession", customer=customer))[
            "createCustomerSession"
        ]
        assert session["expiresAt"]
        return customer, str(session["token"])


def cli(argv: list[str]) -> str:
    """Run ``paygate`` with ``argv`` (in a thread: it runs its own event loop); what it
    printed on its standard output."""
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert paygate_cli(argv) == 0
    return printed.getvalue()


@pytest.fixture
async def shop(
    database_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Shop]:
    environment, commands = set_up_commands()
    for name, value in {**environment, "PAYGATE_DATABASE_URL": database_url}.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(database_url)
    assert settings.anonymous_role is None
    assert settings.cors_origins and settings.auth.jwt_secret is not None
    keys: dict[str, str] = {}
    for command in commands:
        assert command[0] == "create-api-key"
        name = command[command.index("--name") + 1]
        keys[name] = (await asyncio.to_thread(cli, command)).strip()
        assert keys[name].startswith("pgk_")
    app = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as http:
        back_office = Server(http, keys["back-office"])
        product = (await back_office.run("CreatePlan"))["createProduct"]["product"]["id"]
        price = (await back_office.run("CreatePlanPrice", product=product))["createPrice"]
        assert price["price"]["trialPeriodDays"] is None
        yield Shop(
            http=http,
            settings=settings,
            server=Server(http, keys["shop-server"]),
            back_office=back_office,
            product=product,
            price=price["price"]["id"],
        )
    await app.state.runtime.dispose()


async def subscribe_with_three_d_secure(shop: Shop, browser: Browser) -> tuple[str, dict[str, Any]]:
    """Steps a to d of the browser: the customer's ID and the new subscription."""
    preflight = await browser.preflight()
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == browser.origin
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()

    checkout = await browser.run("Checkout", product=shop.product)
    customer = checkout["viewer"]["id"]
    offer = checkout["checkoutOffer"]
    assert offer["price"]["id"] == shop.price
    assert offer["price"]["unitAmount"]["formatted"] == "$49.00"
    assert offer["trialPeriodDays"] is None

    setup = (await browser.run("StartSetup", customer=customer))["startPaymentMethodSetup"]
    assert (setup["setup"]["psp"], setup["setup"]["kind"]) == ("SANDBOX", "TOKEN")
    saved = (await browser.run("SaveCard", customer=customer, token="tok_threeDSecureRequired"))[
        "attachPaymentMethod"
    ]["paymentMethod"]
    assert saved["isDefault"] is True

    subscribed = await browser.run(
        "Subscribe",
        key=str(uuid.uuid4()),
        customer=customer,
        price=offer["price"]["id"],
        method=saved["id"],
    )
    subscription: dict[str, Any] = subscribed["createSubscription"]["subscription"]
    assert subscription["status"] == "INCOMPLETE"
    assert subscription["latestInvoice"]["status"] == "OPEN"
    [payment] = subscription["latestInvoice"]["payments"]
    assert payment["status"] == "REQUIRES_ACTION"
    assert payment["nextAction"]["redirectUrl"].startswith(f"{shop.settings.public_url}/sandbox/")
    return customer, subscription


# Checks of the test's own (not steps of the walkthrough).
ANOTHER_CUSTOMER = "query AnotherCustomer($id: ID!) { customer(id: $id) { id email } }"
AUDIT = """
query Audit {
  auditEvents(first: 100) { edges { node { actor operation outcome errorCodes } } }
}
"""


async def audited(shop: Shop) -> set[tuple[str, str, str]]:
    """(actor, operation, outcome) of every mutation so far, as the admin reads them."""
    response = await shop.http.post(
        "/graphql",
        json={"query": AUDIT},
        headers={"Authorization": f"Bearer {shop.back_office.key}"},
    )
    edges = response.json()["data"]["auditEvents"]["edges"]
    return {(e["node"]["actor"], e["node"]["operation"], e["node"]["outcome"]) for e in edges}


async def test_a_customer_subscribes_from_the_browser_through_three_d_secure(
    shop: Shop,
) -> None:
    anonymous = await shop.http.post(
        "/graphql", json={"query": documents()["SignUp"], "variables": {"email": "x@example.com"}}
    )
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    customer, session = await shop.sign_up("ada@example.com", "Ada Lovelace")
    browser = shop.browser(session)
    viewer, subscription = await subscribe_with_three_d_secure(shop, browser)
    assert viewer == customer

    [payment] = subscription["latestInvoice"]["payments"]
    url = payment["nextAction"]["redirectUrl"]
    done = await browser.authenticate(url, "Complete authentication")
    assert done.status_code == 200
    assert "Done: go back to the shop and confirm the payment." in done.text

    confirmed = (await browser.run("Confirm", key=str(uuid.uuid4()), payment=payment["id"]))[
        "confirmPayment"
    ]["payment"]
    assert confirmed["status"] == "SUCCEEDED"
    assert confirmed["amountReceived"]["formatted"] == "$49.00"
    assert confirmed["decline"] is None

    result = (await browser.run("Subscribed", subscription=subscription["id"]))["subscription"]
    assert result["status"] == "ACTIVE"
    invoice = result["latestInvoice"]
    assert (invoice["status"], invoice["amountPaid"]["formatted"]) == ("PAID", "$49.00")
    assert re.fullmatch(r"PG-\d{6}", invoice["number"])

    # The token is the customer's: no merchant work, and no other customer.
    refused = await browser.post("CreatePlan")
    assert refused["data"] is None
    [error] = refused["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN", "fields": ["Mutation.createProduct"]}
    other, _ = await shop.sign_up("alan@example.com", "Alan Turing")
    assert await browser.run(ANOTHER_CUSTOMER, id=other) == {"customer": None}

    # Nothing but the customer token and the shop's origin left the browser; and the
    # audit log names who made each change.
    for request in browser.requests:
        assert request.headers.get("authorization") in (None, f"Bearer {session}")
        if request.url.path == "/graphql":
            assert request.headers["origin"] == browser.origin
    assert await audited(shop) == {
        ("admin", "createProduct", "ok"),
        ("admin", "createPrice", "ok"),
        ("support", "createCustomer", "ok"),
        ("support", "createCustomerSession", "ok"),
        ("customer", "startPaymentMethodSetup", "ok"),
        ("customer", "attachPaymentMethod", "ok"),
        ("customer", "createSubscription", "ok"),
        ("customer", "confirmPayment", "ok"),
        ("customer", "createProduct", "denied"),
        ("anonymous", "createCustomer", "denied"),
    }


async def test_failed_authentication_then_another_card(shop: Shop) -> None:
    customer, session = await shop.sign_up("grace@example.com", "Grace Hopper")
    browser = shop.browser(session)
    _, subscription = await subscribe_with_three_d_secure(shop, browser)
    [payment] = subscription["latestInvoice"]["payments"]
    url = payment["nextAction"]["redirectUrl"]
    assert (await browser.authenticate(url, "Fail authentication")).status_code == 200

    confirmed = (await browser.run("Confirm", key=str(uuid.uuid4()), payment=payment["id"]))[
        "confirmPayment"
    ]["payment"]
    assert confirmed["status"] == "FAILED"
    assert confirmed["decline"]["code"] == "AUTHENTICATION_FAILED"
    still = (await browser.run("Subscribed", subscription=subscription["id"]))["subscription"]
    assert (still["status"], still["latestInvoice"]["status"]) == ("INCOMPLETE", "OPEN")

    card = (await browser.run("SaveCard", customer=customer, token="tok_visa"))[
        "attachPaymentMethod"
    ]["paymentMethod"]
    paid = (
        await browser.run(
            "PayInvoice",
            key=str(uuid.uuid4()),
            invoice=subscription["latestInvoice"]["id"],
            method=card["id"],
        )
    )["payInvoice"]["invoice"]
    assert paid["status"] == "PAID"
    assert [p["status"] for p in paid["payments"]] == ["FAILED", "SUCCEEDED"]
    result = (await browser.run("Subscribed", subscription=subscription["id"]))["subscription"]
    assert result["status"] == "ACTIVE"
