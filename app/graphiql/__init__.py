"""Self-hosted GraphiQL: the IDE page and the static files it loads.

Everything the page needs is served by paygate itself under ``/graphiql/``: our own boot
script and stylesheet in ``static/``, and the pinned GraphiQL / React browser bundles that
``scripts/build-graphiql`` installs with npm (from ``web/graphiql/package-lock.json``) into
``static/vendor/``. The browser never talks to a CDN, so the page works offline and under a
Content-Security-Policy that allows nothing but the gateway's own origin.

The page carries no inline script or style: its settings (endpoint, default query) travel
in a ``<script type="application/json">`` data block, which browsers never execute, read by
``static/init.js``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = [
    "CSP",
    "STATIC_DIR",
    "URL_PREFIX",
    "VENDOR_DIR",
    "StaticAssets",
    "assets_available",
    "mount",
    "render_page",
]

URL_PREFIX: Final = "/graphiql"
STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
VENDOR_DIR: Final = STATIC_DIR / "vendor"

# style-src relaxation, the only one: GraphiQL's dialogs and menus (Radix UI, through
# react-remove-scroll) lock page scrolling by inserting this <style> element while they are
# open. It is the only inline style GraphiQL creates (React and CodeMirror set styles through
# the CSSOM, which style-src does not govern), so rather than 'unsafe-inline' the policy admits
# exactly this text, by its hash. The values are what react-remove-scroll-bar 2.x renders for a
# page without a scrollbar (page.css keeps ours to 100vh); should a page ever have one, the
# style is blocked and only the scroll lock is lost. The browser test opens the settings dialog
# and fails on any CSP violation, so a GraphiQL upgrade that changes this text is caught there.
_SCROLL_LOCK_CSS: Final = (
    "\n  .with-scroll-bars-hidden {\n   overflow: hidden !important;\n"
    "   padding-right: 0px !important;\n  }\n"
    "  body {\n    overflow: hidden !important;\n    overscroll-behavior: contain;\n"
    "    position: relative !important;\n"
    "    padding-left: 0px;\n    padding-top: 0px;\n    padding-right: 0px;\n"
    "    margin-left:0;\n    margin-top:0;\n    margin-right: 0px !important;\n    \n  }\n  \n"
    "  .right-scroll-bar-position {\n    right: 0px !important;\n  }\n  \n"
    "  .width-before-scroll-bar {\n    margin-right: 0px !important;\n  }\n  \n"
    "  .right-scroll-bar-position .right-scroll-bar-position {\n    right: 0 !important;\n  }\n  \n"
    "  .width-before-scroll-bar .width-before-scroll-bar {\n"
    "    margin-right: 0 !important;\n  }\n  \n"
    "  body {\n    --removed-body-scroll-bar-size: 0px;\n  }\n"
)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Only the gateway's own origin: no CDN, no inline script and no 'unsafe-eval' (the bundles do
# not need it); the fonts are data: URLs inside graphiql.min.css. Verified in headless Chromium
# by tests/browser/test_graphiql.py.
CSP: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        f"style-src 'self' {_csp_hash(_SCROLL_LOCK_CSS)}",
        "connect-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
)

# Files the page loads, relative to STATIC_DIR, in load order.
_VENDOR_SCRIPTS: Final = (
    "vendor/react.production.min.js",
    "vendor/react-dom.production.min.js",
    "vendor/graphiql.min.js",
)
_VENDOR_STYLES: Final = ("vendor/graphiql.min.css",)
_OWN_SCRIPTS: Final = ("init.js",)
_OWN_STYLES: Final = ("page.css",)
_FAVICON: Final = "favicon.svg"

_BUILD_HINT: Final = "scripts/build-graphiql"
_CONFIG_ELEMENT_ID: Final = "graphiql-config"
_ROOT_ELEMENT_ID: Final = "graphiql"

_IMMUTABLE: Final = "public, max-age=31536000, immutable"
_REVALIDATE: Final = "no-cache"


def assets_available() -> bool:
    """Whether the npm-built GraphiQL bundles are in ``static/vendor/``."""
    return all((STATIC_DIR / name).is_file() for name in (*_VENDOR_SCRIPTS, *_VENDOR_STYLES))


@dataclass(frozen=True, slots=True)
class _Asset:
    url: str
    integrity: str


# (relative name) -> ((mtime_ns, size), asset); rebuilt when the file changes on disk.
_asset_cache: dict[str, tuple[tuple[int, int], _Asset]] = {}


def _asset(name: str) -> _Asset:
    """URL (with a content-hash version, so it can be cached for good) and SRI hash."""
    path = STATIC_DIR / name
    st = path.stat()
    key = (st.st_mtime_ns, st.st_size)
    cached = _asset_cache.get(name)
    if cached is not None and cached[0] == key:
        return cached[1]
    digest = hashlib.sha384(path.read_bytes()).digest()
    version = digest.hex()[:16]
    asset = _Asset(
        url=f"{URL_PREFIX}/{name}?v={version}",
        integrity="sha384-" + base64.b64encode(digest).decode("ascii"),
    )
    _asset_cache[name] = (key, asset)
    return asset


def _json_for_html(value: object) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element.

    Escaping ``<``, ``>`` and ``&`` means the text can never close the element
    (``</script>``) or open an HTML comment; JSON.parse turns the escapes back.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _stylesheet(name: str) -> str:
    asset = _asset(name)
    return f'<link rel="stylesheet" href="{html.escape(asset.url)}" integrity="{asset.integrity}">'


def _script(name: str) -> str:
    asset = _asset(name)
    return f'<script src="{html.escape(asset.url)}" integrity="{asset.integrity}"></script>'


def render_page(*, endpoint: str, default_query: str, title: str = "paygate GraphiQL") -> str:
    """The GraphiQL HTML page, to be served with the ``CSP`` header.

    ``endpoint`` is where GraphiQL POSTs its requests (JSON bodies, ``Content-Type:
    application/json``); ``default_query`` fills the editor on a first visit. If the vendor
    bundles have not been built, a plain page says how to build them instead.
    """
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="robots" content="noindex">',
        f"<title>{html.escape(title)}</title>",
        f'<link rel="icon" href="{html.escape(_asset(_FAVICON).url)}" type="image/svg+xml">',
    ]
    if not assets_available():
        head.extend(_stylesheet(name) for name in _OWN_STYLES)
        body = (
            '<main class="graphiql-missing">'
            f"<h1>{html.escape(title)}</h1>"
            "<p>The GraphiQL browser bundles have not been built on this server. "
            f"Run <code>{html.escape(_BUILD_HINT)}</code> and reload this page.</p>"
            f"<p>GraphQL endpoint: <code>{html.escape(endpoint)}</code></p>"
            "</main>"
        )
        return _document(head, body)

    head.extend(_stylesheet(name) for name in (*_VENDOR_STYLES, *_OWN_STYLES))
    config = {"endpoint": endpoint, "defaultQuery": default_query}
    body = "\n".join(
        [
            f'<div id="{_ROOT_ELEMENT_ID}" class="graphiql-boot">Loading GraphiQL…</div>',
            "<noscript>GraphiQL needs JavaScript.</noscript>",
            f'<script type="application/json" id="{_CONFIG_ELEMENT_ID}">'
            f"{_json_for_html(config)}</script>",
            *(_script(name) for name in (*_VENDOR_SCRIPTS, *_OWN_SCRIPTS)),
        ]
    )
    return _document(head, body)


def _document(head: list[str], body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n'
        + "\n".join(head)
        + "\n</head>\n<body>\n"
        + body
        + "\n</body>\n</html>\n"
    )


class StaticAssets(StaticFiles):
    """StaticFiles with the GraphiQL CSP, ``nosniff`` and cache headers on every file.

    URLs carrying the ``?v=`` content hash that ``render_page`` adds are cached for a year;
    others are revalidated (ETag / Last-Modified) on each use.
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        query = scope.get("query_string", b"")
        versioned = any(part.startswith(b"v=") for part in query.split(b"&"))
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        response.headers["Cache-Control"] = _IMMUTABLE if versioned else _REVALIDATE
        return response


def mount(app: FastAPI) -> None:
    """Serve ``static/`` (our boot files plus the vendor bundles) under ``/graphiql/``."""
    app.mount(URL_PREFIX, StaticAssets(directory=STATIC_DIR), name="graphiql-static")
