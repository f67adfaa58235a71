"""The Query fields of pricing experiments: the growth team's `experiment(s)`, and the
frontends' `checkoutOffer`."""

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
import strawberry

from app import models
from app.domain.errors import ErrorCode
from app.domain.experiments.lifecycle import Platform
from app.resolvers.common import Info, key_of
from app.resolvers.nodes import load_typed
from app.schema.checkout_offers import CheckoutOffer
from app.schema.errors import PublicError
from app.schema.experiment_inputs import ExperimentFilter
from app.schema.experiments import Experiment
from app.schema.pagination import After, Connection, First
from app.schema.scalars import CurrencyCode
from app.services.experiments import offers
from app.services.pagination import count, fetch_page


def _offer_customer(info: Info, customer_id: strawberry.ID | None) -> uuid.UUID | None:
    """Whose offer: a customer session's own customer (the default), or any customer for
    staff. Naming another customer (which would tie a visitor's assignments to them) is
    refused exactly like an unknown customer; anonymous callers name none."""
    principal = info.context.principal
    if customer_id is None:
        return principal.customer_id
    key = key_of(customer_id, "Customer", "customerId")
    if not principal.is_staff and key != principal.customer_id:
        raise PublicError("No such customer.", ErrorCode.NOT_FOUND)
    return key


@strawberry.type
class ExperimentQueries:
    @strawberry.field(description="An experiment by global ID.")
    async def experiment(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")],
    ) -> Experiment | None:
        return await load_typed(info.context, id, "Experiment")  # type: ignore[no-any-return]

    @strawberry.field(description="Experiments, newest first.")
    async def experiments(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            ExperimentFilter | None,
            strawberry.argument(description="Conditions on the experiments."),
        ] = None,
    ) -> Connection[Experiment]:
        given = filter or ExperimentFilter()
        statement = sa.select(models.Experiment)
        if given.status:
            statement = statement.where(models.Experiment.status.in_(given.status))
        if given.product_id is not None:
            product = key_of(given.product_id, "Product", "filter", "productId")
            statement = statement.where(models.Experiment.product_id == product)
        key: Any = models.Experiment.id
        async with info.context.db() as session:
            page = await fetch_page(session, statement, key, first=first, after=after)

        async def total() -> int:
            async with info.context.db() as session:
                return await count(session, statement)

        return Connection.of(
            page.items, Experiment.from_model, more=page.has_next_page, after=after, count=total
        )

    @strawberry.field(
        description="What to show a visitor for a product: the price, trial and coupon, and "
        "the experiment and variant when they are in one. The visitor keeps the same offer "
        "on every call (assignment is deterministic and sticky), and each call is logged as "
        "an exposure. Null when the product is archived or has no active recurring price "
        "in the currency asked."
    )
    async def checkout_offer(
        self,
        info: Info,
        product_id: Annotated[
            strawberry.ID, strawberry.argument(description="Global ID of the product.")
        ],
        anonymous_id: Annotated[
            str | None,
            strawberry.argument(
                description="The logged-out visitor's id, generated and kept by the client "
                "(8 to 128 letters, digits, _ . : -; a UUID fits)."
            ),
        ] = None,
        customer_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The signed-in customer; with `anonymousId`, the visitor's "
                "assignments carry over to the customer."
            ),
        ] = None,
        platform: Annotated[
            Platform | None, strawberry.argument(description="Where the offer is shown.")
        ] = None,
        country: Annotated[
            str | None,
            strawberry.argument(description="ISO country; the customer's when omitted."),
        ] = None,
        currency: Annotated[
            CurrencyCode | None,
            strawberry.argument(
                description="ISO currency to offer in; the default price's when omitted."
            ),
        ] = None,
        record_exposure: Annotated[
            bool,
            strawberry.argument(
                description="Log that the offer is shown (`false` for prefetching)."
            ),
        ] = True,
    ) -> CheckoutOffer | None:
        visitor = offers.Visitor(
            anonymous_id=anonymous_id,
            customer_id=_offer_customer(info, customer_id),
            platform=platform,
            country=country,
            currency=currency,
        )
        async with info.context.db() as session:
            offer = await offers.checkout_offer(
                session,
                clock=info.context.clock,
                product_id=key_of(product_id, "Product", "productId"),
                visitor=visitor,
                record_exposure=record_exposure,
            )
        if offer is None:
            return None
        return CheckoutOffer(
            trial_period_days=offer.trial_period_days,
            price_key=offer.price.id,
            coupon_key=offer.coupon_id,
            experiment_row=offer.experiment,
            variant_row=offer.variant,
        )
