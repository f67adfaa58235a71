"""A dispute's evidence: drafted on our side (``update_evidence``), then submitted to the
PSP once (``submit_evidence``).

The draft lives on the dispute row (``evidence``): text under Stripe's keys, and files
bound to file fields with their details copied. Both steps refuse a closed dispute, one
whose evidence went already, one whose due date has passed, and one that no longer waits
for a response. A submission claims the dispute first (``evidence_submitted_at`` set by a
conditional UPDATE: of two racing submissions exactly one wins), commits, then calls the
PSP; a PSP that refuses or cannot be reached gives the claim back, so that the merchant may
try again. The PSP calls carry keys made of the dispute and the evidence's digest: a retry
of the same evidence replays at the PSP instead of submitting twice.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import disputes as rules
from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.payments import dispute_moves
from app.domain.updates import KEEP
from app.models import Dispute, File, Payment, PaymentEvent
from app.psp import base as psp
from app.psp.base import Operation
from app.psp.errors import (
    OperationNotSupported,
    PspAuthError,
    PspBadResponse,
    PspInvalidRequest,
    PspOutcomeUnknown,
    PspRateLimited,
    PspUnavailable,
)
from app.psp.registry import PspRegistry
from app.services.psp_calls import gateway


@dataclass(frozen=True, slots=True)
class Draft:
    """The evidence as stored: text by Stripe key, files by Stripe key."""

    texts: dict[str, str]
    files: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, stored: Mapping[str, Any] | None) -> Draft:
        stored = stored or {}
        return cls(dict(stored.get("texts", {})), dict(stored.get("files", {})))

    def stored(self) -> dict[str, Any]:
        return {"texts": dict(self.texts), "files": dict(self.files)}

    def __bool__(self) -> bool:
        return bool(self.texts or self.files)

    def digest(self) -> str:
        encoded = json.dumps(self.stored(), sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:24]


def _refuse(code: ErrorCode, message: str, *field: str) -> UserInputError:
    return UserInputError(Problem(code, message, field))


async def lock_dispute(session: AsyncSession, dispute_id: uuid.UUID) -> Dispute:
    dispute = await session.scalar(
        sa.select(Dispute)
        .where(Dispute.id == dispute_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if dispute is None:
        raise _refuse(ErrorCode.NOT_FOUND, "No such dispute.", "disputeId")
    return dispute


def _open_for_evidence(dispute: Dispute, now: datetime) -> None:
    """Refuse evidence for a dispute that cannot take it (nothing changes)."""
    if dispute.status in rules.CLOSED:
        raise _refuse(
            ErrorCode.DISPUTE_CLOSED,
            f"The dispute is closed ({dispute.status.value}): it takes no evidence.",
            "disputeId",
        )
    if dispute.evidence_submitted_at is not None:
        raise _refuse(
            ErrorCode.EVIDENCE_ALREADY_SUBMITTED,
            "This dispute's evidence was submitted already; a PSP takes one submission.",
            "disputeId",
        )
    if dispute.evidence_due_by is not None and now >= dispute.evidence_due_by:
        raise _refuse(
            ErrorCode.EVIDENCE_PAST_DUE,
            f"The evidence was due by {dispute.evidence_due_by.isoformat()}.",
            "disputeId",
        )
    if dispute.status not in rules.OPEN_FOR_EVIDENCE:
        raise _refuse(
            ErrorCode.INVALID_STATE,
            f"A dispute in status {dispute.status.value} does not wait for evidence.",
            "disputeId",
        )


async def update_evidence(
    session: AsyncSession,
    *,
    clock: Clock,
    dispute_id: uuid.UUID,
    texts: Mapping[rules.EvidenceText, Any],
    files: Mapping[rules.EvidenceFileField, tuple[uuid.UUID | None, tuple[str, ...]]],
) -> Dispute:
    """Change the draft: each text given replaces its field (``None`` clears it, ``KEEP``
    leaves it); each file field given is bound to that file (``None`` unbinds it). The
    value of ``files`` also names the input field a problem is reported on."""
    now = clock.now()
    dispute = await lock_dispute(session, dispute_id)
    _open_for_evidence(dispute, now)
    draft = Draft.of(dispute.evidence)
    problems = Problems()
    for name, value in texts.items():
        if value is KEEP:
            continue
        field: tuple[str, ...] = ("evidence", _camel(name.name))
        cleaned = check.text(problems, value, *field, max_length=rules.TEXT_LIMITS[name])
        if cleaned is None:
            draft.texts.pop(name.value, None)
        else:
            draft.texts[name.value] = cleaned
    for slot, (file_id, bound_at) in files.items():
        if file_id is None:
            draft.files.pop(slot.value, None)
            continue
        row = await session.get(File, file_id)
        if row is None or row.purpose != rules.PURPOSE_DISPUTE_EVIDENCE:
            problems.add(ErrorCode.NOT_FOUND, "No such evidence file.", *bound_at)
            continue
        draft.files[slot.value] = {
            "file_id": str(row.id),
            "filename": row.filename,
            "content_type": row.content_type,
            "size": row.size_bytes,
        }
    if rules.text_length(draft.texts) > rules.MAX_TEXT_CHARS:
        problems.add(
            ErrorCode.TOO_LONG,
            f"The evidence's text fields together are at most {rules.MAX_TEXT_CHARS:,} "
            "characters (Stripe's limit).",
            "evidence",
        )
    problems.raise_if_any()
    dispute.evidence = draft.stored() if draft else None
    dispute.evidence_updated_at = now
    dispute.updated_at = now
    await session.commit()
    return dispute


@dataclass(frozen=True, slots=True)
class Submitted:
    dispute: Dispute
    problems: tuple[Problem, ...] = ()


async def submit_evidence(
    session: AsyncSession, *, psps: PspRegistry, clock: Clock, dispute_id: uuid.UUID
) -> Submitted:
    """Send the draft to the PSP with the instruction to submit it to the bank."""
    now = clock.now()
    dispute = await lock_dispute(session, dispute_id)
    _open_for_evidence(dispute, now)
    draft = Draft.of(dispute.evidence)
    if not draft:
        raise _refuse(
            ErrorCode.EVIDENCE_EMPTY, "There is no evidence to submit: draft it first.", "disputeId"
        )
    provider = gateway(psps, dispute.psp, "disputeId")
    if not provider.capabilities.supports(Operation.SUBMIT_DISPUTE_EVIDENCE):
        raise _refuse(
            ErrorCode.OPERATION_NOT_SUPPORTED,
            f"Evidence cannot be submitted to {dispute.psp} through paygate: answer the "
            "dispute in the PSP's own dashboard.",
            "disputeId",
        )
    claimed = await session.execute(
        sa.update(Dispute)
        .where(Dispute.id == dispute.id, Dispute.evidence_submitted_at.is_(None))
        .values(evidence_submitted_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise _refuse(
            ErrorCode.EVIDENCE_ALREADY_SUBMITTED,
            "This dispute's evidence was submitted already; a PSP takes one submission.",
            "disputeId",
        )
    request = await _request(session, dispute, draft)
    await session.commit()
    problem: Problem | None = None
    report: psp.DisputeInfo | None = None
    try:
        report = await provider.submit_dispute_evidence(request)
    except OperationNotSupported as error:
        problem = Problem(ErrorCode.OPERATION_NOT_SUPPORTED, str(error), ("disputeId",))
    except (PspUnavailable, PspAuthError, PspRateLimited, PspOutcomeUnknown, PspBadResponse):
        # Unknown outcomes too: the retry carries the same keys, which the PSP replays.
        problem = Problem(
            ErrorCode.PSP_UNAVAILABLE,
            "The payment provider could not take the evidence now; nothing was submitted "
            "that a retry would repeat. Try again.",
            (),
        )
    except PspInvalidRequest as error:
        problem = Problem(ErrorCode.PSP_REJECTED, f"The PSP refused: {error}", ())
    return Submitted(await _finish(session, dispute.id, report, clock), _tuple(problem))


def _tuple(problem: Problem | None) -> tuple[Problem, ...]:
    return () if problem is None else (problem,)


async def _request(
    session: AsyncSession, dispute: Dispute, draft: Draft
) -> psp.DisputeEvidenceRequest:
    digest = draft.digest()
    keys = {uuid.UUID(bound["file_id"]): field for field, bound in draft.files.items()}
    contents: dict[uuid.UUID, File] = {}
    if keys:
        rows = await session.scalars(
            sa.select(File).where(File.id.in_(keys)).options(sa.orm.undefer(File.content))
        )
        contents = {row.id: row for row in rows}
    files = []
    for file_id, field in sorted(keys.items(), key=lambda item: item[1]):
        row = contents.get(file_id)
        if row is None:
            raise _refuse(ErrorCode.NOT_FOUND, f"The file of {field} is gone.", "disputeId")
        files.append(
            psp.EvidenceFile(
                field=field,
                filename=row.filename,
                content_type=row.content_type,
                content=row.content,
                idempotency_key=f"paygate-file-{dispute.id.hex}-{file_id.hex}",
            )
        )
    return psp.DisputeEvidenceRequest(
        psp_reference=dispute.psp_reference,
        texts=dict(draft.texts),
        files=tuple(files),
        idempotency_key=f"paygate-evidence-{dispute.id.hex}-{digest}",
    )


async def _finish(
    session: AsyncSession, dispute_id: uuid.UUID, report: psp.DisputeInfo | None, clock: Clock
) -> Dispute:
    dispute = await lock_dispute(session, dispute_id)
    now = clock.now()
    if report is None:  # give the claim back
        dispute.evidence_submitted_at = None
    else:
        dispute.evidence_submitted_at = dispute.evidence_submitted_at or now
        if dispute_moves(dispute.status, report.status):
            dispute.status = report.status
        payment = await session.get(Payment, dispute.payment_id)
        assert payment is not None
        session.add(
            PaymentEvent(
                payment_id=payment.id,
                dispute_id=dispute.id,
                type="dispute.evidence_submitted",
                source="api",
                status=payment.status.value,
                data={},
                created_at=now,
            )
        )
    dispute.updated_at = now
    await session.commit()
    return dispute


def _camel(name: str) -> str:
    head, *rest = name.lower().split("_")
    return head + "".join(part.title() for part in rest)
