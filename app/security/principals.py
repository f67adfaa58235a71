"""Principals: the caller of a request, as established from its credentials.

Three kinds: a server API key with one role (back office, server to server), a customer
session (a signed JWT naming one customer, for web and mobile frontends), and anonymous
callers. Access policies are written in terms of *actors*: the five roles plus ``customer``
and ``anonymous``.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class Role(enum.Enum):
    """What an API key may do (see the README's role table)."""

    ADMIN = "admin"
    SUPPORT = "support"
    FINANCE = "finance"
    GROWTH = "growth"
    READONLY = "readonly"


class Actor(enum.Enum):
    """The unit of access policies: a role, a customer session, or nobody in particular."""

    ADMIN = "admin"
    SUPPORT = "support"
    FINANCE = "finance"
    GROWTH = "growth"
    READONLY = "readonly"
    CUSTOMER = "customer"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``scope`` partitions idempotency keys and rate limits by caller."""

    actor: Actor
    scope: str
    customer_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None

    @classmethod
    def api_key(cls, key_id: uuid.UUID, role: Role) -> Principal:
        return cls(Actor(role.value), f"key:{key_id}", key_id=key_id)

    @classmethod
    def customer(cls, customer_id: uuid.UUID) -> Principal:
        return cls(Actor.CUSTOMER, f"customer:{customer_id}", customer_id=customer_id)

    @classmethod
    def anonymous(cls, client: str, role: Role | None = None) -> Principal:
        """A caller without credentials: ``role`` is what the deployment grants them (the
        development profile grants admin so that GraphiQL works out of the box)."""
        actor = Actor.ANONYMOUS if role is None else Actor(role.value)
        return cls(actor, f"anonymous:{client}")

    @property
    def kind(self) -> Actor:
        """What metrics and logs may say about the caller (never who it is)."""
        return self.actor

    @property
    def is_customer(self) -> bool:
        return self.actor is Actor.CUSTOMER

    @property
    def is_staff(self) -> bool:
        return self.actor not in (Actor.CUSTOMER, Actor.ANONYMOUS)

    def __str__(self) -> str:
        return f"{self.scope} ({self.actor.value})"
