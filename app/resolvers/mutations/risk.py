"""Mutations of risk: the rules, the block and allow lists, and decisions on reviews."""

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import UserInputError
from app.resolvers.common import Info, key_of, user_errors
from app.resolvers.keyed import mutate_keyed
from app.schema.node import encode_gid
from app.schema.reviews import DecideReviewInput, Review, ReviewPayload
from app.schema.risk import (
    AddRiskListEntryInput,
    CreateRiskRuleInput,
    InstallDefaultRiskRulesInput,
    InstallDefaultRiskRulesPayload,
    RemoveRiskListEntryInput,
    RemoveRiskListEntryPayload,
    RiskListEntry,
    RiskListEntryPayload,
    RiskRule,
    RiskRulePayload,
    UpdateRiskRuleInput,
)
from app.services.payments import reviews
from app.services.risk import rules


@strawberry.type
class RiskMutations:
    @strawberry.mutation(
        description="Add a risk rule. It applies to the attempts screened from now on."
    )
    async def create_risk_rule(
        self,
        info: Info,
        input: Annotated[CreateRiskRuleInput, strawberry.argument(description="The rule.")],
    ) -> RiskRulePayload:
        async def act(session: AsyncSession) -> RiskRulePayload:
            row = await rules.create_rule(
                session,
                clock=info.context.clock,
                name=input.name,
                condition=input.condition.to_domain(),
                action=input.action,
                score=input.score,
                position=input.position,
            )
            return RiskRulePayload(risk_rule=RiskRule.from_model(row), user_errors=[])

        return await mutate_keyed(info, RiskRulePayload, act, input)

    @strawberry.mutation(description="Rename, re-order, re-score or switch off a risk rule.")
    async def update_risk_rule(
        self,
        info: Info,
        input: Annotated[UpdateRiskRuleInput, strawberry.argument(description="The change.")],
    ) -> RiskRulePayload:
        async def act(session: AsyncSession) -> RiskRulePayload:
            row = await rules.update_rule(
                session,
                clock=info.context.clock,
                rule_id=key_of(input.id, "RiskRule", "id"),
                name=input.name,
                action=input.action,
                score=input.score,
                position=input.position,
                active=input.active,
            )
            return RiskRulePayload(risk_rule=RiskRule.from_model(row), user_errors=[])

        return await mutate_keyed(info, RiskRulePayload, act, input)

    @strawberry.mutation(
        description="Add the recommended rules (README: Risk rules and reviews) that are "
        "not there yet, by name: block and allow lists, card testing by IP address, device "
        "and customer, velocity by IP address and card, country mismatch, unusual amounts."
    )
    async def install_default_risk_rules(
        self,
        info: Info,
        input: Annotated[
            InstallDefaultRiskRulesInput, strawberry.argument(description="A key, if any.")
        ],
    ) -> InstallDefaultRiskRulesPayload:
        async def act(session: AsyncSession) -> InstallDefaultRiskRulesPayload:
            added = await rules.install_defaults(session, clock=info.context.clock)
            return InstallDefaultRiskRulesPayload(
                risk_rules=[RiskRule.from_model(row) for row in added], user_errors=[]
            )

        return await mutate_keyed(info, InstallDefaultRiskRulesPayload, act, input)

    @strawberry.mutation(description="Put a value on the block or the allow list.")
    async def add_risk_list_entry(
        self,
        info: Info,
        input: Annotated[AddRiskListEntryInput, strawberry.argument(description="The value.")],
    ) -> RiskListEntryPayload:
        async def act(session: AsyncSession) -> RiskListEntryPayload:
            row = await rules.add_list_entry(
                session,
                clock=info.context.clock,
                list_kind=input.list,
                dimension=input.dimension,
                value=input.value,
                note=input.note,
            )
            return RiskListEntryPayload(
                risk_list_entry=RiskListEntry.from_model(row), user_errors=[]
            )

        return await mutate_keyed(info, RiskListEntryPayload, act, input)

    @strawberry.mutation(description="Take a value off its list.")
    async def remove_risk_list_entry(
        self,
        info: Info,
        input: Annotated[RemoveRiskListEntryInput, strawberry.argument(description="It.")],
    ) -> RemoveRiskListEntryPayload:
        async def act(session: AsyncSession) -> RemoveRiskListEntryPayload:
            key = await rules.remove_list_entry(
                session, entry_id=key_of(input.id, "RiskListEntry", "id")
            )
            return RemoveRiskListEntryPayload(
                removed_risk_list_entry_id=encode_gid("RiskListEntry", key),
                user_errors=[],
            )

        return await mutate_keyed(info, RemoveRiskListEntryPayload, act, input)

    @strawberry.mutation(
        description="Approve a held charge: it is captured (unless you asked for manual "
        "capture), and the review closes."
    )
    async def approve_review(
        self,
        info: Info,
        input: Annotated[DecideReviewInput, strawberry.argument(description="The review.")],
    ) -> ReviewPayload:
        return await _decide(info, input, reviews.approve)

    @strawberry.mutation(
        description="Reject a held charge: its authorisation is cancelled (a captured charge "
        "is refunded as fraudulent), and the review closes."
    )
    async def reject_review(
        self,
        info: Info,
        input: Annotated[DecideReviewInput, strawberry.argument(description="The review.")],
    ) -> ReviewPayload:
        return await _decide(info, input, reviews.reject)


async def _decide(info: Info, input: DecideReviewInput, decide: reviews.Decide) -> ReviewPayload:
    async def act(session: AsyncSession) -> ReviewPayload:
        review, problems = await decide(
            session,
            psps=info.context.runtime.psps,
            clock=info.context.clock,
            review_id=key_of(input.review_id, "Review", "reviewId"),
            by=str(info.context.principal),
            note=input.note,
        )
        errors = user_errors(UserInputError(problems)) if problems else []
        return ReviewPayload(review=Review.from_model(review), user_errors=errors)

    return await mutate_keyed(info, ReviewPayload, act, input)
