"""Per-caller rate limits, with the `limits` library.

Budgets per principal scope (an API key, a customer, or a client address): one for every
mutation, a tighter one for mutations that carry guessable inputs, such as coupon codes, so
that codes cannot be enumerated, and one for queries, spent by each query's estimated cost
(``app.security.cost``), with a limit per tier of caller (anonymous, customer, staff,
admin). Counters live in memory by default; give a Redis URI (``redis://host:6379/0``) when
several processes serve the API, so that a caller's budget is one across them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

_MAX_KEYS = 10_000
# Input fields whose values an attacker might try to guess.
GUESSABLE_FIELDS = frozenset({"couponCode", "promotionCode"})
# Mutations whose whole input is a guess (a code checked at checkout).
GUESSABLE_MUTATIONS = frozenset({"validatePromotionCode"})


@dataclass(frozen=True)
class Refusal:
    budget: str
    limit: str
    retry_after_seconds: int


class RateLimits:
    def __init__(
        self,
        *,
        mutations: str,
        guessable: str,
        storage: str,
        queries: Mapping[str, str] | None = None,
    ) -> None:
        uri = storage if storage.startswith("async+") else f"async+{storage}"
        # Redis through redis-py (``redis.asyncio``), the client paygate depends on; limits
        # would otherwise ask for coredis.
        redis = uri.startswith(("async+redis", "async+rediss"))
        options = {"implementation": "redispy"} if redis else {}
        self._storage: Any = storage_from_string(uri, **options)
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._budgets: dict[str, RateLimitItem] = {
            "mutations": parse(mutations),
            "guessable": parse(guessable),
        }
        # tier -> the query cost its callers may spend
        self._queries = {tier: parse(limit) for tier, limit in (queries or {}).items()}
        # (tier, scope) -> its counter's key in the storage (``RateLimitItem.key_for``, made
        # once per caller rather than once per query); at most _MAX_KEYS
        self._keys: dict[tuple[str, str], str] = {}

    async def hit(self, scope: str, *, guessable: bool) -> Refusal | None:
        """Count one mutation of ``scope``; a refusal when a budget is spent."""
        names = ("mutations", "guessable") if guessable else ("mutations",)
        for name in names:
            item = self._budgets[name]
            if not await self._limiter.hit(item, "paygate", name, scope):
                return await self._refusal(item, name, scope)
        return None

    def query_limit(self, tier: str) -> str:
        """The query cost a caller of ``tier`` may spend (``"100000 per 1 minute"``), or
        ``"none"``."""
        item = self._queries.get(tier)
        return "none" if item is None else str(item)

    async def spend(self, scope: str, tier: str, cost: int) -> Refusal | None:
        """Spend ``cost`` (at least 1) of the query budget of ``scope``, a caller of
        ``tier``; a refusal when it is spent. A tier without a limit spends nothing."""
        item = self._queries.get(tier)
        if item is None:
            return None
        key = self._keys.get((tier, scope))
        if key is None:
            if len(self._keys) >= _MAX_KEYS:
                self._keys.clear()
            key = self._keys[(tier, scope)] = item.key_for("paygate", "queries", scope)
        # The sliding window counter's hit (``SlidingWindowCounterRateLimiter.hit``), on the
        # storage with the key made above.
        if not await self._storage.acquire_sliding_window_entry(
            key, item.amount, item.get_expiry(), max(cost, 1)
        ):
            return await self._refusal(item, "queries", scope)
        return None

    async def _refusal(self, item: RateLimitItem, name: str, scope: str) -> Refusal:
        stats = await self._limiter.get_window_stats(item, "paygate", name, scope)
        wait = max(1, int(stats.reset_time - time.time()) + 1)
        return Refusal(budget=name, limit=str(item), retry_after_seconds=wait)
