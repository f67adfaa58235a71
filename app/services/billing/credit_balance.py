"""Customers' credit balances, one per currency: credit notes add to them, and each
invoice finalized later uses what is there before the customer is charged (Stripe's
customer balance: "applied to the next invoice when it is finalized").

Every change takes the balance's row lock and writes one append-only movement
(``customer_balance_transactions``) with the balance it leaves.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.ids import new_id
from app.models import CustomerBalance, CustomerBalanceTransaction, Invoice


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(CustomerBalance)


async def locked(
    session: AsyncSession, customer_id: uuid.UUID, currency: str, now: datetime
) -> CustomerBalance:
    """The customer's balance in ``currency`` (made at zero if it has none), locked."""
    await session.execute(
        _insert(session)
        .values(
            id=new_id(),
            customer_id=customer_id,
            currency=currency,
            balance_minor=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    balance = await session.scalar(
        sa.select(CustomerBalance)
        .where(CustomerBalance.customer_id == customer_id, CustomerBalance.currency == currency)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert balance is not None
    return balance


def move(
    session: AsyncSession,
    balance: CustomerBalance,
    amount: int,
    now: datetime,
    *,
    credit_note_id: uuid.UUID | None = None,
    invoice_id: uuid.UUID | None = None,
) -> None:
    """Change a locked balance by ``amount`` (never below zero: a CHECK holds it)."""
    balance.balance_minor += amount
    balance.updated_at = now
    session.add(
        CustomerBalanceTransaction(
            id=new_id(),
            customer_id=balance.customer_id,
            currency=balance.currency,
            amount_minor=amount,
            balance_after_minor=balance.balance_minor,
            credit_note_id=credit_note_id,
            invoice_id=invoice_id,
            created_at=now,
            updated_at=now,
        )
    )


async def apply_to(session: AsyncSession, invoice: Invoice, now: datetime) -> None:
    """At finalization: the customer's balance in the invoice's currency pays what it can
    of the invoice (``balanceApplied``)."""
    due = invoice.total_minor - invoice.amount_paid_minor - invoice.amount_credited_minor
    if due <= 0:
        return
    has_balance = await session.scalar(
        sa.select(CustomerBalance.balance_minor).where(
            CustomerBalance.customer_id == invoice.customer_id,
            CustomerBalance.currency == invoice.currency,
            CustomerBalance.balance_minor > 0,
        )
    )
    if not has_balance:  # most customers: no lock taken
        return
    balance = await locked(session, invoice.customer_id, invoice.currency, now)
    used = min(balance.balance_minor, due)
    if used > 0:
        move(session, balance, -used, now, invoice_id=invoice.id)
        invoice.balance_applied_minor += used
