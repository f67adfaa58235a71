"""DataLoaders: one per relation, made fresh for each request. Each batch is one statement,
so the number of SQL round trips depends on the depth of a query, never on list lengths."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.models import Customer, PaymentMethod, Price, Product
from app.models.base import Entity

SessionScope = Callable[[], AbstractAsyncContextManager[AsyncSession]]
E = TypeVar("E", bound=Entity)
# (product id, only active prices?) -> that product's prices
PricesKey = tuple[uuid.UUID, bool | None]


class Loaders:
    def __init__(self, db: SessionScope) -> None:
        self._db = db
        self.customer = DataLoader[uuid.UUID, Customer | None](self._by_id(Customer))
        self.product = DataLoader[uuid.UUID, Product | None](self._by_id(Product))
        self.price = DataLoader[uuid.UUID, Price | None](self._by_id(Price))
        self.product_prices = DataLoader[PricesKey, list[Price]](self._prices_of_products)
        self.payment_method = DataLoader[uuid.UUID, PaymentMethod | None](
            self._by_id(PaymentMethod)
        )
        self.customer_payment_methods = DataLoader[uuid.UUID, list[PaymentMethod]](
            self._methods_of_customers
        )

    def by_type(self, model: type[E]) -> DataLoader[uuid.UUID, Any]:
        loaders: dict[type[Entity], DataLoader[uuid.UUID, Any]] = {
            Customer: self.customer,
            Product: self.product,
            Price: self.price,
            PaymentMethod: self.payment_method,
        }
        return loaders[model]

    def _by_id(self, model: type[E]) -> Callable[[list[uuid.UUID]], Any]:
        async def load(keys: list[uuid.UUID]) -> Sequence[E | None]:
            async with self._db() as session:
                rows = await session.scalars(sa.select(model).where(model.id.in_(keys)))
                found = {row.id: row for row in rows}
            return [found.get(key) for key in keys]

        return load

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

    async def _methods_of_customers(self, keys: list[uuid.UUID]) -> list[list[PaymentMethod]]:
        """Attached (not detached) methods, oldest first."""
        statement = (
            sa.select(PaymentMethod)
            .where(PaymentMethod.customer_id.in_(keys), PaymentMethod.detached_at.is_(None))
            .order_by(PaymentMethod.id)
        )
        by_customer: dict[uuid.UUID, list[PaymentMethod]] = defaultdict(list)
        async with self._db() as session:
            for method in await session.scalars(statement):
                by_customer[method.customer_id].append(method)
        return [by_customer[key] for key in keys]
