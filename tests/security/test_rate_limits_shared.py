"""Rate limits kept in Redis: two processes' limiters spend one budget per caller."""

from __future__ import annotations

import uuid

from app.security.ratelimit import RateLimits


async def test_two_limiters_on_one_redis_share_each_callers_budget() -> None:
    def limiter() -> RateLimits:
        return RateLimits(
            mutations="3/minute",
            guessable="1/minute",
            storage="redis://127.0.0.1:6379/0",
            queries={"staff": "10/minute"},
        )

    first, second = limiter(), limiter()  # as two API replicas build them
    caller, other = f"key:{uuid.uuid4()}", f"key:{uuid.uuid4()}"
    refusals = [
        await (first if n % 2 == 0 else second).hit(caller, guessable=False) for n in range(4)
    ]
    assert refusals[:3] == [None, None, None]
    refused = refusals[3]
    assert refused is not None and refused.budget == "mutations"
    assert 1 <= refused.retry_after_seconds <= 61
    assert await second.hit(other, guessable=False) is None  # a budget per caller

    assert await first.spend(caller, "staff", 6) is None
    spent = await second.spend(caller, "staff", 6)  # 12 of 10, counted across both
    assert spent is not None and spent.budget == "queries"
