"""GraphiQL end to end: the real gateway serves it, headless Chromium drives it.

Starts ``python -m app.cli serve`` on a free loopback port with a throwaway SQLite database,
opens ``/graphql`` and checks that GraphiQL renders from the gateway's own assets (no other
host is ever contacted), runs under the strict Content-Security-Policy without a single
violation or console error, shows the schema docs and executes the default query.

Needs Debian's ``chromium`` at /usr/bin/chromium: skipped without it, except under CI (CI
installs it), where a missing browser fails the test. The GraphiQL bundles are built with
``scripts/build-graphiql`` first if they are missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
    expect,
    sync_playwright,
)

from app.graphiql import CSP, assets_available

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 30.0
UI_TIMEOUT_MS = 10_000

# Runs before any page script; CSP does not apply to it. Every CSP violation lands in
# window.__cspViolations, which the test reads back at the end.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push({
    directive: e.effectiveDirective || e.violatedDirective,
    blocked: e.blockedURI,
    source: e.sourceFile,
    line: e.lineNumber,
    sample: e.sample,
  });
});
"""


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))


def _unavailable(reason: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return CHROMIUM


@pytest.fixture(scope="module")
def graphiql_assets() -> None:
    """Build the vendored GraphiQL bundles if they are not there yet (idempotent)."""
    if assets_available():
        return
    if shutil.which("npm") is None:
        _unavailable(
            "GraphiQL bundles are not built and npm is missing: run scripts/build-graphiql"
        )
    subprocess.run([str(ROOT / "scripts" / "build-graphiql")], cwd=ROOT, check=True, timeout=300)
    assert assets_available(), "scripts/build-graphiql did not produce the GraphiQL bundles"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthz_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@dataclass(frozen=True)
class Gateway:
    base_url: str
    origin: str  # host:port
    log: Path


@pytest.fixture
def gateway(tmp_path: Path, graphiql_assets: None) -> Iterator[Gateway]:
    port = _free_port()
    env = dict(os.environ)
    env["PAYGATE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'paygate.db'}"
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "gateway.log"
    cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthz_ok(f"{base_url}/healthz"):
            if proc.poll() is not None:
                pytest.fail(
                    f"gateway exited with {proc.returncode} before /healthz answered:\n"
                    + log.read_text(errors="replace")
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"gateway /healthz not 200 within {STARTUP_TIMEOUT_S:.0f}s:\n"
                    + log.read_text(errors="replace")
                )
            time.sleep(0.2)
        yield Gateway(base_url=base_url, origin=f"127.0.0.1:{port}", log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def page(chromium_path: Path, gateway: Gateway) -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(service_workers="block")
            context.set_default_timeout(UI_TIMEOUT_MS)
            yield context.new_page()
            context.close()
        finally:
            browser.close()


def _operation_count(document: str) -> int:
    return len(re.findall(r"^\s*(?:query|mutation|subscription)\b", document, flags=re.MULTILINE))


def _editor_value(page: Page, selector: str) -> str:
    # Locator.evaluate goes through the DevTools protocol, so the page's CSP (no eval) does
    # not get in its way and reports nothing. Avoid page.wait_for_function: its polling
    # evaluates strings inside the page, which this CSP blocks (and reports as a violation);
    # wait with expect(locator) instead.
    value: str = page.locator(selector).first.evaluate("(el) => el.CodeMirror.getValue()")
    return value


def test_graphiql_renders_offline_under_csp_and_runs_the_default_query(
    page: Page, gateway: Gateway
) -> None:
    context = page.context
    requests: list[str] = []
    foreign: list[str] = []
    responses: list[Response] = []
    console_errors: list[str] = []
    page_errors: list[str] = []

    def guard(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.netloc == gateway.origin:
            route.continue_()
        else:
            foreign.append(url)
            route.abort("blockedbyclient")

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            console_errors.append(f"{message.text} @ {message.location}")

    def on_request(request: Request) -> None:
        requests.append(request.url)

    context.route("**/*", guard)
    context.add_init_script(CSP_LISTENER)
    page.on("request", on_request)
    page.on("response", lambda response: responses.append(response))
    page.on("console", on_console)
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    # The page itself: served with the strict CSP.
    response = page.goto(f"{gateway.base_url}/graphql", wait_until="load")
    assert response is not None
    assert response.status == 200, response.status
    assert response.header_value("content-security-policy") == CSP
    assert "text/html" in (response.header_value("content-type") or "")

    # GraphiQL rendered, with the default document in the query editor.
    expect(page.locator(".graphiql-container")).to_be_visible()
    config = json.loads(page.locator("#graphiql-config").text_content() or "{}")
    default_query = config["defaultQuery"]
    assert default_query.strip(), "the page carries no default query"
    assert _editor_value(page, ".graphiql-query-editor .CodeMirror") == default_query

    # Schema docs: the default doc explorer lists the root types from introspection.
    page.get_by_role("button", name="Show Documentation Explorer").click()
    docs = page.locator(".graphiql-doc-explorer")
    expect(docs).to_contain_text("Root Types")
    expect(docs).to_contain_text("query")

    # A dialog: Radix inserts its scroll-lock <style>, which the CSP admits by hash only.
    page.get_by_role("button", name="Open settings dialog").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    # Headers editor: what is typed there is sent with the request.
    page.get_by_role("button", name="Headers", exact=True).click()
    headers_editor = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
    expect(page.locator(headers_editor)).to_be_visible()
    page.locator(headers_editor).evaluate(
        """(el) => el.CodeMirror.setValue('{"X-Paygate-GraphiQL-Test": "1"}')"""
    )

    # Execute the default query.
    def is_execution(request: Request) -> bool:
        return (
            request.method == "POST"
            and urlsplit(request.url).path == "/graphql"
            and "IntrospectionQuery" not in (request.post_data or "")
        )

    with page.expect_request(is_execution) as request_info:
        page.locator("button.graphiql-execute-button").click()
        if _operation_count(default_query) > 1:
            # Several operations: GraphiQL asks which one to run; take the first.
            page.get_by_role("menuitem").first.click()
    execution = request_info.value
    sent = execution.all_headers()
    assert sent.get("content-type") == "application/json", sent
    assert sent.get("x-paygate-graphiql-test") == "1", sent
    execution_response = execution.response()
    assert execution_response is not None
    assert execution_response.status == 200, execution_response.status

    result_window = page.locator(".result-window")
    expect(result_window).to_contain_text('"data"')
    result = json.loads(_editor_value(page, ".result-window .CodeMirror"))
    assert result.get("data"), result
    assert "errors" not in result, result["errors"]

    # Nothing but the gateway was contacted, nothing was blocked, nothing complained.
    assert not foreign, f"requests to other hosts: {foreign}"
    network = [u for u in requests if urlsplit(u).scheme not in ("data", "blob")]
    assert all(urlsplit(u).netloc == gateway.origin for u in network), requests
    assert any("/graphiql/vendor/graphiql.min.js" in u for u in requests), requests
    static = [r for r in responses if urlsplit(r.url).path.startswith("/graphiql/")]
    assert static, "no static GraphiQL asset was loaded"
    for asset in static:
        assert asset.status == 200, (asset.url, asset.status)
        assert asset.header_value("content-security-policy") == CSP, asset.url
        # Browsers honour the first value; app-wide middleware may repeat the header.
        nosniff = (asset.header_value("x-content-type-options") or "").split(",")[0].strip()
        assert nosniff == "nosniff", asset.url
    violations = page.evaluate("window.__cspViolations")
    assert violations == [], violations
    assert page_errors == [], page_errors
    assert console_errors == [], console_errors
