"""The customers' loaders: customers, and their payment methods."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from functools import cached_property, partial
from typing import Any

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from app.graphql.read.loaders.base import LoaderBase, NarrowLoader, Only, cached_read, in_keys
from app.graphql.read.records import Record, columns
from app.models import Customer, PaymentMethod


class CustomerLoaders(LoaderBase):
    @cached_property
    def customer(self) -> DataLoader[uuid.UUID, Record[Customer] | None]:
        return NarrowLoader(Customer, partial(self._by_id, Customer))

    @cached_property
    def payment_method(self) -> DataLoader[uuid.UUID, Record[PaymentMethod] | None]:
        return NarrowLoader(PaymentMethod, partial(self._by_id, PaymentMethod))

    @cached_property
    def customer_payment_methods(self) -> DataLoader[uuid.UUID, list[Record[PaymentMethod]]]:
        return NarrowLoader(PaymentMethod, self._methods_of_customers)

    def _methods_of_customers(self, only: Only = None) -> Callable[[list[uuid.UUID]], Any]:
        """Attached (not detached) methods, oldest first."""
        only = None if only is None else only | {"customer_id"}
        return partial(self._methods_of, only)

    async def _methods_of(
        self, only: Only, keys: list[uuid.UUID]
    ) -> list[list[Record[PaymentMethod]]]:
        by_customer: dict[uuid.UUID, list[Record[PaymentMethod]]] = defaultdict(list)
        async with self._reads() as source:
            read = cached_read(
                ("customer_payment_methods",),
                source,
                lambda d: (
                    sa.select(*columns(PaymentMethod, only=only))
                    .where(
                        in_keys(PaymentMethod.customer_id, d), PaymentMethod.detached_at.is_(None)
                    )
                    .order_by(PaymentMethod.id)
                ),
                PaymentMethod,
                only=only,
            )
            for method in await read.records(source, {"keys": keys}):
                by_customer[method.customer_id].append(method)
        return [by_customer[key] for key in keys]
