"""The price catalog: products and prices. Prices are immutable once created (as in Stripe):
to change what something costs, create a new price and archive the old one."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import metering
from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.metering import PriceModel
from app.domain.money import Money, parse_money
from app.domain.updates import KEEP, Keep
from app.models import Meter, Price, PriceType, Product, RecurringInterval

# Stripe's limit: a billing interval is at most one year long.
MAX_INTERVAL_COUNT = {
    RecurringInterval.DAY: 365,
    RecurringInterval.WEEK: 52,
    RecurringInterval.MONTH: 12,
    RecurringInterval.YEAR: 1,
}
MAX_TRIAL_DAYS = 730
_LOOKUP_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}")


@dataclass(frozen=True, slots=True)
class ProductFilter:
    active: bool | None = None


@dataclass(frozen=True, slots=True)
class PriceFilter:
    product_id: uuid.UUID | None = None
    currency: str | None = None
    active: bool | None = None
    recurring: bool | None = None


@dataclass(frozen=True, slots=True)
class Recurrence:
    interval: RecurringInterval
    interval_count: int = 1


@dataclass(frozen=True, slots=True)
class TierRequest:
    up_to: int | None
    unit_amount: str = "0"  # major units, may go below the minor unit
    flat_amount: str = "0"  # major units


@dataclass(frozen=True, slots=True)
class Model:
    """How a price turns a quantity into money (``app/domain/metering.py``), and the meter
    whose usage it bills (null: a licensed quantity)."""

    model: PriceModel = PriceModel.PER_UNIT
    unit_amount_decimal: str | None = None  # major units, below the minor unit if need be
    tiers: tuple[TierRequest, ...] = ()
    package_size: int | None = None
    meter_id: uuid.UUID | None = None


def products_query(filter_: ProductFilter) -> sa.Select[Product]:
    statement = sa.select(Product)
    if filter_.active is not None:
        statement = statement.where(Product.active.is_(filter_.active))
    return statement


def prices_query(filter_: PriceFilter) -> sa.Select[Price]:
    statement = sa.select(Price)
    if filter_.product_id is not None:
        statement = statement.where(Price.product_id == filter_.product_id)
    if filter_.currency is not None:
        statement = statement.where(Price.currency == filter_.currency)
    if filter_.active is not None:
        statement = statement.where(Price.active.is_(filter_.active))
    if filter_.recurring is not None:
        wanted = PriceType.RECURRING if filter_.recurring else PriceType.ONE_TIME
        statement = statement.where(Price.type == wanted)
    return statement


async def get_product(session: AsyncSession, product_id: uuid.UUID, *field: str) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such product.", field))
    return product


async def get_price(session: AsyncSession, price_id: uuid.UUID, *field: str) -> Price:
    price = await session.get(Price, price_id)
    if price is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such price.", field))
    return price


async def find_price_by_lookup_key(session: AsyncSession, lookup_key: str) -> Price | None:
    return await session.scalar(sa.select(Price).where(Price.lookup_key == lookup_key))


async def create_product(
    session: AsyncSession,
    *,
    clock: Clock,
    name: str,
    description: str | None,
    active: bool,
    metadata: object,
    features: list[str] | None = None,
) -> Product:
    problems = Problems()
    product = Product(
        features=check.features(problems, features, "features") or [],
        name=check.text(problems, name, "name", max_length=256, required=True),
        description=check.text(problems, description, "description", max_length=5000),
        active=active,
        metadata_=check.metadata(problems, metadata, "metadata") or {},
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    problems.raise_if_any()
    session.add(product)
    await session.commit()
    return product


async def update_product(
    session: AsyncSession,
    *,
    clock: Clock,
    product_id: uuid.UUID,
    name: str | Keep = KEEP,
    description: str | Keep | None = KEEP,
    active: bool | Keep | None = KEEP,
    metadata: object | Keep = KEEP,
    features: list[str] | Keep | None = KEEP,
    default_price_id: uuid.UUID | Keep | None = KEEP,
) -> Product:
    product = await get_product(session, product_id, "id")
    problems = Problems()
    changes: dict[str, object] = {}
    if default_price_id is not KEEP:
        if default_price_id is not None:
            price = await session.get(Price, default_price_id)
            if price is None or price.product_id != product.id or not price.active:
                problems.add(
                    ErrorCode.NOT_FOUND, "No such active price of this product.", "defaultPriceId"
                )
            elif price.type is not PriceType.RECURRING:
                problems.add(
                    ErrorCode.INVALID, "The default price is a recurring price.", "defaultPriceId"
                )
        changes["default_price_id"] = default_price_id
    if features is not KEEP:
        changes["features"] = check.features(problems, features, "features") or []
    if name is not KEEP:
        changes["name"] = check.text(problems, name, "name", max_length=256, required=True)
    if description is not KEEP:
        changes["description"] = check.text(problems, description, "description", max_length=5000)
    if active is None:  # null, not left out: a product is active or not
        problems.add(ErrorCode.REQUIRED, "Give true or false, or leave it out.", "active")
    elif active is not KEEP:
        changes["active"] = active
    if metadata is not KEEP:
        changes["metadata_"] = check.merged_metadata(
            problems, product.metadata_, metadata, "metadata"
        )
    problems.raise_if_any()
    for attribute, value in changes.items():
        setattr(product, attribute, value)
    product.updated_at = clock.now()
    await session.commit()
    return product


async def create_price(
    session: AsyncSession,
    *,
    clock: Clock,
    product_id: uuid.UUID,
    amount: str,
    currency: str,
    recurrence: Recurrence | None,
    trial_period_days: int | None,
    lookup_key: str | None,
    transfer_lookup_key: bool,
    nickname: str | None,
    metadata: object,
    model: Model = Model(),
) -> Price:
    """A new price of a product. ``transfer_lookup_key`` moves the lookup key from the
    price that holds it to this one, atomically: the new price replaces the old one for
    every client that finds prices by key."""
    problems = Problems()
    unit_amount: Money | None = None
    try:
        unit_amount = parse_money(amount, currency, field=("unitAmount",))
    except UserInputError as error:
        problems.extend(error.problems)
    _check_recurrence(problems, recurrence, trial_period_days)
    shape: dict[str, object] = {}
    if unit_amount is not None:
        shape = _check_model(problems, model, unit_amount, recurrence)
    if lookup_key is not None and not _LOOKUP_KEY.fullmatch(lookup_key):
        problems.add(
            ErrorCode.INVALID,
            "A lookup key has 1 to 200 letters, digits, '_', '.', ':' or '-'.",
            "lookupKey",
        )
    price_nickname = check.text(problems, nickname, "nickname", max_length=256)
    price_metadata = check.metadata(problems, metadata, "metadata") or {}
    problems.raise_if_any()
    assert unit_amount is not None

    product = await get_product(session, product_id, "productId")
    if model.meter_id is not None:
        meter = await session.get(Meter, model.meter_id)
        if meter is None or meter.archived_at is not None:
            raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such active meter.",
                                         ("meterId",)))  # fmt: skip
    if not product.active:
        raise UserInputError(
            Problem(
                ErrorCode.PRODUCT_ARCHIVED,
                "The product is archived; reactivate it before adding prices.",
                ("productId",),
            )
        )
    if lookup_key is not None:
        await _free_lookup_key(session, lookup_key, transfer=transfer_lookup_key, clock=clock)
    price = Price(
        product_id=product.id,
        currency=unit_amount.currency,
        unit_amount_minor=shape.pop("unit_amount_minor", unit_amount.amount_minor),
        type=PriceType.RECURRING if recurrence else PriceType.ONE_TIME,
        recurring_interval=recurrence.interval if recurrence else None,
        recurring_interval_count=recurrence.interval_count if recurrence else None,
        trial_period_days=trial_period_days,
        lookup_key=lookup_key,
        nickname=price_nickname,
        metadata_=price_metadata,
        active=True,
        created_at=clock.now(),
        updated_at=clock.now(),
        **shape,
    )
    session.add(price)
    try:
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        if "lookup_key" in str(error.orig):
            raise _duplicate_lookup_key() from None
        raise
    return price


def _check_model(
    problems: Problems, model: Model, unit_amount: Money, recurrence: Recurrence | None
) -> dict[str, object]:
    """The columns of a price's model, or problems."""
    exponent = unit_amount.exponent
    shape: dict[str, object] = {"model": model.model, "meter_id": model.meter_id}
    if model.meter_id is not None and recurrence is None:
        problems.add(ErrorCode.INVALID, "A usage price is recurring: usage is billed at the "
                     "end of each period.", "meterId")  # fmt: skip
    exact = Fraction(unit_amount.amount_minor)
    if model.unit_amount_decimal is not None:
        parsed = metering.parse_unit_amount(
            problems, model.unit_amount_decimal, exponent, "unitAmountDecimal"
        )
        if parsed is not None:  # it replaces unitAmount's amount (which gives the currency)
            exact = parsed
            shape["unit_amount_minor"] = int(parsed)  # its whole minor units
    tiered = model.model in (PriceModel.TIERED_GRADUATED, PriceModel.TIERED_VOLUME)
    if tiered:
        tiers = []
        for index, request in enumerate(model.tiers):
            unit = metering.parse_unit_amount(
                problems, request.unit_amount, exponent, "tiers", str(index), "unitAmount"
            )
            flat_minor = None
            try:
                flat_minor = parse_money(request.flat_amount, unit_amount.currency,
                                         field=("tiers", str(index), "flatAmount"))  # fmt: skip
            except UserInputError as error:
                problems.extend(error.problems)
            if unit is not None and flat_minor is not None:
                tiers.append(metering.Tier(request.up_to, unit, flat_minor.amount_minor))
        if len(tiers) == len(model.tiers):
            metering.check_tiers(problems, tiers, "tiers")
        if unit_amount.amount_minor != 0 or model.unit_amount_decimal is not None:
            problems.add(ErrorCode.INVALID, "A tiered price's tiers price its units: give "
                         "unitAmount 0 (for its currency) and no unitAmountDecimal.",
                         "unitAmount")  # fmt: skip
        shape["tiers"] = [
            {"up_to": t.up_to, "unit_amount": metering.decimal_text(t.unit_amount),
             "flat_amount_minor": t.flat_amount_minor}
            for t in tiers
        ]  # fmt: skip
    elif model.tiers:
        problems.add(ErrorCode.INVALID, "Only tiered prices have tiers.", "tiers")
    if model.model is PriceModel.PACKAGE:
        if model.package_size is None or not 1 <= model.package_size <= metering.MAX_PACKAGE_SIZE:
            problems.add(ErrorCode.INVALID, "A package price needs a packageSize of 1 to "
                         f"{metering.MAX_PACKAGE_SIZE}.", "packageSize")  # fmt: skip
        shape["package_size"] = model.package_size
    elif model.package_size is not None:
        problems.add(ErrorCode.INVALID, "Only package prices have a packageSize.", "packageSize")
    if model.unit_amount_decimal is not None and not tiered:
        shape["unit_amount_decimal"] = metering.decimal_text(exact)
    return shape


