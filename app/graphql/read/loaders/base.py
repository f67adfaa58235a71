"""DataLoaders: one per relation, made fresh for each request. Each batch is one statement,
so the number of SQL round trips depends on the depth of a query, never on list lengths."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from typing import Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.domain.billing import SubscriptionStatus
from app.domain.clock import Clock, SystemClock
from app.domain.payments import PaymentStatus
from app.models import (
    Coupon,
    Customer,
    Dispute,
    Experiment,
    ExperimentVariant,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentEvent,
    PaymentMethod,
    Price,
    Product,
    Refund,
    Subscription,
    SubscriptionItem,
    TaxRate,
    TestClock,
)
from app.models.base import Entity
from app.records import Read, ReadSource, columns
from app.services.experiments import results as results_service

SessionScope = Callable[[], AbstractAsyncContextManager[AsyncSession]]
ReadScope = Callable[[], AbstractAsyncContextManager[ReadSource]]
E = TypeVar("E", bound=Entity)


# Statements built once per process (per dialect), with the batch's keys as one parameter:
# on PostgreSQL ``= ANY(:keys)`` (one array), so the SQL text is the same whatever the
# batch's size and asyncpg's prepared statements hit; elsewhere (SQLite) an expanding
# ``IN``. They read records (``app.records``), not ORM instances: loaders only read.
_READS: dict[tuple[Any, ...], Read] = {}


def _read(
    key: tuple[Any, ...],
    source: ReadSource,
    build: Callable[[str], Any],
    *models: type,
    only: Only = None,
) -> Read:
    """The read statement ``key`` (with ``only``: of those columns) for the source's
    dialect, built on first use."""
    dialect = source.dialect
    full = (*key, only, dialect.name)
    read = _READS.get(full)
    if read is None:
        read = _READS[full] = Read(build(dialect.name), models, dialect, only)
    return read


def _in_keys(column: Any, dialect: str, name: str = "keys") -> Any:
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


K = TypeVar("K")
V = TypeVar("V")
Only = frozenset[str] | None


class NarrowLoader(DataLoader[K, V]):
    """A request loader of ``model``'s rows (whole rows) that can also read them narrowed:
    ``narrowed(only)`` is the loader of the same rows with only the columns in ``only`` (the
    others ``None``, see ``app.records.columns``), made once per request and column set, with
    its own cache (a narrowed row is never handed to a caller that wants the whole row)."""

    def __init__(self, model: type, batch: Callable[[Only], Callable[[list[K]], Any]]) -> None:
        super().__init__(batch(None))
        self.model = model
        self._batch = batch
        self._narrowed: dict[frozenset[str], DataLoader[K, V]] = {}

    def narrowed(self, only: frozenset[str]) -> DataLoader[K, V]:
        loader = self._narrowed.get(only)
        if loader is None:
            loader = self._narrowed[only] = DataLoader(self._batch(only))
        return loader


@dataclass(frozen=True, slots=True)
class PaymentFilter:
    statuses: tuple[PaymentStatus, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """A feature a customer may use now, and the subscription and product granting it."""

    feature: str
    subscription_id: uuid.UUID
    product_id: uuid.UUID


ENTITLING = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


@dataclass(frozen=True, slots=True)
class ChildPage:
    """One page of one parent's children: the key of a page-loading DataLoader."""

    parent: uuid.UUID
    first: int
    after: uuid.UUID | None
    filter: PaymentFilter


# (product id, only active prices?) -> that product's prices
PricesKey = tuple[uuid.UUID, bool | None]
# (parent id, n) -> the parent's n most recent children
LastKey = tuple[uuid.UUID, int]


