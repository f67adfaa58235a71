"""Row-level access: which objects a principal may reach.

Field policies (``app/security/policy.py``) say *which fields* an actor may select; this
module says *which rows*. Staff roles reach every row. A customer session reaches its own
customer and what hangs off it, and the public catalog; anonymous callers only the
catalog. Every root that returns objects by ID goes through :func:`can_see`, and every
self-service mutation resolves its IDs with :func:`owned_key`; nested edges start from an
object already checked and follow the customer's own relations.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import models
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.graphql.read.loaders import Loaders
from app.resolvers.common import Info, key_of
from app.security.principals import Principal

# Types anyone may read (the price catalog).
PUBLIC_TYPES = frozenset({"Product", "Price"})


async def _payment_owner(loaders: Loaders, payment_id: uuid.UUID) -> uuid.UUID | None:
    payment = await loaders.payment.load(payment_id)
    return None if payment is None else payment.customer_id


async def _direct(_: Loaders, row: Any) -> uuid.UUID | None:
    owner: uuid.UUID | None = row.customer_id
    return owner


async def _self(_: Loaders, row: Any) -> uuid.UUID | None:
    key: uuid.UUID = row.id
    return key


async def _via_payment(loaders: Loaders, row: Any) -> uuid.UUID | None:
    return await _payment_owner(loaders, row.payment_id)


# Types a customer may own -> how to find the owning customer of a row.
OWNER_OF: dict[str, Callable[[Loaders, Any], Awaitable[uuid.UUID | None]]] = {
    "Customer": _self,
    "PaymentMethod": _direct,
    "Payment": _direct,
    "Subscription": _direct,
    "Invoice": _direct,
    "CreditNote": _direct,
    "Refund": _via_payment,
    "Dispute": _via_payment,
}


async def can_see(principal: Principal, loaders: Loaders, type_name: str, row: Any) -> bool:
    if principal.is_staff or type_name in PUBLIC_TYPES:
        return True
    if not principal.is_customer or type_name not in OWNER_OF:
        return False
    return await OWNER_OF[type_name](loaders, row) == principal.customer_id


_MODELS: dict[str, type[Any]] = {
    "Customer": models.Customer,
    "PaymentMethod": models.PaymentMethod,
    "Payment": models.Payment,
    "Subscription": models.Subscription,
    "Invoice": models.Invoice,
    "CreditNote": models.CreditNote,
    "Refund": models.Refund,
    "Dispute": models.Dispute,
}


async def owned_key(
    info: Info, session: AsyncSession, global_id: str, expected: str, *field: str
) -> uuid.UUID:
    """The key of an object the caller may act on. For a customer session it must be its
    own: anything else is reported exactly like an unknown ID (no existence oracle).
    Reads through the mutation's own session (a DataLoader would wait for it)."""
    key = key_of(global_id, expected, *field)
    principal = info.context.principal
    if principal.is_staff:
        return key
    owner = None
    if expected in _MODELS:
        row = await session.get(_MODELS[expected], key)
        if row is not None:
            if expected == "Customer":
                owner = row.id
            elif expected in ("Refund", "Dispute"):
                payment = await session.get(models.Payment, row.payment_id)
                owner = None if payment is None else payment.customer_id
            else:
                owner = row.customer_id
    if owner is None or owner != principal.customer_id:
        raise UserInputError(
            Problem(ErrorCode.NOT_FOUND, f"No such {_words(expected)}.", tuple(field))
        )
    return key


def _words(type_name: str) -> str:
    return "".join(f" {c.lower()}" if c.isupper() else c for c in type_name).strip()
