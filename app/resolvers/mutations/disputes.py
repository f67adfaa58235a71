"""Dispute evidence: drafted (`updateDisputeEvidence`), then submitted to the PSP once
(`submitDisputeEvidence`). Staff only (support, finance, admin)."""

import uuid
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.disputes import EvidenceFileField, EvidenceText
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.resolvers.common import Info, given, key_of, user_errors
from app.resolvers.keyed import mutate_keyed
from app.schema.dispute_inputs import (
    DisputeEvidenceInput,
    DisputePayload,
    SubmitDisputeEvidenceInput,
    UpdateDisputeEvidenceInput,
)
from app.schema.payment import Dispute
from app.services.disputes import evidence

Binding = tuple[uuid.UUID | None, tuple[str, ...]]


def _texts(given_: DisputeEvidenceInput) -> dict[EvidenceText, Any]:
    return {
        EvidenceText.PRODUCT_DESCRIPTION: given(given_.product_description),
        EvidenceText.SHIPPING_TRACKING: given(given_.shipping_tracking),
        EvidenceText.UNCATEGORIZED_TEXT: given(given_.uncategorized_text),
        EvidenceText.CUSTOMER_NAME: given(given_.customer_name),
        EvidenceText.CUSTOMER_EMAIL_ADDRESS: given(given_.customer_email_address),
        EvidenceText.SERVICE_DATE: given(given_.service_date),
        EvidenceText.REFUND_POLICY_DISCLOSURE: given(given_.refund_policy_disclosure),
    }


def _file_key(value: str | None, *field: str) -> uuid.UUID | None:
    return None if value is None else key_of(value, "File", *field)


def _files(given_: DisputeEvidenceInput) -> dict[EvidenceFileField, Binding]:
    """Each file field given, once: a field named twice is refused."""
    bindings: dict[EvidenceFileField, Binding] = {}
    shortcuts = (
        (EvidenceFileField.CUSTOMER_COMMUNICATION, given_.customer_communication,
         "customerCommunication"),
        (EvidenceFileField.RECEIPT, given_.receipt, "receipt"),
        (EvidenceFileField.REFUND_POLICY, given_.refund_policy, "refundPolicy"),
    )  # fmt: skip
    for slot, value, name in shortcuts:
        if value is not strawberry.UNSET:
            field: tuple[str, ...] = ("evidence", name)
            bindings[slot] = (_file_key(value, *field), field)
    listed = given_.files if given_.files is not strawberry.UNSET else None
    for index, item in enumerate(listed or []):
        field = ("evidence", "files", str(index), "fileId")
        if item.field in bindings:
            raise UserInputError(
                Problem(
                    ErrorCode.INVALID,
                    f"The field {item.field.name} is given more than once.",
                    ("evidence", "files", str(index), "field"),
                )
            )
        bindings[item.field] = (_file_key(item.file_id, *field), field)
    return bindings


@strawberry.type
class DisputeMutations:
    @strawberry.mutation(
        description="Change a dispute's evidence draft, kept on our side until "
        "`submitDisputeEvidence`. Refused for a closed dispute, one already submitted, or "
        "past its `evidenceDueBy`."
    )
    async def update_dispute_evidence(
        self,
        info: Info,
        input: Annotated[UpdateDisputeEvidenceInput, strawberry.argument(description="The draft.")],
    ) -> DisputePayload:
        async def act(session: AsyncSession) -> DisputePayload:
            dispute_id = key_of(input.dispute_id, "Dispute", "disputeId")
            row = await evidence.update_evidence(
                session,
                clock=info.context.clock,
                dispute_id=dispute_id,
                texts=_texts(input.evidence),
                files=_files(input.evidence),
            )
            return DisputePayload(dispute=Dispute.from_model(row), user_errors=[])

        return await mutate_keyed(info, DisputePayload, act, input)

    @strawberry.mutation(
        description="Submit a dispute's evidence to its PSP (Stripe: the files through its "
        "Files API, then the dispute updated with `submit: true`). Once: a second submission "
        "is refused (`EVIDENCE_ALREADY_SUBMITTED`); a PSP without the operation answers "
        "`OPERATION_NOT_SUPPORTED`."
    )
    async def submit_dispute_evidence(
        self,
        info: Info,
        input: Annotated[
            SubmitDisputeEvidenceInput, strawberry.argument(description="The dispute.")
        ],
    ) -> DisputePayload:
        async def act(session: AsyncSession) -> DisputePayload:
            done = await evidence.submit_evidence(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                dispute_id=key_of(input.dispute_id, "Dispute", "disputeId"),
            )
            problems = user_errors(UserInputError(done.problems)) if done.problems else []
            return DisputePayload(dispute=Dispute.from_model(done.dispute), user_errors=problems)

        return await mutate_keyed(info, DisputePayload, act, input)
