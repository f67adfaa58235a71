"""Mutations of credentials: API keys and customer sessions."""

from datetime import timedelta
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import ErrorCode, Problem, UserInputError
from app.resolvers.common import Info, key_of
from app.resolvers.keyed import mutate_keyed
from app.schema.node import encode_gid
from app.schema.security import (
    ApiKey,
    ApiKeyPayload,
    CreateApiKeyInput,
    CreateApiKeyPayload,
    CreateCustomerSessionInput,
    CustomerSessionPayload,
    RevokeApiKeyInput,
)
from app.security.tokens import InvalidToken
from app.services import api_keys, customers

DEFAULT_SESSION_TTL = 3600


@strawberry.type
class SecurityMutations:
    @strawberry.mutation(
        description="Create a server API key. Its secret is in this payload only: store it."
    )
    async def create_api_key(
        self,
        info: Info,
        input: Annotated[CreateApiKeyInput, strawberry.argument(description="The key.")],
    ) -> CreateApiKeyPayload:
        async def act(session: AsyncSession) -> CreateApiKeyPayload:
            created = await api_keys.create_key(
                session, clock=info.context.clock, name=input.name, role=input.role
            )
            return CreateApiKeyPayload(
                api_key=ApiKey.from_model(created.row), secret=created.secret, user_errors=[]
            )

        return await mutate_keyed(info, CreateApiKeyPayload, act, input)

    @strawberry.mutation(
        description="Revoke an API key. It stops working within `PAYGATE_AUTH__KEY_CACHE_"
        "SECONDS` on every process (at once on this one)."
    )
    async def revoke_api_key(
        self,
        info: Info,
        input: Annotated[RevokeApiKeyInput, strawberry.argument(description="The key.")],
    ) -> ApiKeyPayload:
        async def act(session: AsyncSession) -> ApiKeyPayload:
            row = await api_keys.revoke_key(
                session,
                clock=info.context.clock,
                key_id=key_of(input.api_key_id, "ApiKey", "apiKeyId"),
            )
            info.context.runtime.keys.forget()
            return ApiKeyPayload(api_key=ApiKey.from_model(row), user_errors=[])

        return await mutate_keyed(info, ApiKeyPayload, act, input)

    @strawberry.mutation(
        description="Sign a customer token (JWT, HS256) for a web or mobile frontend: your "
        "server calls this after signing its user in. Needs `PAYGATE_AUTH__JWT_SECRET`."
    )
    async def create_customer_session(
        self,
        info: Info,
        input: Annotated[
            CreateCustomerSessionInput, strawberry.argument(description="The session.")
        ],
    ) -> CustomerSessionPayload:
        runtime = info.context.runtime
        longest = runtime.settings.auth.token_max_ttl_seconds

        async def act(session: AsyncSession) -> CustomerSessionPayload:
            ttl = DEFAULT_SESSION_TTL if input.ttl_seconds is None else input.ttl_seconds
            if not 60 <= ttl <= longest:
                raise UserInputError(
                    Problem(
                        ErrorCode.INVALID,
                        f"Between 60 and {longest} seconds.",
                        ("ttlSeconds",),
                    )
                )
            key = key_of(input.customer_id, "Customer", "customerId")
            await customers.get_customer(session, key, "customerId")
            now = info.context.clock.now()
            try:
                token = runtime.tokens.mint(
                    encode_gid("Customer", key), now=now, ttl=timedelta(seconds=ttl)
                )
            except InvalidToken as error:
                raise UserInputError(
                    Problem(ErrorCode.TOKENS_NOT_CONFIGURED, str(error), ())
                ) from None
            return CustomerSessionPayload(
                token=token, expires_at=now + timedelta(seconds=ttl), user_errors=[]
            )

        return await mutate_keyed(info, CustomerSessionPayload, act, input)
