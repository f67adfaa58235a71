"""Product and price types, inputs and payloads."""

import uuid
from datetime import datetime
from fractions import Fraction
from operator import attrgetter
from typing import Annotated

import strawberry

from app import models
from app.context import RequestContext
from app.domain.metering import PriceModel, decimal_text
from app.domain.money import Money as DomainMoney
from app.domain.money import exponent_of
from app.graphql.read.fields import batched
from app.models import Price as PriceRow
from app.models import PriceType, RecurringInterval
from app.models import Product as ProductRow
from app.schema.enum_values.billing import PRICE_TYPE, RECURRING_INTERVAL
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.idempotency import optional_key
from app.schema.metering import Meter, PriceTier
from app.schema.money import Money, MoneyInput
from app.schema.node import Node, encode_gid
from app.schema.pagination import Connection
from app.schema.scalars import CurrencyCode, Metadata
from app.services.metering.pricing import scheme_of

Info = strawberry.Info[RequestContext, None]

PriceTypeEnum = described_enum(
    PriceType, name="PriceType", description="How often a price is paid.", values=PRICE_TYPE
)
RecurringIntervalEnum = described_enum(
    RecurringInterval,
    name="RecurringInterval",
    description="Unit of a billing interval.",
    values=RECURRING_INTERVAL,
)


@strawberry.type(description="Something you sell. What it costs is in its prices.")
class Product(Node):
    name: str = strawberry.field(description="Name shown to customers.")
    description: str | None = strawberry.field(description="Longer text shown to customers.")
    active: bool = strawberry.field(description="Whether it can be bought now.")
    metadata: Metadata = strawberry.field(description="Your own key-value data.")
    features: list[str] = strawberry.field(
        description="Feature keys a subscription to it grants (see `Customer.entitlements`)."
    )
    created_at: datetime = strawberry.field(description="When the product was created.")
    updated_at: datetime = strawberry.field(description="When the product last changed.")
    key: strawberry.Private[uuid.UUID]
    default_price_key: strawberry.Private[uuid.UUID | None]

    @strawberry.field(
        description="The price new customers are offered outside pricing experiments "
        "(`checkoutOffer`); shipping an experiment's winner sets it."
    )
    @batched(lambda loaders: loaders.price, key=attrgetter("default_price_key"))
    def default_price(
        self, row: models.Price | None
    ) -> Annotated["Price", strawberry.lazy("app.schema.catalog")] | None:
        return None if row is None else Price.from_model(row)

    @strawberry.field(description="The product's prices, oldest first.")
    async def prices(
        self,
        info: Info,
        active: Annotated[
            bool | None,
            strawberry.argument(description="Only active (`true`) or archived (`false`) prices."),
        ] = None,
    ) -> list[Annotated["Price", strawberry.lazy("app.schema.catalog")]]:
        rows = await info.context.loaders.product_prices.load((self.key, active))
        return [Price.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: ProductRow) -> "Product":
        return cls(
            id=encode_gid("Product", row.id),
            key=row.id,
            name=row.name,
            description=row.description,
            active=row.active,
            metadata=Metadata(row.metadata_),
            features=list(row.features),
            created_at=row.created_at,
            updated_at=row.updated_at,
            default_price_key=row.default_price_id,
        )


@strawberry.type(description="How often a recurring price is charged.")
class Recurring:
    interval: RecurringInterval = strawberry.field(description="Unit of the billing interval.")
    interval_count: int = strawberry.field(
        description="Number of units between charges: 3 with MONTH is quarterly."
    )


