"""The catalog's loaders: products and their prices."""

from __future__ import annotations

import uuid
from collections import defaultdict
from functools import cached_property, partial

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from app.graphql.read.loaders.base import LoaderBase, NarrowLoader
from app.graphql.read.records import Record
from app.models import Meter, Price, Product

# (product id, only active prices?) -> that product's prices
PricesKey = tuple[uuid.UUID, bool | None]


class CatalogLoaders(LoaderBase):
    @cached_property
    def product(self) -> DataLoader[uuid.UUID, Record[Product] | None]:
        return NarrowLoader(Product, partial(self._by_id, Product))

    @cached_property
    def price(self) -> DataLoader[uuid.UUID, Record[Price] | None]:
        return NarrowLoader(Price, partial(self._by_id, Price))

    @cached_property
    def meter(self) -> DataLoader[uuid.UUID, Record[Meter] | None]:
        return NarrowLoader(Meter, partial(self._by_id, Meter))

    @cached_property
    def product_prices(self) -> DataLoader[PricesKey, list[Price]]:
        """A product's prices (all, or only active or inactive ones), oldest first: ORM
        rows, through the request's session."""
        return DataLoader(self._prices_of_products)

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
