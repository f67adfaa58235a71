"""Test clocks in GraphQL: simulated time for sandbox billing."""

from datetime import datetime

import strawberry

from app.models import TestClock as TestClockRow
from app.schema.errors import UserError
from app.schema.idempotency import optional_key
from app.schema.node import Node, encode_gid


@strawberry.type(description="A simulated clock for sandbox testing of billing over time.")
class TestClock(Node):
    __test__ = False
    name: str = strawberry.field(description="Your label.")
    frozen_time: datetime = strawberry.field(description="The clock's current time.")

    @classmethod
    def from_model(cls, row: TestClockRow) -> "TestClock":
        return cls(id=encode_gid("TestClock", row.id), name=row.name, frozen_time=row.frozen_time)


@strawberry.input(description="A new test clock (sandbox).")
class CreateTestClockInput:
    idempotency_key: str | None = optional_key()
    frozen_time: datetime = strawberry.field(description="Its starting time.")
    name: str | None = strawberry.field(default=None, description="Your label.")


@strawberry.input(description="Move a test clock forward; billing runs up to the new time.")
class AdvanceTestClockInput:
    idempotency_key: str | None = optional_key()
    test_clock_id: strawberry.ID = strawberry.field(description="Global ID of the clock.")
    frozen_time: datetime = strawberry.field(description="The new time (later than now).")


@strawberry.type(description="Result of a test clock mutation.")
class TestClockPayload:
    __test__ = False
    test_clock: TestClock | None = strawberry.field(description="The clock.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")