@strawberry.type(
    description=(
        "What a product costs, in one currency. Immutable: to change a price, create a new "
        "one (moving its lookup key with `transferLookupKey`) and archive the old one."
    )
)
class Price(Node):
    unit_amount: Money = strawberry.field(description="Amount charged per unit.")
    type: PriceType = strawberry.field(description="One-time or recurring.")
    recurring: Recurring | None = strawberry.field(
        description="Billing interval of a recurring price; null for one-time prices."
    )
    trial_period_days: int | None = strawberry.field(
        description="Free trial given to new subscribers, in days."
    )
    active: bool = strawberry.field(description="Whether new purchases may use this price.")
    lookup_key: str | None = strawberry.field(
        description="Your stable name for this price, unique, e.g. `pro_monthly_usd`."
    )
    nickname: str | None = strawberry.field(description="Internal label, not shown to buyers.")
    metadata: Metadata = strawberry.field(description="Your own key-value data.")
    created_at: datetime = strawberry.field(description="When the price was created.")
    model: PriceModel = strawberry.field(
        description="How a quantity becomes money (README: Usage-based billing)."
    )
    unit_amount_decimal: str = strawberry.field(
        description="The exact unit amount in major units, which may go below the minor "
        "unit (`0.0025`); `unitAmount` is its whole minor units."
    )
    tiers: list[PriceTier] | None = strawberry.field(description="Tiers of a tiered price.")
    package_size: int | None = strawberry.field(description="Units per package (PACKAGE).")
    product_key: strawberry.Private[uuid.UUID]
    meter_key: strawberry.Private[uuid.UUID | None]

    @strawberry.field(
        description="The meter whose usage it bills in arrears (null: a licensed quantity)."
    )
    @batched(lambda loaders: loaders.meter, key=attrgetter("meter_key"))
    def meter(self, row: models.Meter | None) -> Meter | None:
        return None if row is None else Meter.from_model(row)

    @strawberry.field(description="The product this price belongs to.")
    @batched(lambda loaders: loaders.product, key=attrgetter("product_key"))
    def product(self, row: models.Product | None) -> Product:
        assert row is not None, "prices always have a product (foreign key)"
        return Product.from_model(row)

    @classmethod
    def from_model(cls, row: PriceRow) -> "Price":
        recurring = None
        if row.recurring_interval is not None and row.recurring_interval_count is not None:
            recurring = Recurring(
                interval=row.recurring_interval, interval_count=row.recurring_interval_count
            )
        return cls(
            id=encode_gid("Price", row.id),
            product_key=row.product_id,
            unit_amount=Money.from_domain(DomainMoney(row.unit_amount_minor, row.currency)),
            type=row.type,
            recurring=recurring,
            trial_period_days=row.trial_period_days,
            active=row.active,
            lookup_key=row.lookup_key,
            nickname=row.nickname,
            metadata=Metadata(row.metadata_),
            created_at=row.created_at,
            model=row.model,
            unit_amount_decimal=_major(
                Fraction(row.unit_amount_decimal or row.unit_amount_minor), row.currency
            ),
            tiers=None
            if row.tiers is None
            else [
                PriceTier(
                    up_to=t.up_to,
                    unit_amount=_major(t.unit_amount, row.currency),
                    flat_amount=Money.of(t.flat_amount_minor, row.currency),
                )
                for t in scheme_of(row).tiers
            ],
            package_size=row.package_size,
            meter_key=row.meter_id,
        )


def _major(minor: Fraction, currency: str) -> str:
    """An exact amount of minor units as major units' decimal text (``0.25`` cents of USD:
    ``0.0025``), at least the currency's places."""
    exponent = exponent_of(currency)
    major = minor / 10**exponent
    text = decimal_text(major)
    whole, _, places = text.partition(".")
    return f"{whole}.{places.ljust(exponent, '0')}" if exponent else text


@strawberry.input(description="Which products to list.")
class ProductFilter:
    active: bool | None = strawberry.field(
        default=None, description="Only active (`true`) or only archived (`false`) products."
    )


@strawberry.input(description="Which prices to list. All conditions must hold.")
class PriceFilter:
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the product."
    )
    currency: CurrencyCode | None = strawberry.field(default=None, description="Currency.")
    active: bool | None = strawberry.field(default=None, description="Active or archived.")
    recurring: bool | None = strawberry.field(
        default=None, description="Recurring (`true`) or one-time (`false`) prices."
    )


