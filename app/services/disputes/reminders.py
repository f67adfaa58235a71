"""``dispute.evidence_due_soon``: stated once per dispute and due date, ``notice`` before
the dispute's ``evidence_due_by`` (the ``dispute_evidence_notice_days`` setting, 3 days by
default), for disputes that still wait for their evidence.

Exactly once, with any number of workers: a reminder is claimed by a conditional UPDATE of
the dispute's ``evidence_reminded_for`` (the due date it reminds of), and only the
transaction whose UPDATE changed the row states the event, in the same transaction (the
outbox). A due date moved later (an appeal) gets a reminder of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import disputes as rules
from app.domain.event_types import EventType as T
from app.models import Dispute
from app.services.outbox import recorder

BATCH = 500


def _due(now: datetime, notice: timedelta) -> sa.ColumnElement[bool]:
    return sa.and_(
        Dispute.status.in_(list(rules.OPEN_FOR_EVIDENCE)),
        Dispute.evidence_submitted_at.is_(None),
        Dispute.evidence_due_by > now,
        Dispute.evidence_due_by <= now + notice,
        sa.or_(
            Dispute.evidence_reminded_for.is_(None),
            Dispute.evidence_reminded_for != Dispute.evidence_due_by,
        ),
    )


async def remind_due(session: AsyncSession, *, now: datetime, notice: timedelta) -> int:
    """State the reminders due at ``now``; how many this call stated."""
    candidates = list(
        await session.scalars(
            sa.select(Dispute.id).where(_due(now, notice)).order_by(Dispute.id).limit(BATCH)
        )
    )
    await session.rollback()
    stated = 0
    for dispute_id in candidates:
        claimed = await session.execute(
            sa.update(Dispute)
            .where(Dispute.id == dispute_id, _due(now, notice))
            .values(evidence_reminded_for=Dispute.evidence_due_by)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            await session.rollback()
            continue  # another worker's, or no longer due
        dispute = await session.get(Dispute, dispute_id, populate_existing=True)
        assert dispute is not None
        recorder.record(session.sync_session, T.DISPUTE_EVIDENCE_DUE_SOON, dispute)
        await session.commit()
        stated += 1
    return stated
