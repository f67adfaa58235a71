"""Customer types, inputs and payloads."""

import uuid
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Annotated

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from app import models
from app.context import RequestContext
from app.domain import validation as check
from app.domain.errors import ErrorCode, Problems, UserInputError
from app.domain.metering import quantity_text
from app.domain.payments import PaymentStatus
from app.graphql.read import loaders
from app.graphql.read.fields import batched
from app.models import Customer as CustomerRow
from app.models import Invoice as InvoiceRow
from app.models import PaymentMethod as PaymentMethodRow
from app.models import Subscription as SubscriptionRow
from app.schema.catalog import Product
from app.schema.errors import PublicError, UserError
from app.schema.idempotency import optional_key
from app.schema.invoices import Invoice
from app.schema.metering import CustomerUsage, Meter, UsageBucket, UsageGrouping
from app.schema.money import Money
from app.schema.node import Node, encode_gid
from app.schema.pagination import Connection
from app.schema.payment import Payment
from app.schema.payment_method import PaymentMethod
from app.schema.scalars import Metadata
from app.schema.subscriptions import Subscription
from app.services import pagination
from app.services.metering import meters, readings
from app.services.metering.readings import MAX_BUCKETS

MAX_USAGE_WINDOW = timedelta(days=366)
USAGE_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
USAGE_END = datetime(9000, 1, 1, tzinfo=UTC)


def _asks_for(info: strawberry.Info[RequestContext, None], name: str) -> bool:
    """Whether the query selects ``name`` in this field (directly or in a fragment)."""

    def among(selections: list[Selection]) -> bool:
        return any(
            s.name == name if isinstance(s, SelectedField) else among(s.selections)
            for s in selections
        )

    return any(among(field.selections) for field in info.selected_fields)


