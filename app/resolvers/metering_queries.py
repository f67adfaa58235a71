"""The Query field of usage-based billing: `meters` (staff)."""

from typing import Annotated, Any, cast

import strawberry

from app.models import Meter as MeterRow
from app.resolvers.common import Info
from app.schema.metering import Meter, MeterConnection
from app.schema.pagination import After, First
from app.services import pagination
from app.services.metering import meters


@strawberry.type
class MeteringQueries:
    @strawberry.field(description="Meters, newest first.")
    async def meters(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        include_archived: Annotated[
            bool, strawberry.argument(description="Archived meters too.")
        ] = False,
    ) -> MeterConnection:
        statement = meters.meters_query(include_archived=include_archived)
        async with info.context.db() as session:
            page = await pagination.fetch_page(
                session, statement, cast(Any, MeterRow.id), first=first, after=after
            )

        async def count() -> int:
            async with info.context.db() as session:
                return await pagination.count(session, statement)

        return MeterConnection.of(
            page.items, Meter.from_model, more=page.has_next_page, after=after, count=count
        )
