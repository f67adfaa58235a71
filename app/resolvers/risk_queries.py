"""The Query fields of risk: `riskRules`, `riskListEntries` and `reviews` (staff)."""

from typing import Annotated, Any, cast

import strawberry

from app.domain.reviews import ReviewStatus
from app.domain.risk import RiskDimension, RiskListKind
from app.models import Review as ReviewRow
from app.models import RiskListEntry as EntryRow
from app.models import RiskRule as RuleRow
from app.resolvers.common import Info
from app.schema.pagination import After, First
from app.schema.reviews import Review, ReviewConnection
from app.schema.risk import (
    RiskListEntry,
    RiskListEntryConnection,
    RiskRule,
    RiskRuleConnection,
)
from app.services import pagination
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
        async with info.context.db() as session:
            page = await pagination.fetch_page(
                session, statement, cast(Any, RuleRow.id), first=first, after=after
            )

        async def count() -> int:
            async with info.context.db() as session:
                return await pagination.count(session, statement)

        return RiskRuleConnection.of(
            page.items, RiskRule.from_model, more=page.has_next_page, after=after, count=count
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
        async with info.context.db() as session:
            page = await pagination.fetch_page(
                session, statement, cast(Any, EntryRow.id), first=first, after=after
            )

        async def count() -> int:
            async with info.context.db() as session:
                return await pagination.count(session, statement)

        return RiskListEntryConnection.of(
            page.items, RiskListEntry.from_model, more=page.has_next_page, after=after,
            count=count,
        )  # fmt: skip

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
        async with info.context.db() as session:
            page = await pagination.fetch_page(
                session, statement, cast(Any, ReviewRow.id), first=first, after=after
            )

        async def count() -> int:
            async with info.context.db() as session:
                return await pagination.count(session, statement)

        return ReviewConnection.of(
            page.items, Review.from_model, more=page.has_next_page, after=after, count=count
        )
