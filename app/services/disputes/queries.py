"""The staff list of disputes: a filtered statement for the keyset pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.domain.payments import DisputeStatus
from app.models import Dispute


@dataclass(frozen=True, slots=True)
class DisputeFilter:
    statuses: Sequence[DisputeStatus] = ()
    psps: Sequence[str] = ()
    evidence_due_before: datetime | None = None
    evidence_submitted: bool | None = None


def disputes_query(filter_: DisputeFilter) -> sa.Select[Dispute]:
    statement = sa.select(Dispute)
    if filter_.statuses:
        statement = statement.where(Dispute.status.in_(list(filter_.statuses)))
    if filter_.psps:
        statement = statement.where(Dispute.psp.in_(list(filter_.psps)))
    if filter_.evidence_due_before is not None:
        statement = statement.where(Dispute.evidence_due_by < filter_.evidence_due_before)
    if filter_.evidence_submitted is not None:
        submitted = Dispute.evidence_submitted_at
        statement = statement.where(
            submitted.is_not(None) if filter_.evidence_submitted else submitted.is_(None)
        )
    return statement
