"""Who is calling: API keys (hashed, prefixed, revocable) and customer tokens (JWT), and
what a caller without credentials gets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa

from app.domain.clock import FrozenClock
from app.main import create_app
from app.settings import AuthSettings, Settings
from tests.cli_process import cli_process
from tests.conftest import Api, StatementLog
from tests.security.conftest import JWT_SECRET, Secure

CUSTOMER = """
mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { code } }
}
"""
VIEWER = "{ viewer { id email } }"
CUSTOMERS = "{ customers(first: 5) { totalCount } }"
CATALOG = "{ products(first: 5) { totalCount } currencies { code } }"


async def new_customer(secure: Secure, admin: str, email: str = "ada@example.com") -> str:
    data = await secure.data(admin, CUSTOMER, {"input": {"email": email, "name": "Ada"}})
    customer_id: str = data["createCustomer"]["customer"]["id"]
    return customer_id


async def test_anonymous_callers_read_the_catalog_and_nothing_else(secure: Secure) -> None:
    assert (await secure.data(None, CATALOG))["products"]["totalCount"] == 0
    refused = await secure.body(None, CUSTOMERS)
    assert refused["data"] is None
    (error,) = refused["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "fields": ["Query.customers"]}
    refused = await secure.body(None, CUSTOMER, {"input": {"email": "x@example.com"}})
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_api_key_is_shown_once_stored_as_a_digest_and_listed_by_prefix(
    secure: Secure,
) -> None:
    admin = await secure.key("admin")
    created = await secure.data(
        admin,
        'mutation { createApiKey(input: {name: "ci", role: READONLY}) '
        "{ apiKey { id prefix role } secret userErrors { code } } }",
    )
    key = created["createApiKey"]
    secret = key["secret"]
    prefix = key["apiKey"]["prefix"]
    assert secret.startswith(f"pgk_{prefix}_") and len(secret) >= 17 + 43
    assert (await secure.data(secret, CATALOG))["products"]["totalCount"] == 0
    listed = await secure.data(admin, "{ apiKeys(first: 10) { edges { node { prefix role } } } }")
    assert {"prefix": prefix, "role": "READONLY"} in [e["node"] for e in listed["apiKeys"]["edges"]]
    assert secret not in json.dumps(listed)
    async with secure.api.engine.connect() as connection:
        rows = (await connection.execute(sa.text("SELECT * FROM api_keys"))).all()
    stored = json.dumps([[str(v) for v in row] for row in rows])
    assert secret not in stored and secret[17:] not in stored


async def test_a_revoked_key_no_longer_authenticates(secure: Secure) -> None:
    admin = await secure.key("admin")
    support = await secure.key("support")
    assert "errors" not in await secure.body(support, CUSTOMERS)
    keys = await secure.data(admin, "{ apiKeys { edges { node { id role } } } }")
    (support_id,) = [
        e["node"]["id"] for e in keys["apiKeys"]["edges"] if e["node"]["role"] == "SUPPORT"
    ]
    revoked = await secure.data(
        admin,
        "mutation($id: ID!) { revokeApiKey(input: {apiKeyId: $id}) "
        "{ apiKey { revokedAt } userErrors { code } } }",
        {"id": support_id},
    )
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    response = await secure.post(support, CUSTOMERS)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer pgk_abcdefghijkm_" + "x" * 43,  # well-formed, unknown
        "Bearer pgk_short",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer ",
        "Bearer not-a-jwt",
    ],
)
async def test_bad_credentials_are_refused_not_downgraded(secure: Secure, header: str) -> None:
    response = await secure.api.http.post(
        "/graphql", json={"query": CATALOG}, headers={"authorization": header}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "x" * 43 not in response.text and "YWRtaW46" not in response.text


async def test_a_customer_session_sees_its_customer_as_viewer(secure: Secure) -> None:
    admin = await secure.key("admin")
    customer_id = await new_customer(secure, admin)
    issued = await secure.data(
        admin,
        "mutation($id: ID!) { createCustomerSession(input: {customerId: $id, ttlSeconds: 600})"
        " { token expiresAt userErrors { code } } }",
        {"id": customer_id},
    )
    token = issued["createCustomerSession"]["token"]
    assert issued["createCustomerSession"]["expiresAt"] == "2026-01-15T12:10:00+00:00"
    assert (await secure.data(token, VIEWER))["viewer"] == {
        "id": customer_id,
        "email": "ada@example.com",
    }
    assert (await secure.data(admin, VIEWER))["viewer"] is None
    refused = await secure.body(token, CUSTOMERS)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def _token(claims: dict[str, Any], key: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


async def test_tokens_need_issuer_audience_expiry_and_a_good_signature(
    secure: Secure, clock: FrozenClock
) -> None:
    admin = await secure.key("admin")
    customer_id = await new_customer(secure, admin)
    now = int(clock.now().timestamp())
    good = {"iss": "paygate", "aud": "paygate", "sub": customer_id, "exp": now + 60}
    assert (await secure.data(_token(good), VIEWER))["viewer"]["id"] == customer_id
    bad = [
        {**good, "exp": now - 31},  # expired beyond the 30 s leeway
        {**good, "aud": "someone-else"},
        {**good, "iss": "evil"},
        {k: v for k, v in good.items() if k != "exp"},
        {**good, "sub": "not-a-global-id"},
        {**good, "nbf": now + 3600},
    ]
    tokens = [_token(claims) for claims in bad]
    tokens.append(_token(good, key="another-secret-of-at-least-32-bytes!!"))
    tokens.append(jwt.encode(good, None, algorithm="none"))
    tokens.append(_token(good)[:-4] + "AAAA")
    for token in tokens:
        response = await secure.post(token, VIEWER)
        assert response.status_code == 401, token
        assert token not in response.text


async def test_minting_needs_a_secret_and_a_sane_lifetime(secure: Secure) -> None:
    admin = await secure.key("admin")
    customer_id = await new_customer(secure, admin)
    document = (
        "mutation($id: ID!, $ttl: Int) { createCustomerSession(input: {customerId: $id, "
        "ttlSeconds: $ttl}) { token userErrors { field code } } }"
    )
    for ttl in (5, 86_401):
        data = await secure.data(admin, document, {"id": customer_id, "ttl": ttl})
        assert data["createCustomerSession"] == {
            "token": None,
            "userErrors": [{"field": ["input", "ttlSeconds"], "code": "INVALID"}],
        }
    support = await secure.key("support")
    data = await secure.data(support, document, {"id": customer_id, "ttl": 60})
    assert data["createCustomerSession"]["token"]
    growth = await secure.key("growth")
    refused = await secure.body(growth, document, {"id": customer_id, "ttl": 60})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


class _Jwks(BaseHTTPRequestHandler):
    document: bytes = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def jwks() -> Iterator[tuple[str, Any]]:
    """An identity provider's JWKS endpoint, on loopback, with one RS256 key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    _Jwks.document = json.dumps({"keys": [{**public, "kid": "k1", "alg": "RS256"}]}).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", private
    server.shutdown()


