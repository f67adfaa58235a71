"""Structured logs: one JSON line per request, found by the X-Request-ID of its response;
the request id on every line of that request; no personal data, tokens or query strings."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog

from app.main import create_app
from app.settings import Settings
from tests.conftest import Api
from tests.factories import api_key


def lines(err: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert parsed, err
    return parsed


@pytest.fixture
async def json_api(settings: Settings, clock: Any) -> AsyncIterator[Api]:
    app = create_app(settings.model_copy(update={"log_format": "json"}), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:
        yield Api(http=http, sql=None, app=app)  # type: ignore[arg-type]
    await app.state.runtime.dispose()


async def test_one_line_per_request_found_by_its_request_id(
    json_api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = await api_key(json_api, "ADMIN")
    capsys.readouterr()
    document = (
        "mutation CreateCustomer($input: CreateCustomerInput!) {"
        " createCustomer(input: $input) { customer { id } userErrors { code } } }"
    )
    variables = {"input": {"email": "ada@example.com", "name": "Ada Lovelace"}}
    response = await json_api.http.post(
        "/graphql?email=ada@example.com",
        json={"query": document, "variables": variables},
        headers={"authorization": f"Bearer {secret}"},
    )
    request_id = response.headers["x-request-id"]
    err = capsys.readouterr().err
    mine = [line for line in lines(err) if line.get("request_id") == request_id]
    assert len(mine) == 1
    (line,) = mine
    assert line["event"] == "request" and line["logger"] == "paygate.request"
    assert {k: line[k] for k in ("method", "route", "status", "outcome", "principal")} == {
        "method": "POST",
        "route": "/graphql",
        "status": 200,
        "outcome": "ok",
        "principal": "admin",
    }
    assert (line["operation"], line["operation_type"]) == ("CreateCustomer", "mutation")
    assert line["level"] == "info" and line["timestamp"].endswith("Z")
    assert isinstance(line["duration_ms"], float)
    for private in ("ada@example.com", "Lovelace", secret, secret[17:], "?email"):
        assert private not in err


async def test_every_line_of_a_request_carries_its_id(
    json_api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    bad = await json_api.http.post(
        "/webhooks/sandbox",
        content=b'{"id": "evt_1"}',
        headers={"x-request-id": "req-webhook-0001"},
    )
    assert bad.status_code == 400
    found = lines(capsys.readouterr().err)
    assert [(x["logger"], x["level"]) for x in found] == [
        ("paygate.webhooks", "warning"),  # "refused a sandbox webhook: …", from stdlib logging
        ("paygate.request", "info"),
    ]
    assert {x["request_id"] for x in found} == {"req-webhook-0001"}
    assert found[1]["outcome"] == "client_error" and found[1]["route"] == "/webhooks/{psp}"


async def test_a_masked_error_quotes_the_request_id_of_its_lines(
    json_api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.context import RequestContext

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(RequestContext, "db", broken)
    capsys.readouterr()
    response = await json_api.http.post(
        "/graphql", json={"query": "{ products(first: 1) { totalCount } }"}
    )
    error = response.json()["errors"][0]
    request_id = response.headers["x-request-id"]
    assert error["extensions"] == {"code": "INTERNAL_ERROR", "requestId": request_id}
    found = [x for x in lines(capsys.readouterr().err) if x.get("request_id") == request_id]
    assert [x["logger"] for x in found] == ["paygate.graphql", "paygate.request"]
    assert "RuntimeError: boom" in found[0]["exception"]  # the details, server-side only
    assert (found[1]["outcome"], found[1]["errors"]) == ("internal_error", ["INTERNAL_ERROR"])


async def test_probes_are_debug_and_query_strings_never_logged(
    json_api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    await json_api.http.get("/healthz?token=abc")
    assert "healthz" not in capsys.readouterr().err  # DEBUG, below the default INFO
    await json_api.http.get("/nowhere?token=abc")
    (line,) = lines(capsys.readouterr().err)
    assert (line["route"], line["status"]) == ("unmatched", 404)
    assert "token" not in json.dumps(line)


def test_safety_nets_redact_keys_and_withhold_card_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.observability.logs import configure_logging

    configure_logging(Settings(log_format="json"))
    structlog.stdlib.get_logger("paygate.test").warning("hello", email="a@b.c", token="t")
    logging.getLogger("paygate.test").warning("card %s", "4242 4242 4242 4242")
    first, second = lines(capsys.readouterr().err)
    assert (first["email"], first["token"]) == ("[redacted]", "[redacted]")
    assert "4242" not in second["event"]


def test_console_in_development_json_in_production() -> None:
    assert not Settings().log_as_json
    assert Settings(profile="production").log_as_json
    assert not Settings(profile="production", log_format="console").log_as_json
    assert Settings(log_level="debug").log_level == "DEBUG"
