"""The Query root."""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
import strawberry

from app import models
from app.domain import validation as check
from app.domain.billing import ProrationBehavior
from app.domain.currencies import CURRENCIES
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.graphql.read.pages import read_page
from app.models.base import Base
from app.resolvers.access import owned_key
from app.resolvers.common import Info, key_of
from app.resolvers.dispute_queries import DisputeQueries
from app.resolvers.event_queries import EventQueries
from app.resolvers.experiment_queries import ExperimentQueries
from app.resolvers.metering_queries import MeteringQueries
from app.resolvers.nodes import MAX_NODES, load_node, load_typed
from app.resolvers.promotion_queries import PromotionQueries
from app.resolvers.risk_queries import RiskQueries
from app.resolvers.webhook_queries import WebhookQueries
from app.schema.catalog import (
    Price,
    PriceConnection,
    PriceFilter,
    Product,
    ProductConnection,
    ProductFilter,
)
from app.schema.customer import Customer, CustomerConnection, CustomerFilter
from app.schema.errors import PublicError
from app.schema.invoice_inputs import InvoiceFilter
from app.schema.invoices import (
    CreditNote,
    CreditNoteConnection,
    Invoice,
    InvoiceConnection,
    InvoicePreview,
)
from app.schema.money import Currency
from app.schema.node import Node
from app.schema.pagination import After, Connection, First
from app.schema.payment import Dispute, Payment, Refund
from app.schema.scalars import CurrencyCode
from app.schema.security import (
    ApiKey,
    ApiKeyConnection,
    AuditEvent,
    AuditEventConnection,
    AuditEventFilter,
)
from app.schema.subscriptions import Subscription
from app.services import api_keys, audit, catalog, customers, pagination
from app.services.billing import changes

E = TypeVar("E", bound=Base)
N = TypeVar("N")

GlobalId = Annotated[strawberry.ID, strawberry.argument(description="A global ID.")]


async def connection(
    info: Info,
    statement: "sa.Select[E]",
    key: Any,
    build: Callable[[E], N],
    first: int | None,
    after: str | None,
) -> Connection[N]:
    async with info.context.reads() as source:
        page = await read_page(source, statement, key, first=first, after=after)

    async def count() -> int:
        async with info.context.db() as session:
            return await pagination.count(session, statement)

    return Connection.of(page.items, build, more=page.has_next_page, after=after, count=count)


