"""`node(id:)` and `nodes(ids:)`: any object by its global ID, through the DataLoaders."""

from collections.abc import Callable
from typing import Any

from strawberry.dataloader import DataLoader

from app.context import RequestContext
from app.domain.errors import ErrorCode
from app.graphql.read.loaders import Loaders
from app.resolvers.access import can_see
from app.schema.catalog import Price, Product
from app.schema.coupons import Coupon, TaxRate
from app.schema.customer import Customer
from app.schema.errors import PublicError
from app.schema.experiments import Experiment, ExperimentVariant
from app.schema.invoices import CreditNote, Invoice
from app.schema.node import GlobalIdError, Node, decode_gid
from app.schema.payment import Dispute, Payment, Refund
from app.schema.payment_method import PaymentMethod
from app.schema.promotion_codes import PromotionCode
from app.schema.subscriptions import Subscription
from app.schema.test_clocks import TestClock

MAX_NODES = 100

# type name -> (its loader in a request's Loaders, GraphQL type builder)
NODE_TYPES: dict[str, tuple[Callable[[Loaders], DataLoader[Any, Any]], Callable[[Any], Node]]] = {
    "Customer": (lambda loaders: loaders.customer, Customer.from_model),
    "Product": (lambda loaders: loaders.product, Product.from_model),
    "Price": (lambda loaders: loaders.price, Price.from_model),
    "PaymentMethod": (lambda loaders: loaders.payment_method, PaymentMethod.from_model),
    "Payment": (lambda loaders: loaders.payment, Payment.from_model),
    "Refund": (lambda loaders: loaders.refund, Refund.from_model),
    "Dispute": (lambda loaders: loaders.dispute, Dispute.from_model),
    "Subscription": (lambda loaders: loaders.subscription, Subscription.from_model),
    "Invoice": (lambda loaders: loaders.invoice, Invoice.from_model),
    "CreditNote": (lambda loaders: loaders.credit_note, CreditNote.from_model),
    "TestClock": (lambda loaders: loaders.test_clock, TestClock.from_model),
    "Coupon": (lambda loaders: loaders.coupon, Coupon.from_model),
    "TaxRate": (lambda loaders: loaders.tax_rate, TaxRate.from_model),
    "PromotionCode": (lambda loaders: loaders.promotion_code, PromotionCode.from_model),
    "Experiment": (lambda loaders: loaders.experiment, Experiment.from_model),
    "ExperimentVariant": (
        lambda loaders: loaders.experiment_variant,
        ExperimentVariant.from_model,
    ),
}


async def load_node(context: RequestContext, global_id: str) -> Node | None:
    """The object, or ``None`` when there is none or the caller may not see it (the two
    are indistinguishable, so that IDs cannot be probed)."""
    try:
        type_name, key = decode_gid(global_id)
    except GlobalIdError:
        raise PublicError(f"Not a global ID: {global_id[:100]!r}.", ErrorCode.INVALID_ID) from None
    if type_name not in NODE_TYPES:
        return None
    loader, build = NODE_TYPES[type_name]
    loaders = context.loaders
    row = await loader(loaders).load(key)
    if row is None or not await can_see(context.principal, loaders, type_name, row):
        return None
    return build(row)


async def load_typed(context: RequestContext, global_id: str, expected: str) -> Any:
    """An object of type ``expected``, ``None`` when unknown; an ID of another type is an
    error (it is a bug in the caller, not a missing object)."""
    node = await load_node(context, global_id)
    if node is not None and type(node).__name__ != expected:
        raise PublicError(
            f"Expected the ID of a {expected}, not a {type(node).__name__}.",
            ErrorCode.WRONG_ID_TYPE,
        )
    return node
