"""Mutations of pricing experiments (the growth team's; checkoutOffer is a query)."""

from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.updates import KEEP
from app.resolvers.common import Info, given, key_of
from app.resolvers.keyed import mutate_keyed
from app.schema.experiment_inputs import (
    ConcludeExperimentInput,
    CreateExperimentInput,
    ExperimentActionInput,
    ExperimentAudienceInput,
    ExperimentGuardrailsInput,
    ExperimentPayload,
    ExperimentVariantInput,
    PauseExperimentInput,
    UpdateExperimentInput,
)
from app.schema.experiments import Experiment
from app.services.experiments import definitions, lifecycle
from app.services.experiments.definitions import AudienceSpec, GuardrailSpec, VariantSpec


def _variants(given_variants: list[ExperimentVariantInput]) -> list[VariantSpec]:
    return [
        VariantSpec(
            name=v.name,
            weight=v.weight,
            price_id=None
            if v.price_id is None
            else key_of(v.price_id, "Price", "variants", str(i), "priceId"),
            trial_period_days=v.trial_period_days,
            coupon_id=None
            if v.coupon_id is None
            else key_of(v.coupon_id, "Coupon", "variants", str(i), "couponId"),
        )
        for i, v in enumerate(given_variants)
    ]


def _audience(audience: ExperimentAudienceInput | None) -> AudienceSpec:
    if audience is None:
        return AudienceSpec()
    return AudienceSpec(
        new_customers_only=audience.new_customers_only,
        countries=tuple(audience.countries or ()),
        platforms=tuple(audience.platforms or ()),
    )


def _guardrails(guardrails: ExperimentGuardrailsInput | None) -> GuardrailSpec:
    if guardrails is None:
        return GuardrailSpec()
    return GuardrailSpec(
        max_refund_rate=guardrails.max_refund_rate,
        max_dispute_rate=guardrails.max_dispute_rate,
        max_payment_failure_rate=guardrails.max_payment_failure_rate,
        minimum_payments=guardrails.minimum_payments,
    )


def _changes(input: UpdateExperimentInput) -> definitions.ExperimentChanges:
    """Omitted fields stay; ``null`` for a required field is read as omitted too."""

    def kept(value: Any) -> Any:
        value = given(value)
        return KEEP if value is None else value

    variants, audience, guardrails = (
        given(input.variants), given(input.audience), given(input.guardrails)
    )  # fmt: skip
    return definitions.ExperimentChanges(
        name=kept(input.name),
        hypothesis=given(input.hypothesis),
        currency=kept(input.currency),
        variants=KEEP if variants in (KEEP, None) else _variants(variants),
        traffic_percent=kept(input.traffic_percent),
        audience=KEEP if audience is KEEP else _audience(audience),
        guardrails=KEEP if guardrails is KEEP else _guardrails(guardrails),
        layer=kept(input.layer),
        salt=kept(input.salt),
        alpha=kept(input.alpha),
        minimum_detectable_lift=kept(input.minimum_detectable_lift),
    )


def _payload(row: Any) -> ExperimentPayload:
    return ExperimentPayload(experiment=Experiment.from_model(row), user_errors=[])


@strawberry.type
class ExperimentMutations:
    @strawberry.mutation(
        description="Create a pricing experiment as a draft: nothing is shown until it starts."
    )
    async def create_experiment(
        self,
        info: Info,
        input: Annotated[CreateExperimentInput, strawberry.argument(description="The design.")],
    ) -> ExperimentPayload:
        async def act(session: AsyncSession) -> ExperimentPayload:
            spec = definitions.ExperimentSpec(
                key=input.key,
                name=input.name,
                product_id=key_of(input.product_id, "Product", "productId"),
                currency=input.currency,
                variants=_variants(input.variants),
                hypothesis=input.hypothesis,
                traffic_percent=input.traffic_percent,
                audience=_audience(input.audience),
                guardrails=_guardrails(input.guardrails),
                layer=input.layer,
                salt=input.salt,
                alpha=input.alpha,
                minimum_detectable_lift=input.minimum_detectable_lift,
            )
            row = await definitions.create_experiment(session, clock=info.context.clock, spec=spec)
            return _payload(row)

        return await mutate_keyed(info, ExperimentPayload, act, input)

    @strawberry.mutation(description="Change a draft experiment (a started one is frozen).")
    async def update_experiment(
        self,
        info: Info,
        input: Annotated[UpdateExperimentInput, strawberry.argument(description="Changes.")],
    ) -> ExperimentPayload:
        async def act(session: AsyncSession) -> ExperimentPayload:
            row = await definitions.update_experiment(
                session,
                clock=info.context.clock,
                experiment_id=key_of(input.id, "Experiment", "id"),
                changes=_changes(input),
            )
            return _payload(row)

        return await mutate_keyed(info, ExperimentPayload, act, input)

    @strawberry.mutation(
        description="Start a draft (it takes its share of its layer's traffic) or resume a "
        "paused experiment."
    )
    async def start_experiment(
        self,
        info: Info,
        input: Annotated[ExperimentActionInput, strawberry.argument(description="Which.")],
    ) -> ExperimentPayload:
        async def act(session: AsyncSession) -> ExperimentPayload:
            row = await lifecycle.start_experiment(
                session,
                clock=info.context.clock,
                experiment_id=key_of(input.id, "Experiment", "id"),
            )
            return _payload(row)

        return await mutate_keyed(info, ExperimentPayload, act, input)

    @strawberry.mutation(
        description="Pause a running experiment: everyone gets the default offer; "
        "assignments are kept for when it resumes."
    )
    async def pause_experiment(
        self,
        info: Info,
        input: Annotated[PauseExperimentInput, strawberry.argument(description="Which.")],
    ) -> ExperimentPayload:
        async def act(session: AsyncSession) -> ExperimentPayload:
            row = await lifecycle.pause_experiment(
                session,
                clock=info.context.clock,
                experiment_id=key_of(input.id, "Experiment", "id"),
                reason=input.reason,
            )
            return _payload(row)

        return await mutate_keyed(info, ExperimentPayload, act, input)

    @strawberry.mutation(
        description="End an experiment. With `shipWinner`, the winner's price becomes the "
        "product's default price for new customers; subscribers keep the prices they have."
    )
    async def conclude_experiment(
        self,
        info: Info,
        input: Annotated[ConcludeExperimentInput, strawberry.argument(description="How.")],
    ) -> ExperimentPayload:
        async def act(session: AsyncSession) -> ExperimentPayload:
            winner = input.winner_id
            row = await lifecycle.conclude_experiment(
                session,
                clock=info.context.clock,
                experiment_id=key_of(input.id, "Experiment", "id"),
                winner_id=None
                if winner is None
                else key_of(winner, "ExperimentVariant", "winnerId"),
                ship_winner=input.ship_winner,
                reason=input.reason,
            )
            return _payload(row)

        return await mutate_keyed(info, ExperimentPayload, act, input)

    @strawberry.mutation(description="Archive an experiment; a running one stops at once.")
    async def archive_experiment(
        self,
        info: Info,
        input: Annotated[ExperimentActionInput, strawberry.argument(description="Which.")],
    ) -> ExperimentPayload:
        async def act(session: AsyncSession) -> ExperimentPayload:
            row = await lifecycle.archive_experiment(
                session,
                clock=info.context.clock,
                experiment_id=key_of(input.id, "Experiment", "id"),
            )
            return _payload(row)

        return await mutate_keyed(info, ExperimentPayload, act, input)
