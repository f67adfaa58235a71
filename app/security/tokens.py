"""Customer session tokens: JWTs naming one customer, verified with PyJWT.

A deployment either shares an HS256 secret with the service that signs its users in (and
may then also mint tokens through paygate: ``createCustomerSession``, ``paygate
customer-token``), or points paygate at that service's JWKS URL for RS256/ES256 keys.
Issuer, audience and expiry are always required. Expiry is judged by paygate's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

# Algorithms a deployment may choose. "none" and mixed families are never accepted.
SYMMETRIC = ("HS256",)
ASYMMETRIC = ("RS256", "ES256")


class InvalidToken(Exception):
    """The token cannot be accepted. The message is safe to show: it never quotes it."""


@dataclass(frozen=True)
class TokenConfig:
    issuer: str
    audience: str
    secret: str | None = None
    jwks_url: str | None = None
    leeway: timedelta = timedelta(seconds=30)
    customer_claim: str = "sub"

    @property
    def enabled(self) -> bool:
        return bool(self.secret or self.jwks_url)

    @property
    def algorithms(self) -> Sequence[str]:
        return SYMMETRIC if self.secret else ASYMMETRIC


@dataclass(frozen=True)
class CustomerClaims:
    subject: str  # the customer's global ID
    expires_at: datetime


class TokenVerifier:
    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self._jwks = (
            jwt.PyJWKClient(config.jwks_url, lifespan=300, timeout=5)
            if config.jwks_url and not config.secret
            else None
        )

    async def verify(self, token: str, *, now: datetime) -> CustomerClaims:
        config = self.config
        if not config.enabled:
            raise InvalidToken("Customer tokens are not configured on this server.")
        try:
            key: Any = config.secret
            if self._jwks is not None:
                # PyJWKClient fetches over urllib (blocking) and caches the key set.
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key = signing_key.key
            claims = jwt.decode(
                token,
                key,
                algorithms=list(config.algorithms),
                audience=config.audience,
                issuer=config.issuer,
                options={
                    "require": ["exp", "iss", "aud", config.customer_claim],
                    # Times are checked below against paygate's clock.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWKClientError:
            raise InvalidToken("The token's signing key could not be found.") from None
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"Invalid token: {_reason(error)}.") from None
        expires_at = _timestamp(claims["exp"], "exp")
        if expires_at + config.leeway <= now:
            raise InvalidToken("The token has expired.")
        if "nbf" in claims and _timestamp(claims["nbf"], "nbf") - config.leeway > now:
            raise InvalidToken("The token is not valid yet.")
        subject = claims[config.customer_claim]
        if not isinstance(subject, str) or not subject:
            raise InvalidToken(f"The token's `{config.customer_claim}` is not a customer ID.")
        return CustomerClaims(subject=subject, expires_at=expires_at)

    def mint(self, subject: str, *, now: datetime, ttl: timedelta) -> str:
        """An HS256 token for ``subject`` (a customer's global ID)."""
        if not self.config.secret:
            raise InvalidToken(
                "Minting needs PAYGATE_AUTH__JWT_SECRET (with a JWKS URL, your identity "
                "provider signs the tokens)."
            )
        claims = {
            "iss": self.config.issuer,
            "aud": self.config.audience,
            self.config.customer_claim: subject,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        return jwt.encode(claims, self.config.secret, algorithm="HS256")


def _timestamp(value: Any, claim: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"Invalid token: `{claim}` is not a timestamp.")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidToken(f"Invalid token: `{claim}` is out of range.") from None


def _reason(error: jwt.InvalidTokenError) -> str:
    reasons = {
        jwt.InvalidAudienceError: "wrong audience",
        jwt.InvalidIssuerError: "wrong issuer",
        jwt.InvalidAlgorithmError: "algorithm not allowed",
        jwt.InvalidSignatureError: "bad signature",
        jwt.MissingRequiredClaimError: "a required claim is missing",
        jwt.DecodeError: "malformed",
    }
    for kind, reason in reasons.items():
        if isinstance(error, kind):
            return reason
    return "rejected"
