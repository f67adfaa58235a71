"""Domain events: facts one capability states and another reacts to, as plain frozen values
naming the rows they concern.

Today they are handled in process, in the transaction that states them
(``app.services.events``); the outbox will publish the same values.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InvoicePaymentSucceeded:
    """A payment of an invoice has succeeded: the invoice counts it (and, once paid in full,
    its subscription is current). Stated by payments, handled by billing."""

    payment_id: uuid.UUID
    invoice_id: uuid.UUID


DomainEvent = InvoicePaymentSucceeded  # the union of the event types, as more come
