"""Per-caller rate limits on mutations, with the `limits` library.

Two budgets, both per principal scope (an API key, a customer, or a client address): one for
every mutation, and a tighter one for mutations that carry guessable inputs, such as coupon
codes, so that codes cannot be enumerated. Counters live in memory by default; give a
Redis URI when several processes serve the API.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

# Input fields whose values an attacker might try to guess.
GUESSABLE_FIELDS = frozenset({"couponCode"})


@dataclass(frozen=True)
class Refusal:
    budget: str
    limit: str
    retry_after_seconds: int


class RateLimits:
    def __init__(self, *, mutations: str, guessable: str, storage: str) -> None:
        uri = storage if storage.startswith("async+") else f"async+{storage}"
        self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(uri))
        self._budgets: dict[str, RateLimitItem] = {
            "mutations": parse(mutations),
            "guessable": parse(guessable),
        }

    async def hit(self, scope: str, *, guessable: bool) -> Refusal | None:
        """Count one mutation of ``scope``; a refusal when a budget is spent."""
        names = ("mutations", "guessable") if guessable else ("mutations",)
        for name in names:
            item = self._budgets[name]
            if not await self._limiter.hit(item, "paygate", name, scope):
                stats = await self._limiter.get_window_stats(item, "paygate", name, scope)
                wait = max(1, int(stats.reset_time - time.time()) + 1)
                return Refusal(budget=name, limit=str(item), retry_after_seconds=wait)
        return None
