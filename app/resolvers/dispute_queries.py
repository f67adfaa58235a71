"""The Query fields of disputes for staff: `disputes` (a filtered list) and
`disputeEvidenceSuggestion`."""

from typing import Annotated

import strawberry

from app.models import Dispute as DisputeRow
from app.resolvers.common import Info, key_of, session_connection
from app.schema.dispute_evidence import DisputeEvidenceSuggestion
from app.schema.dispute_inputs import DisputeConnection, DisputeFilter
from app.schema.pagination import After, First
from app.schema.payment import Dispute
from app.security.policy import policy_of
from app.services.disputes import queries, suggestions


@strawberry.type
class DisputeQueries:
    @strawberry.field(description="Disputes, newest first (staff: support, finance, admin).")
    async def disputes(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            DisputeFilter | None, strawberry.argument(description="Conditions on the disputes.")
        ] = None,
    ) -> DisputeConnection:
        given = filter or DisputeFilter()
        statement = queries.disputes_query(
            queries.DisputeFilter(
                statuses=tuple(given.status or ()),
                psps=tuple(given.psps or ()),
                evidence_due_before=given.evidence_due_before,
                evidence_submitted=given.evidence_submitted,
            )
        )
        return await session_connection(
            info, statement, DisputeRow.id, Dispute.from_model, first, after
        )

    @strawberry.field(
        description="Evidence for a dispute built from what paygate knows: the payment's "
        "invoice (number, lines, billed usage), its subscription (plan, start, period) and "
        "the customer's name and email when the caller may read them. Nothing is stored."
    )
    async def dispute_evidence_suggestion(
        self,
        info: Info,
        dispute_id: Annotated[
            strawberry.ID, strawberry.argument(description="Global ID of the dispute.")
        ],
    ) -> DisputeEvidenceSuggestion:
        key = key_of(dispute_id, "Dispute", "disputeId")
        email_policy = policy_of("Customer", "email") or frozenset()
        async with info.context.db() as session:
            found = await suggestions.suggest(
                session,
                dispute_id=key,
                personal_data=info.context.principal.actor in email_policy,
            )
        return DisputeEvidenceSuggestion(
            product_description=found.product_description,
            uncategorized_text=found.uncategorized_text,
            service_date=found.service_date,
            customer_name=found.customer_name,
            customer_email_address=found.customer_email_address,
        )
