"""OpenTelemetry: off by default; when enabled, HTTP and database spans reach the OTLP
endpoint of the settings (a local fake collector here), and log lines carry the trace id."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from app.main import create_app
from app.settings import Settings


@contextmanager
def fake_collector() -> Iterator[tuple[str, list[Span]]]:
    """An OTLP/HTTP traces endpoint on the loopback that keeps what it receives."""
    spans: list[Span] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    spans.extend(scope.spans)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", spans
    finally:
        server.shutdown()
        server.server_close()


def attributes(span: Span) -> dict[str, Any]:
    return {a.key: a.value.string_value or a.value.int_value for a in span.attributes}


def test_tracing_is_off_by_default() -> None:
    assert Settings().otel_enabled is False


async def test_http_and_database_spans_are_exported(
    settings: Settings, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with fake_collector() as (endpoint, spans):
        traced = settings.model_copy(
            update={"otel_enabled": True, "otel_endpoint": endpoint, "log_format": "json"}
        )
        app = create_app(traced, clock=clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            capsys.readouterr()
            response = await http.post(
                "/graphql?note=private",
                json={"query": "query Catalog { products(first: 1) { totalCount } }"},
            )
            assert response.status_code == 200
            await http.get("/healthz")  # probes are not traced
        await app.state.runtime.dispose()
        app.state.observability.shutdown()  # flushes the batch
    (server,) = [s for s in spans if s.kind == Span.SPAN_KIND_SERVER]
    assert server.name == "POST /graphql"
    assert attributes(server)["graphql.operation.name"] == "Catalog"
    assert attributes(server)["http.route"] == "/graphql"
    database = [s for s in spans if s.kind == Span.SPAN_KIND_CLIENT]
    assert len(database) >= 2  # the page and its count
    statements = [attributes(s).get("db.statement", "") for s in database]
    assert any("FROM products" in t and "LIMIT" in t for t in statements), statements  # the page
    assert any("count(" in t for t in statements), statements
    assert {s.trace_id for s in database} == {server.trace_id}
    assert all(attributes(s).get("db.system") == "postgresql" for s in database)
    for span in spans:
        assert "private" not in json.dumps(attributes(span)), span.name
    line = next(
        json.loads(x)
        for x in capsys.readouterr().err.splitlines()
        if x.startswith("{") and '"paygate.request"' in x
    )
    assert line["trace_id"] == server.trace_id.hex()