class Loaders:
    """The request's DataLoaders. Each is made on its first use: a request needs a few of
    them, and making all of them cost more than a small query's execution."""

    # Whether the executor may load batched fields' rows with only the columns their
    # selection reads (``NarrowLoader``); tests compare answers with whole rows.
    narrow = True

    def __init__(self, db: SessionScope, reads: ReadScope, clock: Clock | None = None) -> None:
        self._db = db
        # Where the records' reads run (``app.records``): ``RequestContext.reads``.
        self._reads = reads
        self._clock = clock or SystemClock()

    def release(self) -> None:
        """Drop the loaders made so far, with their caches. A loader's batch function refers
        back to this object, a cycle that only the garbage collector would break: released
        at the end of the request, the rows they hold are freed at once instead, and the
        collector has that much less to walk (it was ~1-2 ms per request)."""
        made = self.__dict__
        kept = {"_db": made["_db"], "_clock": made["_clock"], "_reads": made["_reads"]}
        made.clear()
        made.update(kept)

    @cached_property
    def customer(self) -> DataLoader[uuid.UUID, Customer | None]:
        return NarrowLoader(Customer, partial(self._by_id, Customer))

    @cached_property
    def product(self) -> DataLoader[uuid.UUID, Product | None]:
        return NarrowLoader(Product, partial(self._by_id, Product))

    @cached_property
    def price(self) -> DataLoader[uuid.UUID, Price | None]:
        return NarrowLoader(Price, partial(self._by_id, Price))

    @cached_property
    def product_prices(self) -> DataLoader[PricesKey, list[Price]]:
        return DataLoader(self._prices_of_products)

    @cached_property
    def payment_method(self) -> DataLoader[uuid.UUID, PaymentMethod | None]:
        return NarrowLoader(PaymentMethod, partial(self._by_id, PaymentMethod))

    @cached_property
    def customer_payment_methods(self) -> DataLoader[uuid.UUID, list[PaymentMethod]]:
        return NarrowLoader(PaymentMethod, self._methods_of_customers)

    @cached_property
    def payment(self) -> DataLoader[uuid.UUID, Payment | None]:
        return NarrowLoader(Payment, partial(self._by_id, Payment))

    @cached_property
    def refund(self) -> DataLoader[uuid.UUID, Refund | None]:
        return NarrowLoader(Refund, partial(self._by_id, Refund))

    @cached_property
    def dispute(self) -> DataLoader[uuid.UUID, Dispute | None]:
        return NarrowLoader(Dispute, partial(self._by_id, Dispute))

    @cached_property
    def payment_refunds(self) -> DataLoader[uuid.UUID, list[Refund]]:
        return NarrowLoader(Refund, partial(self._children, Refund, Refund.payment_id, Refund.id))

    @cached_property
    def payment_disputes(self) -> DataLoader[uuid.UUID, list[Dispute]]:
        return NarrowLoader(
            Dispute, partial(self._children, Dispute, Dispute.payment_id, Dispute.id)
        )

    @cached_property
    def subscription(self) -> DataLoader[uuid.UUID, Subscription | None]:
        return NarrowLoader(Subscription, partial(self._by_id, Subscription))

    @cached_property
    def invoice(self) -> DataLoader[uuid.UUID, Invoice | None]:
        return NarrowLoader(Invoice, partial(self._by_id, Invoice))

    @cached_property
    def test_clock(self) -> DataLoader[uuid.UUID, TestClock | None]:
        return NarrowLoader(TestClock, partial(self._by_id, TestClock))

    @cached_property
    def coupon(self) -> DataLoader[uuid.UUID, Coupon | None]:
        return NarrowLoader(Coupon, partial(self._by_id, Coupon))

    @cached_property
    def tax_rate(self) -> DataLoader[uuid.UUID, TaxRate | None]:
        return NarrowLoader(TaxRate, partial(self._by_id, TaxRate))

    @cached_property
    def customer_subscriptions(self) -> DataLoader[uuid.UUID, list[Subscription]]:
        return NarrowLoader(
            Subscription,
            partial(self._children, Subscription, Subscription.customer_id, Subscription.id),
        )

    @cached_property
    def customer_invoices(self) -> DataLoader[uuid.UUID, list[Invoice]]:
        return NarrowLoader(
            Invoice, partial(self._children, Invoice, Invoice.customer_id, Invoice.id)
        )

    @cached_property
    def customer_last_invoices(self) -> DataLoader[LastKey, list[Invoice]]:
        return NarrowLoader(Invoice, partial(self._last_children, Invoice, Invoice.customer_id))

    @cached_property
    def subscription_items(self) -> DataLoader[uuid.UUID, list[SubscriptionItem]]:
        return DataLoader(self._items_of_subscriptions)

    @cached_property
    def subscription_invoices(self) -> DataLoader[uuid.UUID, list[Invoice]]:
        return NarrowLoader(
            Invoice, partial(self._children, Invoice, Invoice.subscription_id, Invoice.id)
        )

    @cached_property
    def subscription_last_invoices(self) -> DataLoader[LastKey, list[Invoice]]:
        return NarrowLoader(Invoice, partial(self._last_children, Invoice, Invoice.subscription_id))

    @cached_property
    def invoice_lines(self) -> DataLoader[uuid.UUID, list[InvoiceLine]]:
        return NarrowLoader(
            InvoiceLine,
            partial(self._children, InvoiceLine, InvoiceLine.invoice_id, InvoiceLine.id),
        )

    @cached_property
    def invoice_payments(self) -> DataLoader[uuid.UUID, list[Payment]]:
        return NarrowLoader(
            Payment, partial(self._children, Payment, Payment.invoice_id, Payment.id)
        )

    @cached_property
    def customer_payments(self) -> DataLoader[ChildPage, list[Payment]]:
        return DataLoader(self._payment_pages)

    @cached_property
    def customer_entitlements(self) -> DataLoader[uuid.UUID, list[Grant]]:
        return DataLoader(self._entitlements)

    @cached_property
    def customer_payment_counts(self) -> DataLoader[tuple[uuid.UUID, PaymentFilter], int]:
        return DataLoader(self._payment_counts)

    @cached_property
    def payment_events(self) -> DataLoader[uuid.UUID, list[PaymentEvent]]:
        return NarrowLoader(
            PaymentEvent,
            partial(self._children, PaymentEvent, PaymentEvent.payment_id, PaymentEvent.id),
        )

    @cached_property
    def experiment(self) -> DataLoader[uuid.UUID, Experiment | None]:
        return NarrowLoader(Experiment, partial(self._by_id, Experiment))

    @cached_property
    def experiment_variant(self) -> DataLoader[uuid.UUID, ExperimentVariant | None]:
        return NarrowLoader(ExperimentVariant, partial(self._by_id, ExperimentVariant))

    @cached_property
    def experiment_variants(self) -> DataLoader[uuid.UUID, list[ExperimentVariant]]:
        return NarrowLoader(
            ExperimentVariant,
            partial(
                self._children,
                ExperimentVariant,
                ExperimentVariant.experiment_id,
                ExperimentVariant.position,
            ),
        )

    # (experiment id, CUPED?) -> its results: one batch of statements for any number
    @cached_property
    def experiment_results(
        self,
    ) -> DataLoader[tuple[uuid.UUID, bool], results_service.ExperimentResults]:
        return DataLoader(self._experiment_results)

    def _by_id(self, model: type[E], only: Only = None) -> Callable[[list[uuid.UUID]], Any]:
        async def load(keys: list[uuid.UUID]) -> Sequence[E | None]:
            async with self._reads() as source:
                read = _read(
                    ("by_id", model),
                    source,
                    lambda d: sa.select(*columns(model, only=only)).where(_in_keys(model.id, d)),
                    model,
                    only=only,
                )
                found = {row.id: row for row in await read.records(source, {"keys": keys})}
            return [found.get(key) for key in keys]

        return load

    def _children(
        self, model: type[Any], parent: Any, order: Any, only: Only = None
    ) -> Callable[[list[uuid.UUID]], Any]:
        """Rows of ``model`` per parent key, in ``order``: one statement per batch."""
        only = None if only is None else only | {parent.key}

        async def load(keys: list[uuid.UUID]) -> list[list[Any]]:
            by_parent: dict[uuid.UUID, list[Any]] = defaultdict(list)
            async with self._reads() as source:
                read = _read(
                    ("children", model, parent.key, order.key),
                    source,
                    lambda d: (
                        sa.select(*columns(model, only=only))
                        .where(_in_keys(parent, d))
                        .order_by(order)
                    ),
                    model,
                    only=only,
                )
                for row in await read.records(source, {"keys": keys}):
                    by_parent[getattr(row, parent.key)].append(row)
            return [by_parent[key] for key in keys]

        return load

    async def _experiment_results(
        self, keys: list[tuple[uuid.UUID, bool]]
    ) -> list[results_service.ExperimentResults]:
        found: dict[tuple[uuid.UUID, bool], results_service.ExperimentResults] = {}
        for cuped in {c for _, c in keys}:
            ids = [key for key, c in keys if c is cuped]
            async with self._db() as session:
                batch = await results_service.compute_many(
                    session, clock=self._clock, experiment_ids=ids, use_cuped=cuped
                )
            found.update({(key, cuped): value for key, value in batch.items()})
        return [found[key] for key in keys]

    def _last_children(
        self, model: type[Any], parent: Any, only: Only = None
    ) -> Callable[[list[LastKey]], Any]:
        """The ``n`` most recent rows of ``model`` per parent (by time-ordered key), oldest
        first: one statement per distinct ``n``, ranking each parent's rows with a window
        function (PostgreSQL and SQLite)."""
        only = None if only is None else only | {parent.key}

        async def load(keys: list[LastKey]) -> list[list[Any]]:
            parents_of: dict[int, list[uuid.UUID]] = defaultdict(list)
            for parent_key, n in keys:
                parents_of[n].append(parent_key)
            found: dict[LastKey, list[Any]] = defaultdict(list)

            def build(dialect: str) -> Any:
                rank = sa.func.row_number().over(partition_by=parent, order_by=model.id.desc())
                inner = (
                    sa.select(*columns(model), rank.label("rank")).where(_in_keys(parent, dialect))
                ).subquery()
                return (
                    sa.select(*columns(model, inner, only))
                    .where(inner.c.rank <= sa.bindparam("n"))
                    .order_by(inner.c[parent.key], inner.c.id)
                )

            async with self._reads() as source:
                read = _read(("last", model, parent.key), source, build, model, only=only)
                for n, parents in parents_of.items():
                    if n <= 0:
                        continue
                    for row in await read.records(source, {"keys": parents, "n": n}):
                        found[(getattr(row, parent.key), n)].append(row)
            return [found[key] for key in keys]

        return load

    async def _items_of_subscriptions(self, keys: list[uuid.UUID]) -> list[list[SubscriptionItem]]:
        """Items with their prices in the same statement: an item is the link between a
        subscription and a price, and is hardly ever read without it. The prices prime the
        request's price loader, so ``items { price }`` costs no statement of its own."""
        by_subscription: dict[uuid.UUID, list[SubscriptionItem]] = defaultdict(list)
        async with self._reads() as source:
            read = _read(
                ("subscription_items",),
                source,
                lambda d: (
                    sa.select(*columns(SubscriptionItem), *columns(Price))
                    .join_from(SubscriptionItem, Price, Price.id == SubscriptionItem.price_id)
                    .where(_in_keys(SubscriptionItem.subscription_id, d))
                    .order_by(SubscriptionItem.id)
                ),
                SubscriptionItem,
                Price,
            )
            for item, price in await read.rows(source, {"keys": keys}):
                by_subscription[item.subscription_id].append(item)
                self.price.prime(price.id, price)
        return [by_subscription[key] for key in keys]

    async def _prices_of_products(self, keys: list[PricesKey]) -> list[list[Price]]:
        by_key: dict[PricesKey, list[Price]] = defaultdict(list)
        product_ids = {product for product, _ in keys}
        statement = sa.select(Price).where(Price.product_id.in_(product_ids)).order_by(Price.id)
        async with self._db() as session:
            prices = (await session.scalars(statement)).all()
        for price in prices:
            for active in (None, price.active):
                by_key[(price.product_id, active)].append(price)
        return [by_key[key] for key in keys]

    def _methods_of_customers(self, only: Only = None) -> Callable[[list[uuid.UUID]], Any]:
        """Attached (not detached) methods, oldest first."""
        only = None if only is None else only | {"customer_id"}
        return partial(self._methods_of, only)

    async def _methods_of(self, only: Only, keys: list[uuid.UUID]) -> list[list[PaymentMethod]]:
        by_customer: dict[uuid.UUID, list[PaymentMethod]] = defaultdict(list)
        async with self._reads() as source:
            read = _read(
                ("customer_payment_methods",),
                source,
                lambda d: (
                    sa.select(*columns(PaymentMethod, only=only))
                    .where(
                        _in_keys(PaymentMethod.customer_id, d), PaymentMethod.detached_at.is_(None)
                    )
                    .order_by(PaymentMethod.id)
                ),
                PaymentMethod,
                only=only,
            )
            for method in await read.records(source, {"keys": keys}):
                by_customer[method.customer_id].append(method)
        return [by_customer[key] for key in keys]

    async def _entitlements(self, keys: list[uuid.UUID]) -> list[list[Grant]]:
        """Features of the products of live subscriptions (past due keeps them: grace)."""
        statement = (
            sa.select(Subscription.customer_id, Subscription.id, Product.id, Product.features)
            .join(SubscriptionItem, SubscriptionItem.subscription_id == Subscription.id)
            .join(Price, Price.id == SubscriptionItem.price_id)
            .join(Product, Product.id == Price.product_id)
            .where(Subscription.customer_id.in_(keys), Subscription.status.in_(ENTITLING))
            .order_by(Subscription.id, Product.id)
        )
        grants: dict[uuid.UUID, dict[str, Grant]] = defaultdict(dict)
        async with self._db() as session:
            for customer_id, subscription_id, product_id, features in await session.execute(
                statement
            ):
                for feature in features:
                    grants[customer_id].setdefault(
                        feature, Grant(feature, subscription_id, product_id)
                    )
        return [sorted(grants[key].values(), key=lambda g: g.feature) for key in keys]

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
