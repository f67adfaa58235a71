"""The Mutation root: one `input`, a payload with the object and `userErrors`."""

import strawberry

from app.resolvers.mutations.catalog import CatalogMutations
from app.resolvers.mutations.customers import CustomerMutations
from app.resolvers.mutations.payment_methods import PaymentMethodMutations


@strawberry.type(description="Change customers, the catalog and payment methods.")
class Mutation(CustomerMutations, CatalogMutations, PaymentMethodMutations):
    pass