@strawberry.input(description="A new product.")
class CreateProductInput:
    idempotency_key: str | None = optional_key()
    name: str = strawberry.field(description="Name shown to customers, 1 to 256 characters.")
    description: str | None = strawberry.field(default=None, description="Longer text.")
    active: bool = strawberry.field(default=True, description="Whether it can be bought.")
    metadata: Metadata | None = strawberry.field(default=None, description="Key-value data.")
    features: list[str] | None = strawberry.field(
        default=None, description="Feature keys it grants, e.g. `exports`, `seats:5`."
    )


@strawberry.input(
    description="Changes to a product. Omitted fields stay; `active: false` archives it."
)
class UpdateProductInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the product.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="New description; `null` clears it."
    )
    active: bool | None = strawberry.field(default=strawberry.UNSET, description="Active or not.")
    metadata: Metadata | None = strawberry.field(
        default=strawberry.UNSET, description="Key-value data to merge, as for customers."
    )
    features: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Feature keys it grants (replaces the list)."
    )
    default_price_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Global ID of an active recurring price of this product to offer new "
        "customers by default; `null` clears it.",
    )


@strawberry.input(description="Billing interval of a recurring price.")
class RecurringInput:
    interval: RecurringInterval = strawberry.field(description="Unit of the interval.")
    interval_count: int = strawberry.field(
        default=1, description="Units between charges; the interval is at most one year."
    )


@strawberry.input(description="A tier of a tiered price.")
class PriceTierInput:
    up_to: int | None = strawberry.field(
        description="The tier's last unit, inclusive; null for the last tier."
    )
    unit_amount: str = strawberry.field(
        default="0", description="Amount per unit in major units, e.g. `0.002`."
    )
    flat_amount: str = strawberry.field(
        default="0", description="Charged once when usage enters the tier, in major units."
    )


@strawberry.input(description="A new price of a product. Prices cannot be edited later.")
class CreatePriceInput:
    idempotency_key: str | None = optional_key()
    product_id: strawberry.ID = strawberry.field(description="Global ID of an active product.")
    unit_amount: MoneyInput = strawberry.field(description="Amount and currency per unit.")
    recurring: RecurringInput | None = strawberry.field(
        default=None, description="Billing interval; omit for a one-time price."
    )
    trial_period_days: int | None = strawberry.field(
        default=None, description="Free trial of a recurring price, 1 to 730 days."
    )
    lookup_key: str | None = strawberry.field(
        default=None, description="Unique stable name, e.g. `pro_monthly_usd`."
    )
    transfer_lookup_key: bool = strawberry.field(
        default=False,
        description="Move `lookupKey` from the price that has it to this one, atomically.",
    )
    nickname: str | None = strawberry.field(default=None, description="Internal label.")
    metadata: Metadata | None = strawberry.field(default=None, description="Key-value data.")
    model: PriceModel = strawberry.field(
        default=PriceModel.PER_UNIT, description="How a quantity becomes money."
    )
    unit_amount_decimal: str | None = strawberry.field(
        default=None,
        description="An exact unit amount in major units below the minor unit, e.g. "
        "`0.0025` (up to 12 places below it); replaces `unitAmount`'s amount.",
    )
    tiers: list[PriceTierInput] | None = strawberry.field(
        default=None, description="Tiers of a tiered price (then `unitAmount` is 0)."
    )
    package_size: int | None = strawberry.field(
        default=None, description="Units per package (PACKAGE): `unitAmount` buys that many."
    )
    meter_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Bill this meter's usage in arrears (a recurring price); omit for a "
        "licensed quantity.",
    )


@strawberry.input(description="The price to archive.")
class ArchivePriceInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the price.")


@strawberry.type(description="Result of `createProduct`.")
class CreateProductPayload:
    product: Product | None = strawberry.field(description="The new product, unless refused.")
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")


@strawberry.type(description="Result of `updateProduct`.")
class UpdateProductPayload:
    product: Product | None = strawberry.field(description="The product after the change.")
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")


@strawberry.type(description="Result of `createPrice`.")
class CreatePricePayload:
    price: Price | None = strawberry.field(description="The new price, unless refused.")
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")


@strawberry.type(description="Result of `archivePrice`.")
class ArchivePricePayload:
    price: Price | None = strawberry.field(description="The archived price.")
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")


ProductConnection = Connection[Product]
PriceConnection = Connection[Price]