@strawberry.input(description="Which payments to list. All conditions must hold.")
class PaymentFilter:
    status: list[PaymentStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    created_after: datetime | None = strawberry.field(
        default=None, description="Created strictly after this time."
    )
    created_before: datetime | None = strawberry.field(
        default=None, description="Created strictly before this time."
    )


@strawberry.type(description="A feature a customer may use now, and what grants it.")
class Entitlement:
    feature: str = strawberry.field(description="The feature key, e.g. `exports`.")
    subscription_key: strawberry.Private[uuid.UUID]
    product_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The subscription that grants it.")
    @batched(lambda loaders: loaders.subscription, key=attrgetter("subscription_key"))
    def subscription(self, row: models.Subscription | None) -> Subscription:
        assert row is not None
        return Subscription.from_model(row)

    @strawberry.field(description="The product that grants it.")
    @batched(lambda loaders: loaders.product, key=attrgetter("product_key"))
    def product(self, row: models.Product | None) -> Product:
        assert row is not None
        return Product.from_model(row)

    @classmethod
    def from_grant(cls, grant: loaders.Grant) -> "Entitlement":
        return cls(
            feature=grant.feature,
            subscription_key=grant.subscription_id,
            product_key=grant.product_id,
        )


@strawberry.type(description="Someone who pays: a person or a company.")
class Customer(Node):
    email: str | None = strawberry.field(description="Email address for receipts and invoices.")
    name: str | None = strawberry.field(description="Full name or company name.")
    country: str | None = strawberry.field(
        description="ISO 3166-1 alpha-2 country code; decides tax later."
    )
    locale: str | None = strawberry.field(
        description="Preferred BCP 47 locale for emails and amounts, e.g. `de-DE`."
    )
    metadata: Metadata = strawberry.field(description="Your own key-value data.")
    created_at: datetime = strawberry.field(description="When the customer was created.")
    updated_at: datetime = strawberry.field(description="When the customer last changed.")
    test_clock_id: strawberry.ID | None = strawberry.field(
        description="The sandbox test clock this customer lives on, if any."
    )
    erased_at: datetime | None = strawberry.field(
        description="When the customer's personal data was erased (`eraseCustomer`); an "
        "erased customer keeps their invoices and payments but cannot be charged, "
        "subscribed or changed."
    )
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Saved payment methods that are attached, oldest first.")
    @batched(lambda loaders: loaders.customer_payment_methods, narrow=())
    def payment_methods(self, rows: list[PaymentMethodRow]) -> list[PaymentMethod]:
        return [PaymentMethod.from_model(row) for row in rows]

    @strawberry.field(description="The method used when none is named, if any.")
    @batched(lambda loaders: loaders.customer_payment_methods, narrow=("is_default",))
    def default_payment_method(self, rows: list[PaymentMethodRow]) -> PaymentMethod | None:
        return next((PaymentMethod.from_model(row) for row in rows if row.is_default), None)

    @strawberry.field(
        description="Features the customer may use now, from the products of their trialing, "
        "active or past-due subscriptions: what web and mobile frontends check."
    )
    @batched(lambda loaders: loaders.customer_entitlements)
    def entitlements(self, grants: list[loaders.Grant]) -> list[Entitlement]:
        return [Entitlement.from_grant(grant) for grant in grants]

    @strawberry.field(
        description="Credit the customer holds, per currency (from credit notes): the next "
        "invoices in a currency use it when they are finalized."
    )
    @batched(lambda loaders: loaders.customer_balances)
    def credit_balance(self, rows: list[models.CustomerBalance]) -> list[Money]:
        return [Money.of(row.balance_minor, row.currency) for row in rows if row.balance_minor]

    @strawberry.field(
        description="A meter's usage by the customer over `[from, to)`, in total and by hour "
        "or UTC day: read from hourly roll-ups, never by scanning raw events."
    )
    async def usage(
        self,
        info: strawberry.Info[RequestContext, None],
        meter_key: Annotated[str, strawberry.argument(description="The meter's key.")],
        from_: Annotated[
            datetime, strawberry.argument(name="from", description="Start, inclusive.")
        ],
        to: Annotated[datetime, strawberry.argument(description="End, exclusive.")],
        group_by: Annotated[
            UsageGrouping, strawberry.argument(description="Bucket size.")
        ] = UsageGrouping.DAY,
    ) -> CustomerUsage:
        step = timedelta(hours=1) if group_by is UsageGrouping.HOUR else timedelta(days=1)
        if (
            not USAGE_EPOCH <= from_ < to <= USAGE_END
            or to - from_ > MAX_USAGE_WINDOW
            or (to - from_) / step > MAX_BUCKETS
        ):
            raise PublicError(
                f"Give from < to, after 1970 and before 9000, at most {MAX_USAGE_WINDOW.days} "
                f"days and {MAX_BUCKETS} buckets apart.",
                ErrorCode.INVALID,
            )
        async with info.context.db() as session:
            try:
                meter = await meters.by_key(session, meter_key, "meterKey")
            except UserInputError as error:
                raise PublicError(str(error), ErrorCode.UNKNOWN_METER) from None
            if _asks_for(info, "buckets"):
                total, buckets = await readings.measure_series(
                    session, meter, self.key, from_, to, step
                )
            else:  # the total alone: whole hours summed by the database
                total, buckets = await readings.measure(session, meter, self.key, from_, to), []
            found = CustomerUsage(
                meter=Meter.from_model(meter),
                start=from_,
                end=to,
                quantity=quantity_text(total),
                buckets=[
                    UsageBucket(start=b.start, end=b.end, quantity=quantity_text(b.quantity))
                    for b in buckets
                ],
            )
            await session.rollback()
        return found

    @strawberry.field(description="The customer's subscriptions, oldest first.")
    @batched(lambda loaders: loaders.customer_subscriptions, narrow=())
    def subscriptions(self, rows: list[SubscriptionRow]) -> list[Subscription]:
        return [Subscription.from_model(row) for row in rows]

    @strawberry.field(description="The customer's invoices, oldest first.")
    @batched(
        lambda loaders, last=None: (
            loaders.customer_invoices if last is None else loaders.customer_last_invoices
        ),
        key=lambda customer, last=None: (
            customer.key if last is None else (customer.key, pagination.list_limit(last, "last"))
        ),
        narrow=(),
    )
    def invoices(
        self,
        rows: list[InvoiceRow],
        last: Annotated[
            int | None,
            strawberry.argument(
                description="Only the most recent ones: at most this many (0 to 100), still "
                "oldest first. All when omitted."
            ),
        ] = None,
    ) -> list[Invoice]:
        return [Invoice.from_model(row) for row in rows]

    @strawberry.field(description="The customer's payments, newest first.")
    async def payments(
        self,
        info: strawberry.Info[RequestContext, None],
        first: Annotated[
            int | None, strawberry.argument(description="Page size, 0 to 100 (default 20).")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor to start after.")
        ] = None,
        filter: Annotated[
            PaymentFilter | None, strawberry.argument(description="Conditions on the payments.")
        ] = None,
    ) -> Connection[Payment]:
        given = filter or PaymentFilter()
        problems = Problems()
        created_after = check.moment(problems, given.created_after, "filter", "createdAfter")
        created_before = check.moment(problems, given.created_before, "filter", "createdBefore")
        problems.raise_if_any()
        key_filter = loaders.PaymentFilter(
            statuses=tuple(given.status or ()),
            created_after=created_after,
            created_before=created_before,
        )
        size = pagination.page_size(first)
        start = None if after is None else pagination.decode_cursor(after, "after")
        rows = await info.context.loaders.customer_payments.load(
            loaders.ChildPage(self.key, size, start, key_filter)
        )

        async def count() -> int:
            return await info.context.loaders.customer_payment_counts.load((self.key, key_filter))

        return Connection.of(rows[:size], Payment.from_model, more=len(rows) > size,
                             after=after, count=count)  # fmt: skip

    @classmethod
    def from_model(cls, row: CustomerRow) -> "Customer":
        return cls(
            id=encode_gid("Customer", row.id),
            key=row.id,
            email=row.email,
            name=row.name,
            country=row.country,
            locale=row.locale,
            metadata=Metadata(row.metadata_),
            created_at=row.created_at,
            updated_at=row.updated_at,
            test_clock_id=(
                encode_gid("TestClock", row.test_clock_id) if row.test_clock_id else None
            ),
            erased_at=row.erased_at,
        )


@strawberry.input(description="Which customers to list. All conditions must hold.")
class CustomerFilter:
    email: str | None = strawberry.field(
        default=None, description="Exact email address, compared case-insensitively."
    )
    created_after: datetime | None = strawberry.field(
        default=None, description="Created strictly after this time."
    )
    created_before: datetime | None = strawberry.field(
        default=None, description="Created strictly before this time."
    )


@strawberry.input(description="A new customer. Every field is optional.")
class CreateCustomerInput:
    idempotency_key: str | None = optional_key()
    email: str | None = strawberry.field(default=None, description="Email address.")
    name: str | None = strawberry.field(default=None, description="Name, at most 256 characters.")
    country: str | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2 country code, e.g. `FR`."
    )
    locale: str | None = strawberry.field(default=None, description="BCP 47 locale, e.g. `fr-FR`.")
    metadata: Metadata | None = strawberry.field(default=None, description="Key-value data.")
    test_clock_id: strawberry.ID | None = strawberry.field(
        default=None, description="Sandbox: live on this test clock's time (`createTestClock`)."
    )
    anonymous_id: str | None = strawberry.field(
        default=None,
        description="The visitor's anonymous id before signing up: their pricing-experiment "
        "assignments carry over to the customer.",
    )


@strawberry.input(
    description=(
        "Changes to a customer. Omitted fields stay as they are; `null` clears a field. "
        'Metadata merges key by key: a key set to `""` is removed, `null` removes all.'
    )
)
class UpdateCustomerInput:
    idempotency_key: str | None = optional_key()
    id: strawberry.ID = strawberry.field(description="Global ID of the customer.")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="Email address.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Name.")
    country: str | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 3166-1 alpha-2 country code."
    )
    locale: str | None = strawberry.field(default=strawberry.UNSET, description="BCP 47 locale.")
    metadata: Metadata | None = strawberry.field(
        default=strawberry.UNSET, description="Key-value data to merge."
    )


@strawberry.type(description="Result of `createCustomer`.")
class CreateCustomerPayload:
    customer: Customer | None = strawberry.field(description="The new customer, unless refused.")
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")


@strawberry.type(description="Result of `updateCustomer`.")
class UpdateCustomerPayload:
    customer: Customer | None = strawberry.field(description="The customer after the change.")
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")


CustomerConnection = Connection[Customer]
