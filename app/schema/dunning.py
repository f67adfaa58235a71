"""Why paygate stopped collecting a subscription's invoices on its own, in GraphQL."""

from datetime import datetime
from typing import Any

import strawberry

from app.domain.dunning import CollectionStopReason, CustomerAction, stop_message
from app.schema.enums import described_enum

described_enum(
    CollectionStopReason,
    description="Why automatic collection stopped.",
    values={
        CollectionStopReason.PAYMENT_METHOD_REFUSED: "A decline that must not be retried "
        "with this payment method (`DO_NOT_RETRY`: lost, stolen, closed account, a network's "
        '"do not try again"…): collection waits for a new payment method.',
        CollectionStopReason.CUSTOMER_ACTION_REQUIRED: "The customer must act first "
        "(`CUSTOMER_ACTION_REQUIRED`): nothing is retried meanwhile.",
        CollectionStopReason.RETRIES_EXHAUSTED: "Every retry of the dunning schedule failed.",
        CollectionStopReason.RETRY_LIMIT_REACHED: "The card was tried as often as the card "
        "networks allow for this invoice (15 attempts in 30 days, 10 in 24 hours): "
        "collection waits for a new payment method.",
        CollectionStopReason.NO_PAYMENT_METHOD: "There was no usable payment method (none "
        "set as default, or it was detached).",
    },
)
described_enum(
    CustomerAction,
    description="What the customer must do so that it can be paid.",
    values={
        CustomerAction.ADD_PAYMENT_METHOD: "Add a new payment method and make it the "
        "default (the open invoice is retried with it at once), or pay with another one.",
        CustomerAction.AUTHENTICATE: "Pay the invoice while present (`payInvoice`) and "
        "complete the bank's authentication (3-D Secure).",
        CustomerAction.UPDATE_PAYMENT_DETAILS: "Update the card's details (expiry date, "
        "security code), or add another payment method.",
        CustomerAction.CONTACT_BANK: "Contact the bank that issued the card, then pay again, "
        "or add another payment method.",
    },
)


@strawberry.type(
    description="Why paygate stopped collecting on its own, and what the customer must do: "
    "show `message` to them."
)
class CollectionStop:
    reason: CollectionStopReason = strawberry.field(description="Why collection stopped.")
    customer_action: CustomerAction = strawberry.field(description="What the customer must do.")
    message: str = strawberry.field(
        description="Why and what to do, in a sentence for the customer. It never names a "
        "reason the networks ask merchants not to disclose (lost, stolen, fraud)."
    )
    stopped_at: datetime = strawberry.field(description="When collection stopped.")

    @classmethod
    def of(cls, row: Any) -> "CollectionStop | None":
        """The stop recorded on a subscription or invoice (row or record), if any."""
        reason, action = row.collection_stop_reason, row.collection_stop_action
        if reason is None or action is None or row.collection_stopped_at is None:
            return None
        return cls(
            reason=reason,
            customer_action=action,
            message=stop_message(reason, action),
            stopped_at=row.collection_stopped_at,
        )


# The columns ``CollectionStop.of`` reads (``app.graphql.read.fields.reads``).
STOP_COLUMNS = ("collection_stop_reason", "collection_stop_action", "collection_stopped_at")
