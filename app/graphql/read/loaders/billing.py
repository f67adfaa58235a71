"""Billing's loaders: subscriptions with their items and invoices, invoices with their
lines, test clocks, coupons, tax rates, and what a customer's live subscriptions entitle
them to."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property, partial

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from app.domain.billing import SubscriptionStatus
from app.graphql.read.loaders.base import LastKey, NarrowLoader, cached_read, in_keys
from app.graphql.read.loaders.catalog import CatalogLoaders
from app.graphql.read.records import Record, columns
from app.models import (
    Coupon,
    CreditNote,
    CreditNoteLine,
    CustomerBalance,
    Invoice,
    InvoiceLine,
    Price,
    Product,
    PromotionCode,
    Subscription,
    SubscriptionItem,
    TaxRate,
    TestClock,
)


@dataclass(frozen=True, slots=True)
class Grant:
    """A feature a customer may use now, and the subscription and product granting it."""

    feature: str
    subscription_id: uuid.UUID
    product_id: uuid.UUID


ENTITLING = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


class BillingLoaders(CatalogLoaders):
    """Billing's loaders (with the catalog's: a subscription's items prime its prices)."""

    @cached_property
    def subscription(self) -> DataLoader[uuid.UUID, Record[Subscription] | None]:
        return NarrowLoader(Subscription, partial(self._by_id, Subscription))

    @cached_property
    def invoice(self) -> DataLoader[uuid.UUID, Record[Invoice] | None]:
        return NarrowLoader(Invoice, partial(self._by_id, Invoice))

    @cached_property
    def test_clock(self) -> DataLoader[uuid.UUID, Record[TestClock] | None]:
        return NarrowLoader(TestClock, partial(self._by_id, TestClock))

    @cached_property
    def coupon(self) -> DataLoader[uuid.UUID, Record[Coupon] | None]:
        return NarrowLoader(Coupon, partial(self._by_id, Coupon))

    @cached_property
    def promotion_code(self) -> DataLoader[uuid.UUID, Record[PromotionCode] | None]:
        return NarrowLoader(PromotionCode, partial(self._by_id, PromotionCode))

    @cached_property
    def tax_rate(self) -> DataLoader[uuid.UUID, Record[TaxRate] | None]:
        return NarrowLoader(TaxRate, partial(self._by_id, TaxRate))

    @cached_property
    def customer_subscriptions(self) -> DataLoader[uuid.UUID, list[Record[Subscription]]]:
        return NarrowLoader(
            Subscription,
            partial(self._children, Subscription, Subscription.customer_id, Subscription.id),
        )

    @cached_property
    def customer_invoices(self) -> DataLoader[uuid.UUID, list[Record[Invoice]]]:
        return NarrowLoader(
            Invoice, partial(self._children, Invoice, Invoice.customer_id, Invoice.id)
        )

    @cached_property
    def customer_last_invoices(self) -> DataLoader[LastKey, list[Record[Invoice]]]:
        return NarrowLoader(Invoice, partial(self._last_children, Invoice, Invoice.customer_id))

    @cached_property
    def subscription_items(self) -> DataLoader[uuid.UUID, list[Record[SubscriptionItem]]]:
        return DataLoader(self._items_of_subscriptions)

    @cached_property
    def subscription_invoices(self) -> DataLoader[uuid.UUID, list[Record[Invoice]]]:
        return NarrowLoader(
            Invoice, partial(self._children, Invoice, Invoice.subscription_id, Invoice.id)
        )

    @cached_property
    def subscription_last_invoices(self) -> DataLoader[LastKey, list[Record[Invoice]]]:
        return NarrowLoader(Invoice, partial(self._last_children, Invoice, Invoice.subscription_id))

    @cached_property
    def invoice_lines(self) -> DataLoader[uuid.UUID, list[Record[InvoiceLine]]]:
        return NarrowLoader(
            InvoiceLine,
            partial(self._children, InvoiceLine, InvoiceLine.invoice_id, InvoiceLine.id),
        )

    @cached_property
    def credit_note(self) -> DataLoader[uuid.UUID, Record[CreditNote] | None]:
        return DataLoader(self._by_id(CreditNote))

    @cached_property
    def invoice_credit_notes(self) -> DataLoader[uuid.UUID, list[Record[CreditNote]]]:
        return DataLoader(self._children(CreditNote, CreditNote.invoice_id, CreditNote.id))

    @cached_property
    def credit_note_lines(self) -> DataLoader[uuid.UUID, list[Record[CreditNoteLine]]]:
        return DataLoader(
            self._children(CreditNoteLine, CreditNoteLine.credit_note_id, CreditNoteLine.id)
        )

    @cached_property
    def customer_balances(self) -> DataLoader[uuid.UUID, list[Record[CustomerBalance]]]:
        return DataLoader(
            self._children(CustomerBalance, CustomerBalance.customer_id, CustomerBalance.currency)
        )

    @cached_property
    def customer_entitlements(self) -> DataLoader[uuid.UUID, list[Grant]]:
        return DataLoader(self._entitlements)

    async def _items_of_subscriptions(
        self, keys: list[uuid.UUID]
    ) -> list[list[Record[SubscriptionItem]]]:
        """Items with their prices in the same statement: an item is the link between a
        subscription and a price, and is hardly ever read without it. The prices prime the
        request's price loader, so ``items { price }`` costs no statement of its own."""
        by_subscription: dict[uuid.UUID, list[Record[SubscriptionItem]]] = defaultdict(list)
        async with self._reads() as source:
            read = cached_read(
                ("subscription_items",),
                source,
                lambda d: (
                    sa.select(*columns(SubscriptionItem), *columns(Price))
                    .join_from(SubscriptionItem, Price, Price.id == SubscriptionItem.price_id)
                    .where(in_keys(SubscriptionItem.subscription_id, d))
                    .order_by(SubscriptionItem.id)
                ),
                SubscriptionItem,
                Price,
            )
            for item, price in await read.rows(source, {"keys": keys}):
                by_subscription[item.subscription_id].append(item)
                self.price.prime(price.id, price)
        return [by_subscription[key] for key in keys]

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
