"""Mutations of subscriptions and (sandbox) test clocks."""

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import ErrorCode, Problem, UserInputError
from app.resolvers.access import owned_key
from app.resolvers.common import Info, key_of, mutate
from app.resolvers.keyed import mutate_keyed
from app.schema.coupons import (
    Coupon,
    CouponPayload,
    CreateCouponInput,
    CreateTaxRateInput,
    TaxRate,
    TaxRatePayload,
)
from app.schema.subscription_inputs import (
    CancelSubscriptionInput,
    CreateSubscriptionInput,
    ResumeSubscriptionInput,
    SubscriptionActionInput,
    SubscriptionPayload,
)
from app.schema.subscriptions import Subscription
from app.schema.test_clocks import (
    AdvanceTestClockInput,
    CreateTestClockInput,
    TestClock,
    TestClockPayload,
)
from app.services import test_clocks
from app.services.billing import coupons, renewals, subscriptions


def _sandbox_only(info: Info) -> None:
    if info.context.runtime.settings.is_production:
        raise UserInputError(
            Problem(ErrorCode.OPERATION_NOT_SUPPORTED, "Test clocks are for the sandbox.", ())
        )


@strawberry.type
class BillingMutations:
    @strawberry.mutation(
        description="Subscribe a customer. Without a trial the first invoice is charged at "
        "once; a 3-D Secure step shows on `latestInvoice.payments` as `REQUIRES_ACTION`."
    )
    async def create_subscription(
        self,
        info: Info,
        input: Annotated[CreateSubscriptionInput, strawberry.argument(description="What.")],
    ) -> SubscriptionPayload:
        async def act(session: AsyncSession) -> SubscriptionPayload:
            method = input.payment_method_id
            row = await subscriptions.create_subscription(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                principal=info.context.principal.scope,
                idempotency_key=input.idempotency_key,
                customer_id=await owned_key(
                    info, session, input.customer_id, "Customer", "customerId"
                ),
                items=[
                    subscriptions.ItemRequest(
                        key_of(item.price_id, "Price", "items", str(i), "priceId"), item.quantity
                    )
                    for i, item in enumerate(input.items)
                ],
                trial_period_days=input.trial_period_days,
                payment_method_id=(
                    None
                    if method is None
                    else await owned_key(info, session, method, "PaymentMethod", "paymentMethodId")
                ),
                coupon_code=input.coupon_code,
                anonymous_id=input.anonymous_id,
                promotion_code=input.promotion_code,
            )
            return SubscriptionPayload(subscription=Subscription.from_model(row), user_errors=[])

        return await mutate(info, SubscriptionPayload, act)

    @strawberry.mutation(description="Create a coupon.")
    async def create_coupon(
        self,
        info: Info,
        input: Annotated[CreateCouponInput, strawberry.argument(description="The coupon.")],
    ) -> CouponPayload:
        async def act(session: AsyncSession) -> CouponPayload:
            row = await coupons.create_coupon(
                session,
                clock=info.context.clock,
                code=input.code,
                name=input.name,
                percent_off=input.percent_off,
                amount_off=(
                    (input.amount_off.amount, input.amount_off.currency)
                    if input.amount_off
                    else None
                ),
                duration=input.duration,
                duration_in_months=input.duration_in_months,
                max_redemptions=input.max_redemptions,
                redeem_by=input.redeem_by,
            )
            return CouponPayload(coupon=Coupon.from_model(row), user_errors=[])

        return await mutate_keyed(info, CouponPayload, act, input)

    @strawberry.mutation(description="Create a tax rate for a country (or every country).")
    async def create_tax_rate(
        self,
        info: Info,
        input: Annotated[CreateTaxRateInput, strawberry.argument(description="The rate.")],
    ) -> TaxRatePayload:
        async def act(session: AsyncSession) -> TaxRatePayload:
            row = await coupons.create_tax_rate(
                session,
                clock=info.context.clock,
                display_name=input.display_name,
                percentage=input.percentage,
                inclusive=input.inclusive,
                country=input.country,
            )
            return TaxRatePayload(tax_rate=TaxRate.from_model(row), user_errors=[])

        return await mutate_keyed(info, TaxRatePayload, act, input)

    @strawberry.mutation(description="Cancel a subscription now or at the end of its period.")
    async def cancel_subscription(
        self,
        info: Info,
        input: Annotated[CancelSubscriptionInput, strawberry.argument(description="Which.")],
    ) -> SubscriptionPayload:
        async def act(session: AsyncSession) -> SubscriptionPayload:
            row = await subscriptions.cancel_subscription(
                session,
                clock=info.context.clock,
                subscription_id=await owned_key(
                    info, session, input.subscription_id, "Subscription", "subscriptionId"
                ),
                at_period_end=input.at_period_end,
                grace=info.context.runtime.settings.usage_grace,
            )
            return SubscriptionPayload(subscription=Subscription.from_model(row), user_errors=[])

        return await mutate_keyed(info, SubscriptionPayload, act, input)

    @strawberry.mutation(description="Pause billing: no renewals or retries until resumed.")
    async def pause_subscription(
        self,
        info: Info,
        input: Annotated[SubscriptionActionInput, strawberry.argument(description="Which.")],
    ) -> SubscriptionPayload:
        async def act(session: AsyncSession) -> SubscriptionPayload:
            row = await subscriptions.pause_subscription(
                session,
                clock=info.context.clock,
                subscription_id=await owned_key(
                    info, session, input.subscription_id, "Subscription", "subscriptionId"
                ),
            )
            return SubscriptionPayload(subscription=Subscription.from_model(row), user_errors=[])

        return await mutate_keyed(info, SubscriptionPayload, act, input)

    @strawberry.mutation(
        description="Resume: undo a cancellation at period end, or restart a paused "
        "subscription with a new period billed at once."
    )
    async def resume_subscription(
        self,
        info: Info,
        input: Annotated[ResumeSubscriptionInput, strawberry.argument(description="Which.")],
    ) -> SubscriptionPayload:
        async def act(session: AsyncSession) -> SubscriptionPayload:
            row = await subscriptions.resume_subscription(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                subscription_id=await owned_key(
                    info, session, input.subscription_id, "Subscription", "subscriptionId"
                ),
            )
            return SubscriptionPayload(subscription=Subscription.from_model(row), user_errors=[])

        return await mutate_keyed(info, SubscriptionPayload, act, input)

    @strawberry.mutation(description="Create a test clock (sandbox).")
    async def create_test_clock(
        self,
        info: Info,
        input: Annotated[CreateTestClockInput, strawberry.argument(description="The clock.")],
    ) -> TestClockPayload:
        async def act(session: AsyncSession) -> TestClockPayload:
            _sandbox_only(info)
            row = await test_clocks.create_test_clock(
                session, clock=info.context.clock, name=input.name, frozen_time=input.frozen_time
            )
            return TestClockPayload(test_clock=TestClock.from_model(row), user_errors=[])

        return await mutate_keyed(info, TestClockPayload, act, input)

    @strawberry.mutation(
        description="Move a test clock forward; renewals, trial ends and dunning of its "
        "customers run up to the new time before this returns."
    )
    async def advance_test_clock(
        self,
        info: Info,
        input: Annotated[AdvanceTestClockInput, strawberry.argument(description="Where to.")],
    ) -> TestClockPayload:
        async def act(session: AsyncSession) -> TestClockPayload:
            _sandbox_only(info)
            clock_id = key_of(input.test_clock_id, "TestClock", "testClockId")
            row = await renewals.advance_test_clock(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                clock_id=clock_id,
                to=input.frozen_time,
                policy=info.context.runtime.settings.dunning_policy,
                grace=info.context.runtime.settings.usage_grace,
            )
            return TestClockPayload(test_clock=TestClock.from_model(row), user_errors=[])

        return await mutate_keyed(info, TestClockPayload, act, input)
