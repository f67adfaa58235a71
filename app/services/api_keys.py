"""Server API keys: create (the secret is returned once), authenticate, revoke, list.

A key reads ``pgk_<prefix>_<secret>``: the prefix finds the row and may be displayed; the
whole key's SHA-256 digest is stored and compared in constant time. (A fast digest is
right here: the secret is 256 random bits, not a password.) Verified keys are cached per
process for ``key_cache_seconds``, so authentication costs no query on most requests and
a revocation takes effect within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.models import ApiKey
from app.security.principals import Role

KEY_PREFIX = "pgk_"
_PREFIX_LENGTH = 12
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: read aloud to support


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _split(token: str) -> tuple[str, str] | None:
    """The prefix and secret of a well-formed key, else ``None``."""
    if not token.startswith(KEY_PREFIX):
        return None
    body = token[len(KEY_PREFIX) :]
    prefix, separator = body[:_PREFIX_LENGTH], body[_PREFIX_LENGTH : _PREFIX_LENGTH + 1]
    secret = body[_PREFIX_LENGTH + 1 :]
    if separator != "_" or len(secret) < 32 or len(token) > 128:
        return None
    if any(c not in _ALPHABET for c in prefix):
        return None
    return prefix, secret


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKey
    secret: str  # the whole key: shown once, never stored


async def create_key(
    session: AsyncSession, *, clock: Clock, name: str | None, role: Role
) -> CreatedKey:
    problems = Problems()
    cleaned = check.text(problems, name, "name", max_length=100, required=True)
    problems.raise_if_any()
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(_PREFIX_LENGTH))
    token = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    now = clock.now()
    row = ApiKey(
        name=cleaned,
        role=role,
        prefix=prefix,
        secret_digest=_digest(token),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.commit()
    return CreatedKey(row=row, secret=token)


async def revoke_key(session: AsyncSession, *, clock: Clock, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key; revoking a revoked key changes nothing."""
    row = await session.get(ApiKey, key_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such API key.", ("apiKeyId",)))
    if row.revoked_at is None:
        row.revoked_at = row.updated_at = clock.now()
        await session.commit()
    return row


def keys_query() -> sa.Select[ApiKey]:
    return sa.select(ApiKey)


@dataclass(frozen=True)
class VerifiedKey:
    key_id: uuid.UUID
    role: Role


class KeyAuthenticator:
    """Checks presented keys against the database, with a short per-process cache of
    verified digests (never of the keys themselves)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_seconds: float) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, VerifiedKey | None]] = {}

    async def verify(self, token: str) -> VerifiedKey | None:
        parts = _split(token)
        if parts is None:
            return None
        digest = _digest(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        async with self._sessions() as session:
            row = (
                await session.execute(sa.select(ApiKey).where(ApiKey.prefix == parts[0]))
            ).scalar_one_or_none()
        verified = None
        if (
            row is not None
            and row.revoked_at is None
            and hmac.compare_digest(row.secret_digest, digest)
        ):
            verified = VerifiedKey(key_id=row.id, role=row.role)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, verified)
        return verified

    def forget(self) -> None:
        """Drop the cache (a revocation in this process takes effect at once)."""
        self._cache.clear()