def _check_recurrence(
    problems: Problems, recurrence: Recurrence | None, trial_period_days: int | None
) -> None:
    if recurrence is not None:
        limit = MAX_INTERVAL_COUNT[recurrence.interval]
        if not 1 <= recurrence.interval_count <= limit:
            problems.add(
                ErrorCode.INVALID_INTERVAL,
                f"A {recurrence.interval.value} interval count must be between 1 and {limit} "
                "(at most one year).",
                "recurring",
                "intervalCount",
            )
    if trial_period_days is not None:
        if recurrence is None:
            problems.add(
                ErrorCode.INVALID_TRIAL,
                "Only recurring prices can have a trial.",
                "trialPeriodDays",
            )
        elif not 1 <= trial_period_days <= MAX_TRIAL_DAYS:
            problems.add(
                ErrorCode.INVALID_TRIAL,
                f"A trial lasts between 1 and {MAX_TRIAL_DAYS} days.",
                "trialPeriodDays",
            )


def _duplicate_lookup_key() -> UserInputError:
    return UserInputError(
        Problem(
            ErrorCode.DUPLICATE_LOOKUP_KEY,
            "Another price already has this lookup key; pass transferLookupKey: true to move "
            "it to the new price.",
            ("lookupKey",),
        )
    )


async def _free_lookup_key(
    session: AsyncSession, lookup_key: str, *, transfer: bool, clock: Clock
) -> None:
    holder = await session.scalar(
        sa.select(Price)
        .where(Price.lookup_key == lookup_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if holder is None:
        return
    if not transfer:
        await session.rollback()
        raise _duplicate_lookup_key()
    holder.lookup_key = None
    holder.updated_at = clock.now()
    await session.flush()


async def archive_price(session: AsyncSession, *, clock: Clock, price_id: uuid.UUID) -> Price:
    """Stop offering a price to new buyers. Existing subscriptions keep it. Archiving an
    archived price changes nothing."""
    price = await get_price(session, price_id, "id")
    if price.active:
        price.active = False
        price.updated_at = clock.now()
        await session.commit()
    return price