@strawberry.type(description="Read the catalog, customers and anything by global ID.")
class Query(
    ExperimentQueries,
    EventQueries,
    WebhookQueries,
    MeteringQueries,
    RiskQueries,
    PromotionQueries,
    DisputeQueries,
):
    @strawberry.field(description="Any object by its global ID; null when there is none.")
    async def node(self, info: Info, id: GlobalId) -> Node | None:
        return await load_node(info.context, id)

    @strawberry.field(
        description=(
            f"Objects by global ID, in the order asked (null where none); at most {MAX_NODES}."
        )
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global IDs.")],
    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise PublicError(f"At most {MAX_NODES} IDs at once.", ErrorCode.INVALID)
        return list(await asyncio.gather(*(load_node(info.context, i) for i in ids)))

    @strawberry.field(description="A customer by global ID.")
    async def customer(self, info: Info, id: GlobalId) -> Customer | None:
        return await load_typed(info.context, id, "Customer")  # type: ignore[no-any-return]

    @strawberry.field(description="Customers, newest first.")
    async def customers(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            CustomerFilter | None, strawberry.argument(description="Conditions on the customers.")
        ] = None,
    ) -> CustomerConnection:
        given = filter or CustomerFilter()
        problems = Problems()
        if given.email is not None and not check.storable(given.email):
            problems.add(ErrorCode.INVALID, check.UNSTORABLE, "filter", "email")
        created_after = check.moment(problems, given.created_after, "filter", "createdAfter")
        created_before = check.moment(problems, given.created_before, "filter", "createdBefore")
        problems.raise_if_any()
        statement = customers.customers_query(
            customers.CustomerFilter(
                email=given.email, created_after=created_after, created_before=created_before
            )
        )
        return await connection(
            info, statement, models.Customer.id, Customer.from_model, first, after
        )

    @strawberry.field(description="A product by global ID.")
    async def product(self, info: Info, id: GlobalId) -> Product | None:
        return await load_typed(info.context, id, "Product")  # type: ignore[no-any-return]

    @strawberry.field(description="Products, newest first.")
    async def products(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            ProductFilter | None, strawberry.argument(description="Conditions on the products.")
        ] = None,
    ) -> ProductConnection:
        statement = catalog.products_query(
            catalog.ProductFilter(active=(filter or ProductFilter()).active)
        )
        return await connection(
            info, statement, models.Product.id, Product.from_model, first, after
        )

    @strawberry.field(description="A price by global ID or by lookup key (give exactly one).")
    async def price(
        self,
        info: Info,
        id: Annotated[strawberry.ID | None, strawberry.argument(description="Global ID.")] = None,
        lookup_key: Annotated[str | None, strawberry.argument(description="Lookup key.")] = None,
    ) -> Price | None:
        if (id is None) == (lookup_key is None):
            raise PublicError("Give exactly one of `id` and `lookupKey`.", ErrorCode.INVALID)
        if id is not None:
            return await load_typed(info.context, id, "Price")  # type: ignore[no-any-return]
        if not check.storable(lookup_key or ""):
            raise UserInputError(Problem(ErrorCode.INVALID, check.UNSTORABLE, ("lookupKey",)))
        async with info.context.db() as session:
            row = await catalog.find_price_by_lookup_key(session, lookup_key or "")
        return None if row is None else Price.from_model(row)

    @strawberry.field(description="Prices, newest first.")
    async def prices(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            PriceFilter | None, strawberry.argument(description="Conditions on the prices.")
        ] = None,
    ) -> PriceConnection:
        given = filter or PriceFilter()
        if given.currency is not None and given.currency not in CURRENCIES:
            raise UserInputError(
                Problem(ErrorCode.UNKNOWN_CURRENCY, "Unknown currency.", ("filter", "currency"))
            )
        statement = catalog.prices_query(
            catalog.PriceFilter(
                product_id=(
                    None
                    if given.product_id is None
                    else key_of(given.product_id, "Product", "filter", "productId")
                ),
                currency=given.currency,
                active=given.active,
                recurring=given.recurring,
            )
        )
        return await connection(info, statement, models.Price.id, Price.from_model, first, after)

    @strawberry.field(description="A payment by global ID.")
    async def payment(self, info: Info, id: GlobalId) -> Payment | None:
        return await load_typed(info.context, id, "Payment")  # type: ignore[no-any-return]

    @strawberry.field(description="A refund by global ID.")
    async def refund(self, info: Info, id: GlobalId) -> Refund | None:
        return await load_typed(info.context, id, "Refund")  # type: ignore[no-any-return]

    @strawberry.field(description="A dispute by global ID.")
    async def dispute(self, info: Info, id: GlobalId) -> Dispute | None:
        return await load_typed(info.context, id, "Dispute")  # type: ignore[no-any-return]

    @strawberry.field(description="A subscription by global ID.")
    async def subscription(self, info: Info, id: GlobalId) -> Subscription | None:
        return await load_typed(info.context, id, "Subscription")  # type: ignore[no-any-return]

    @strawberry.field(description="An invoice by global ID.")
    async def invoice(self, info: Info, id: GlobalId) -> Invoice | None:
        return await load_typed(info.context, id, "Invoice")  # type: ignore[no-any-return]

    @strawberry.field(description="Invoices, newest first.")
    async def invoices(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            InvoiceFilter | None, strawberry.argument(description="Conditions on the invoices.")
        ] = None,
    ) -> InvoiceConnection:
        given = filter or InvoiceFilter()
        problems = Problems()
        after_ = check.moment(problems, given.period_start_after, "filter", "periodStartAfter")
        before = check.moment(problems, given.period_start_before, "filter", "periodStartBefore")
        problems.raise_if_any()
        statement = sa.select(models.Invoice)
        if given.status:
            statement = statement.where(models.Invoice.status.in_(given.status))
        if given.customer_id is not None:
            customer = key_of(given.customer_id, "Customer", "filter", "customerId")
            statement = statement.where(models.Invoice.customer_id == customer)
        if after_ is not None:
            statement = statement.where(models.Invoice.period_start >= after_)
        if before is not None:
            statement = statement.where(models.Invoice.period_start < before)
        return await connection(
            info, statement, models.Invoice.id, Invoice.from_model, first, after
        )

    @strawberry.field(description="Credit notes, newest first (of one invoice if given).")
    async def credit_notes(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        invoice_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this invoice's.")
        ] = None,
    ) -> CreditNoteConnection:
        statement = sa.select(models.CreditNote)
        if invoice_id is not None:
            invoice = key_of(invoice_id, "Invoice", "invoiceId")
            statement = statement.where(models.CreditNote.invoice_id == invoice)
        return await connection(
            info, statement, models.CreditNote.id, CreditNote.from_model, first, after
        )

    @strawberry.field(
        description="Dry run of `updateSubscription`: the invoice the change would produce. "
        "Nothing changes."
    )
    async def preview_subscription_change(
        self,
        info: Info,
        subscription_id: GlobalId,
        price_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="New price.")
        ] = None,
        quantity: Annotated[int | None, strawberry.argument(description="New quantity.")] = None,
        proration_behavior: Annotated[
            ProrationBehavior, strawberry.argument(description="How the change is billed.")
        ] = ProrationBehavior.CREATE_PRORATIONS,
    ) -> InvoicePreview:
        async with info.context.db() as session:
            preview = await changes.preview_change(
                session,
                clock=info.context.clock,
                subscription_id=await owned_key(
                    info, session, subscription_id, "Subscription", "subscriptionId"
                ),
                price_id=None if price_id is None else key_of(price_id, "Price", "priceId"),
                quantity=quantity,
                behavior=proration_behavior,
            )
        return InvoicePreview.from_preview(preview)

    @strawberry.field(
        description="The signed-in customer (customer tokens); null for API keys and "
        "anonymous callers."
    )
    async def viewer(self, info: Info) -> Customer | None:
        principal = info.context.principal
        if principal.customer_id is None:
            return None
        row = await info.context.loaders.customer.load(principal.customer_id)
        return None if row is None else Customer.from_model(row)

    @strawberry.field(description="Server API keys, newest first (admins).")
    async def api_keys(
        self, info: Info, first: First = None, after: After = None
    ) -> ApiKeyConnection:
        return await connection(
            info, api_keys.keys_query(), models.ApiKey.id, ApiKey.from_model, first, after
        )

    @strawberry.field(description="The audit log: every mutation call, newest first (admins).")
    async def audit_events(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            AuditEventFilter | None, strawberry.argument(description="Conditions on the events.")
        ] = None,
    ) -> AuditEventConnection:
        given = filter or AuditEventFilter()
        problems = Problems()
        after_ = check.moment(problems, given.occurred_after, "filter", "occurredAfter")
        before = check.moment(problems, given.occurred_before, "filter", "occurredBefore")
        texts = (given.operation, given.principal, given.outcome, given.target_id)
        if not all(check.storable(text or "") for text in texts):
            problems.add(ErrorCode.INVALID, check.UNSTORABLE, "filter")
        problems.raise_if_any()
        statement = audit.events_query(
            audit.AuditFilter(
                operation=given.operation,
                principal=given.principal,
                target_id=given.target_id,
                outcome=given.outcome,
                occurred_after=after_,
                occurred_before=before,
            ),
            dialect=info.context.runtime.engine.dialect.name,
        )
        return await connection(
            info, statement, models.AuditEvent.id, AuditEvent.from_model, first, after
        )

    @strawberry.field(description="Every ISO 4217 currency paygate accepts, with decimal places.")
    def currencies(self) -> list[Currency]:
        return [
            Currency(
                code=CurrencyCode(c.code),
                numeric_code=c.numeric,
                decimal_places=c.minor_units,
                name=c.name,
            )
            for c in CURRENCIES.values()
        ]
