"""GDPR: erasing a customer's personal data, and exporting everything about them."""

import strawberry

from app.schema.customer import Customer
from app.schema.errors import UserError
from app.schema.idempotency import optional_key
from app.schema.payment_method import Psp
from app.schema.scalars import JSON


@strawberry.input(description="Which customer to erase.")
class EraseCustomerInput:
    customer_id: strawberry.ID = strawberry.field(description="Global ID of the customer.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Optional: the same key and customer replay the first answer. Erasing is "
        "idempotent anyway: erasing an erased customer changes nothing.",
    )


@strawberry.type(description="Result of `eraseCustomer`.")
class EraseCustomerPayload:
    customer: Customer | None = strawberry.field(
        description="The customer after the erasure (`erasedAt` set), unless refused."
    )
    pending_psp_deletions: list[Psp] | None = strawberry.field(
        description="PSPs where deleting the customer failed for now (unavailable): the local "
        "erasure is complete, and paygate retries these in the background "
        "(`delete_erased_psp_customers` job) or when `eraseCustomer` is called again. Empty "
        "when the customer is gone everywhere; null when the input was refused."
    )
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")


@strawberry.input(description="Whose data to export.")
class ExportCustomerDataInput:
    idempotency_key: str | None = optional_key()
    customer_id: strawberry.ID = strawberry.field(description="Global ID of the customer.")


@strawberry.type(description="Result of `exportCustomerData`.")
class ExportCustomerDataPayload:
    data: JSON | None = strawberry.field(
        description="Everything paygate holds about the customer, as a JSON document of "
        'format `"paygate-customer-export/v1"` (see the README, "GDPR: erasure and '
        'export"), unless refused.'
    )
    user_errors: list[UserError] = strawberry.field(description="Why the input was refused.")
