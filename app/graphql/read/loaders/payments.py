"""The payments' loaders: payments with their refunds, disputes and events, an invoice's
payments, and pages and counts of a customer's payments."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from strawberry.dataloader import DataLoader

from app.domain.payments import PaymentStatus
from app.graphql.read.loaders.base import LoaderBase, NarrowLoader
from app.graphql.read.records import Record
from app.models import Dispute, Payment, PaymentEvent, Refund, RiskAttempt


@dataclass(frozen=True, slots=True)
class PaymentFilter:
    statuses: tuple[PaymentStatus, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChildPage:
    """One page of one parent's children: the key of a page-loading DataLoader."""

    parent: uuid.UUID
    first: int
    after: uuid.UUID | None
    filter: PaymentFilter


class PaymentLoaders(LoaderBase):
    @cached_property
    def payment(self) -> DataLoader[uuid.UUID, Record[Payment] | None]:
        return NarrowLoader(Payment, partial(self._by_id, Payment))

    @cached_property
    def refund(self) -> DataLoader[uuid.UUID, Record[Refund] | None]:
        return NarrowLoader(Refund, partial(self._by_id, Refund))

    @cached_property
    def dispute(self) -> DataLoader[uuid.UUID, Record[Dispute] | None]:
        return NarrowLoader(Dispute, partial(self._by_id, Dispute))

    @cached_property
    def payment_refunds(self) -> DataLoader[uuid.UUID, list[Record[Refund]]]:
        return NarrowLoader(Refund, partial(self._children, Refund, Refund.payment_id, Refund.id))

    @cached_property
    def payment_disputes(self) -> DataLoader[uuid.UUID, list[Record[Dispute]]]:
        return NarrowLoader(
            Dispute, partial(self._children, Dispute, Dispute.payment_id, Dispute.id)
        )

    @cached_property
    def payment_risk(self) -> DataLoader[uuid.UUID, list[Record[RiskAttempt]]]:
        """The risk rules' judgement of a payment: one attempt row at most."""
        return NarrowLoader(
            RiskAttempt,
            partial(self._children, RiskAttempt, RiskAttempt.payment_id, RiskAttempt.id),
        )

    @cached_property
    def payment_events(self) -> DataLoader[uuid.UUID, list[Record[PaymentEvent]]]:
        return NarrowLoader(
            PaymentEvent,
            partial(self._children, PaymentEvent, PaymentEvent.payment_id, PaymentEvent.id),
        )

    @cached_property
    def invoice_payments(self) -> DataLoader[uuid.UUID, list[Record[Payment]]]:
        return NarrowLoader(
            Payment, partial(self._children, Payment, Payment.invoice_id, Payment.id)
        )

    @cached_property
    def customer_payments(self) -> DataLoader[ChildPage, list[Payment]]:
        """Pages of a customer's payments: ORM rows, through the request's session."""
        return DataLoader(self._payment_pages)

    @cached_property
    def customer_payment_counts(self) -> DataLoader[tuple[uuid.UUID, PaymentFilter], int]:
        return DataLoader(self._payment_counts)

    async def _payment_pages(self, keys: list[ChildPage]) -> list[list[Payment]]:
        """Pages of several customers' payments: one statement per distinct page shape,
        ranking each customer's rows with a window function."""
        pages: dict[ChildPage, list[Payment]] = {}
        shapes: dict[tuple[int, uuid.UUID | None, PaymentFilter], list[uuid.UUID]] = {}
        for key in keys:
            shapes.setdefault((key.first, key.after, key.filter), []).append(key.parent)
        async with self._db() as session:
            for (first, after, filter_), parents in shapes.items():
                ranked = (
                    _filtered_payments(filter_)
                    .add_columns(
                        sa.func.row_number()
                        .over(partition_by=Payment.customer_id, order_by=Payment.id.desc())
                        .label("rank")
                    )
                    .where(Payment.customer_id.in_(parents))
                )
                if after is not None:
                    ranked = ranked.where(Payment.id < after)
                inner = ranked.subquery()
                aliased = sa.orm.aliased(Payment, inner)
                statement = (
                    sa.select(aliased)
                    .where(inner.c.rank <= first + 1)
                    .order_by(inner.c.customer_id, inner.c.id.desc())
                )
                grouped: dict[uuid.UUID, list[Payment]] = defaultdict(list)
                for row in await session.scalars(statement):
                    grouped[row.customer_id].append(row)
                for parent in parents:
                    pages[ChildPage(parent, first, after, filter_)] = grouped[parent]
        return [pages[key] for key in keys]

    async def _payment_counts(self, keys: list[tuple[uuid.UUID, PaymentFilter]]) -> list[int]:
        counts: dict[tuple[uuid.UUID, PaymentFilter], int] = {}
        by_filter: dict[PaymentFilter, list[uuid.UUID]] = defaultdict(list)
        for parent, filter_ in keys:
            by_filter[filter_].append(parent)
        async with self._db() as session:
            for filter_, parents in by_filter.items():
                statement = (
                    sa.select(Payment.customer_id, sa.func.count())
                    .where(Payment.customer_id.in_(parents))
                    .group_by(Payment.customer_id)
                )
                statement = _apply_payment_filter(statement, filter_)
                found = {parent: count for parent, count in await session.execute(statement)}
                for parent in parents:
                    counts[(parent, filter_)] = found.get(parent, 0)
        return [counts[key] for key in keys]


def _apply_payment_filter(statement: Any, filter_: PaymentFilter) -> Any:
    if filter_.statuses:
        statement = statement.where(Payment.status.in_(filter_.statuses))
    if filter_.created_after is not None:
        statement = statement.where(Payment.created_at > filter_.created_after)
    if filter_.created_before is not None:
        statement = statement.where(Payment.created_at < filter_.created_before)
    return statement


def _filtered_payments(filter_: PaymentFilter) -> Any:
    return _apply_payment_filter(sa.select(Payment), filter_)
