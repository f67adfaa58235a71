"""Webhooks to merchants: the vocabulary and the retry schedule, as plain rules.

Deliveries follow the Standard Webhooks specification (https://www.standardwebhooks.com/,
"Retry schedule", "Disabling failing endpoints", "410 Gone"): retried with exponential
back-off, at least once, an endpoint that answers 410 Gone is disabled at once, and one
that has failed for days on end is disabled too.
"""

from __future__ import annotations

import enum
import random
from datetime import timedelta


class DeliveryStatus(enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DisabledReason(enum.Enum):
    MANUAL = "manual"  # updateWebhookEndpoint(enabled: false)
    GONE = "gone"  # the endpoint answered 410 Gone
    FAILING = "failing"  # every attempt failed for `disable_after` (3 days)


SECRET_PREFIX = "whsec_"  # noqa: S105 - Standard Webhooks' (and Svix's) prefix of a symmetric secret
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes
MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 500
MAX_ERROR_LENGTH = 300


def backoff(
    attempts: int,
    *,
    base: timedelta,
    cap: timedelta,
    rng: random.Random | None = None,
) -> timedelta:
    """The wait before the next attempt after ``attempts`` failed ones: exponential back-off
    with full jitter (a uniform draw below ``base * 2**(attempts-1)``, capped), which spreads
    the retries of many deliveries that failed together (AWS Architecture Blog, "Exponential
    Backoff And Jitter")."""
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** max(attempts - 1, 0))
    draw = (rng or random).uniform(0, ceiling)
    return timedelta(seconds=max(draw, 1.0))


def is_success(status_code: int) -> bool:
    """Standard Webhooks: any 2xx acknowledges a message; a redirect is not followed and
    counts as a failure."""
    return 200 <= status_code < 300


GONE = 410
