"""The review queue: charges the risk rules held for a person (README: Risk rules and
reviews)."""

from __future__ import annotations

import uuid
from datetime import datetime
from operator import attrgetter

import strawberry

from app import models
from app.domain.reviews import ReviewClosedReason, ReviewStatus
from app.graphql.read.fields import batched
from app.models import Review as ReviewRow
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.idempotency import optional_key
from app.schema.node import Node, encode_gid
from app.schema.pagination import Connection
from app.schema.payment import Payment

described_enum(
    ReviewStatus,
    description="Whether a review waits for a decision.",
    values={
        ReviewStatus.OPEN: "Waiting: the charge is authorised, not captured.",
        ReviewStatus.CLOSED: "Decided, and carried out.",
    },
)
described_enum(
    ReviewClosedReason,
    description="How a review was decided.",
    values={
        ReviewClosedReason.APPROVED: "Approved: captured (or left to your manual capture).",
        ReviewClosedReason.REJECTED: "Rejected: the authorisation cancelled, or the charge "
        "refunded.",
        ReviewClosedReason.EXPIRED: "Nobody decided in time: `PAYGATE_RISK_REVIEW_DEFAULT` "
        "was applied.",
    },
)


@strawberry.type(
    description="A charge the rules held for a person: authorised, not captured, until "
    "`approveReview` or `rejectReview`, or `closesAt` (then `PAYGATE_RISK_REVIEW_DEFAULT`)."
)
class Review(Node):
    status: ReviewStatus = strawberry.field(description="Open or closed.")
    reason: str = strawberry.field(description="The review rules that matched.")
    closes_at: datetime = strawberry.field(description="When the default action applies.")
    closed_at: datetime | None = strawberry.field(description="When it closed.")
    closed_reason: ReviewClosedReason | None = strawberry.field(
        description="How it was decided (set as soon as decided, before it is carried out)."
    )
    closed_by: str | None = strawberry.field(description="Who decided.")
    note: str | None = strawberry.field(description="The decider's note.")
    created_at: datetime = strawberry.field(description="When it opened.")
    payment_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The held payment.")
    @batched(lambda loaders: loaders.payment, key=attrgetter("payment_key"))
    def payment(self, row: models.Payment | None) -> Payment:
        assert row is not None
        return Payment.from_model(row)

    @classmethod
    def from_model(cls, row: ReviewRow) -> Review:
        return cls(
            id=encode_gid("Review", row.id),
            status=row.status,
            reason=row.reason,
            closes_at=row.closes_at,
            closed_at=row.closed_at,
            closed_reason=row.closed_reason,
            closed_by=row.closed_by,
            note=row.note,
            created_at=row.created_at,
            payment_key=row.payment_id,
        )


ReviewConnection = Connection[Review]


@strawberry.input(description="A decision on a review.")
class DecideReviewInput:
    review_id: strawberry.ID = strawberry.field(description="The `Review`.")
    note: str | None = strawberry.field(default=None, description="Why (kept on the review).")
    idempotency_key: str | None = optional_key()


@strawberry.type(description="Result of `approveReview` and `rejectReview`.")
class ReviewPayload:
    review: Review | None = strawberry.field(description="The review.")
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused, or why the PSP could not carry it out yet (the "
        "decision stands and is carried out again by the worker)."
    )