async def test_rs256_tokens_are_verified_with_the_identity_providers_jwks(
    settings: Settings, clock: FrozenClock, jwks: tuple[str, Any]
) -> None:
    url, private = jwks
    auth = AuthSettings(
        anonymous_role="none", jwks_url=url, jwt_issuer="https://id.example", jwt_audience="shop"
    )
    app = create_app(settings.model_copy(update={"auth": auth}), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:
        secure = Secure(Api(http=http, sql=StatementLog(), app=app))
        admin = await secure.key("admin")
        customer_id = await new_customer(secure, admin)
        claims = {
            "iss": "https://id.example",
            "aud": "shop",
            "sub": customer_id,
            "exp": int((clock.now() + timedelta(minutes=5)).timestamp()),
        }
        signed = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "k1"})
        assert (await secure.data(signed, VIEWER))["viewer"]["id"] == customer_id
        # An HS256 token "signed" with the public key must not pass (algorithm confusion).
        forged = jwt.encode(claims, JWT_SECRET, algorithm="HS256", headers={"kid": "k1"})
        assert (await secure.post(forged, VIEWER)).status_code == 401
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        foreign = jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k1"})
        assert (await secure.post(foreign, VIEWER)).status_code == 401
        minted = await secure.data(
            admin,
            "mutation($id: ID!) { createCustomerSession(input: {customerId: $id}) "
            "{ token userErrors { code } } }",
            {"id": customer_id},
        )
        assert minted["createCustomerSession"]["userErrors"] == [{"code": "TOKENS_NOT_CONFIGURED"}]
    await app.state.runtime.dispose()


async def test_the_cli_creates_keys_and_customer_tokens(secure: Secure, database_url: str) -> None:
    # One process runs the four commands: each would spend seconds on its imports alone.
    async with cli_process(PAYGATE_DATABASE_URL=database_url) as cli:
        made = await cli.run("create-api-key", "--name", "ops", "--role", "support")
        assert made.returncode == 0, made.stderr
        secret = made.stdout.strip()
        assert secret.startswith("pgk_") and secret not in made.stderr
        assert "errors" not in await secure.body(secret, CUSTOMERS)
        bad = await cli.run("create-api-key", "--name", "x", "--role", "root")
        assert bad.returncode != 0
        customer_id = await new_customer(secure, secret)
        signed = await cli.run("customer-token", customer_id, PAYGATE_AUTH__JWT_SECRET=JWT_SECRET)
        assert signed.returncode == 0, signed.stderr
        # Signed by the real clock: valid for paygate's clock only if it is the real time.
        claims = jwt.decode(
            signed.stdout.strip(), JWT_SECRET, algorithms=["HS256"], audience="paygate"
        )
        assert claims["sub"] == customer_id and claims["exp"] - claims["iat"] == 3600
        unset = await cli.run("customer-token", customer_id)
        assert unset.returncode == 2 and "JWT_SECRET" in unset.stderr
