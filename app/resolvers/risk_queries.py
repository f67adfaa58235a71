"""The Query fields of risk: `riskRules`, `riskListEntries` and `reviews` (staff)."""

from typing import Annotated

import strawberry

from app.domain.reviews import ReviewStatus
from app.domain.risk import RiskDimension, RiskListKind
from app.models import Review as ReviewRow
from app.models import RiskListEntry as EntryRow
from app.models import RiskRule as RuleRow
from app.resolvers.common import Info, session_connection
from app.schema.pagination import After, First
from app.schema.reviews import Review, ReviewConnection
from app.schema.risk import (
    RiskListEntry,
    RiskListEntryConnection,
    RiskRule,
    RiskRuleConnection,
)
from app.services.payments import reviews
from app.services.risk import rules


@strawberry.type
class RiskQueries:
    @strawberry.field(description="The risk rules, newest first (`position` orders them).")
    async def risk_rules(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        active: Annotated[bool | None, strawberry.argument(description="Only these.")] = None,
    ) -> RiskRuleConnection:
        statement = rules.rules_query(active=active)
        return await session_connection(
            info, statement, RuleRow.id, RiskRule.from_model, first, after
        )

    @strawberry.field(description="The block and allow lists' values, newest first.")
    async def risk_list_entries(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        list: Annotated[RiskListKind | None, strawberry.argument(description="One list.")] = None,
        dimension: Annotated[
            RiskDimension | None, strawberry.argument(description="One kind of value.")
        ] = None,
    ) -> RiskListEntryConnection:
        statement = rules.list_query(list_kind=list, dimension=dimension)
        return await session_connection(
            info, statement, EntryRow.id, RiskListEntry.from_model, first, after
        )

    @strawberry.field(description="The review queue, newest first.")
    async def reviews(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        status: Annotated[
            ReviewStatus | None, strawberry.argument(description="Only these.")
        ] = None,
    ) -> ReviewConnection:
        statement = reviews.reviews_query(status=status)
        return await session_connection(
            info, statement, ReviewRow.id, Review.from_model, first, after
        )
