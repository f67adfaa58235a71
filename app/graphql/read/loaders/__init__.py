"""The request's DataLoaders, one per relation, made fresh for each request
(``RequestContext.loaders``), grouped by aggregate: ``customers``, ``catalog``,
``payments``, ``billing``, ``experiments``. Each batch is one statement, so the number of
SQL round trips depends on the depth of a query, never on list lengths; what the shared
machinery is lives in ``base``."""

from app.graphql.read.loaders.billing import BillingLoaders, Grant
from app.graphql.read.loaders.customers import CustomerLoaders
from app.graphql.read.loaders.experiments import ExperimentLoaders
from app.graphql.read.loaders.payments import ChildPage, PaymentFilter, PaymentLoaders

__all__ = ["ChildPage", "Grant", "Loaders", "PaymentFilter"]


class Loaders(CustomerLoaders, PaymentLoaders, BillingLoaders, ExperimentLoaders):
    """The request's DataLoaders. Each is made on its first use: a request needs a few of
    them, and making all of them cost more than a small query's execution."""
