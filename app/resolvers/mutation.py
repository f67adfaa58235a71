"""The Mutation root: one `input`, a payload with the object and `userErrors`."""

import strawberry

from app.resolvers.mutations.billing import BillingMutations
from app.resolvers.mutations.catalog import CatalogMutations
from app.resolvers.mutations.credit_notes import CreditNoteMutations
from app.resolvers.mutations.customers import CustomerMutations
from app.resolvers.mutations.disputes import DisputeMutations
from app.resolvers.mutations.experiments import ExperimentMutations
from app.resolvers.mutations.gdpr import GdprMutations
from app.resolvers.mutations.invoices import InvoiceMutations
from app.resolvers.mutations.metering import MeteringMutations
from app.resolvers.mutations.payment_methods import PaymentMethodMutations
from app.resolvers.mutations.payments import PaymentMutations
from app.resolvers.mutations.promotions import PromotionMutations
from app.resolvers.mutations.risk import RiskMutations
from app.resolvers.mutations.security import SecurityMutations
from app.resolvers.mutations.webhooks_out import WebhookOutMutations


@strawberry.type(
    description="Change customers, the catalog, payment methods, subscriptions and pricing "
    "experiments; move money."
)
class Mutation(
    CustomerMutations,
    CatalogMutations,
    PaymentMethodMutations,
    PaymentMutations,
    DisputeMutations,
    BillingMutations,
    InvoiceMutations,
    CreditNoteMutations,
    SecurityMutations,
    GdprMutations,
    ExperimentMutations,
    WebhookOutMutations,
    MeteringMutations,
    RiskMutations,
    PromotionMutations,
):
    pass
