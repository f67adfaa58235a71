"""The `idempotencyKey` every mutation input takes, and how payload fields holding a secret
are marked (they are never stored for a replay). The README's "Idempotency keys" lists which
mutations require a key."""

from typing import Any

import strawberry

IDEMPOTENCY_KEY = (
    "Your unique key for this operation (a UUID v4). Retrying with the same key and input "
    "replays the first result for 24 hours and never moves money twice; the same key with "
    "another input is refused (`IDEMPOTENCY_KEY_REUSED`)."
)

OPTIONAL_IDEMPOTENCY_KEY = (
    "Optional: your unique key for this operation (a UUID v4). Retrying with the same key "
    "and input replays the first result for 24 hours and changes nothing twice; the same "
    "key with another input is refused (`IDEMPOTENCY_KEY_REUSED`)."
)

# The metadata key that marks a field shown once.
SECRET_MARK = "paygate_secret"  # noqa: S105 - a name, not a secret


def required_key() -> Any:
    """The field of a mutation that moves money or creates a billable record."""
    return strawberry.field(description=IDEMPOTENCY_KEY)


def optional_key() -> Any:
    """The field of every other mutation."""
    return strawberry.field(default=None, description=OPTIONAL_IDEMPOTENCY_KEY)


def secret_field(description: str) -> Any:
    """A payload field shown once: never stored with the key's result, so a replay answers
    it as null with a `SECRET_NOT_REPLAYED` user error."""
    return strawberry.field(
        description=f"{description} Shown in this response only: a replay with the same "
        "idempotency key answers null (`SECRET_NOT_REPLAYED`).",
        metadata={SECRET_MARK: True},
    )
