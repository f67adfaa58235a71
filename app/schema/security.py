"""API keys, customer sessions and the audit log."""

from datetime import datetime
from typing import Any

import strawberry

from app.models import ApiKey as ApiKeyRow
from app.models import AuditEvent as AuditEventRow
from app.schema.enum_values.security import ROLE
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.idempotency import optional_key, secret_field
from app.schema.node import Node, encode_gid
from app.schema.pagination import Connection
from app.schema.scalars import JSON
from app.security.principals import Role as RoleEnum

Role = described_enum(RoleEnum, name="Role", description="What an API key may do.", values=ROLE)


@strawberry.type(description="A server API key. Its secret is shown only when created.")
class ApiKey(Node):
    name: str = strawberry.field(description="What the key is for.")
    role: RoleEnum = strawberry.field(description="What the key may do.")
    prefix: str = strawberry.field(
        description="Public part of the key (`pgk_<prefix>_…`), to tell keys apart."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked; it no longer authenticates."
    )

    @classmethod
    def from_model(cls, row: ApiKeyRow) -> "ApiKey":
        return cls(
            id=encode_gid("ApiKey", row.id),
            name=row.name,
            role=row.role,
            prefix=row.prefix,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="One mutation call, as recorded in the append-only audit log.")
class AuditEvent(Node):
    occurred_at: datetime = strawberry.field(description="When it was called.")
    principal: str = strawberry.field(
        description="Who called: `key:<id>`, `customer:<id>` or `anonymous:<address>`."
    )
    actor: str = strawberry.field(description="The caller's role, or `customer` / `anonymous`.")
    operation: str = strawberry.field(description="The mutation, e.g. `createRefund`.")
    target_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs the call named or produced."
    )
    input: JSON = strawberry.field(
        description="The input without secrets or personal data (replaced by `[redacted]`)."
    )
    outcome: str = strawberry.field(
        description="`ok`, `user_error`, `denied`, `rate_limited` or `error`."
    )
    error_codes: list[str] = strawberry.field(description="Codes of the errors, if any.")
    request_id: str = strawberry.field(description="The request's `X-Request-ID`.")

    @classmethod
    def from_model(cls, row: AuditEventRow) -> "AuditEvent":
        target_ids: list[Any] = row.target_ids
        return cls(
            id=encode_gid("AuditEvent", row.id),
            occurred_at=row.occurred_at,
            principal=row.principal,
            actor=row.actor,
            operation=row.operation,
            target_ids=[strawberry.ID(t) for t in target_ids],
            input=JSON(row.input),
            outcome=row.outcome,
            error_codes=list(row.error_codes),
            request_id=row.request_id,
        )


ApiKeyConnection = Connection[ApiKey]
AuditEventConnection = Connection[AuditEvent]


@strawberry.input(description="Which audit events to list. All conditions must hold.")
class AuditEventFilter:
    operation: str | None = strawberry.field(default=None, description="This mutation.")
    principal: str | None = strawberry.field(default=None, description="This caller.")
    target_id: strawberry.ID | None = strawberry.field(
        default=None, description="Calls that named or produced this global ID."
    )
    outcome: str | None = strawberry.field(default=None, description="This outcome.")
    occurred_after: datetime | None = strawberry.field(
        default=None, description="Strictly after this time."
    )
    occurred_before: datetime | None = strawberry.field(
        default=None, description="Strictly before this time."
    )


@strawberry.input(description="A new API key.")
class CreateApiKeyInput:
    idempotency_key: str | None = optional_key()
    name: str = strawberry.field(description="What it is for (at most 100 characters).")
    role: RoleEnum = strawberry.field(description="What it may do.")


@strawberry.type(description="The new key. Store `secret` now: it is never shown again.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The key, without its secret.")
    secret: str | None = secret_field("The key to send as `Authorization: Bearer <secret>`.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was created.")


@strawberry.input(description="The key to revoke.")
class RevokeApiKeyInput:
    idempotency_key: str | None = optional_key()
    api_key_id: strawberry.ID = strawberry.field(description="Global ID of the key.")


@strawberry.type(description="The revoked key.")
class ApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The key.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.input(description="A customer session for a web or mobile frontend.")
class CreateCustomerSessionInput:
    idempotency_key: str | None = optional_key()
    customer_id: strawberry.ID = strawberry.field(description="Whose session.")
    ttl_seconds: int | None = strawberry.field(
        default=None,
        description="Lifetime, 60 s up to the configured maximum (default one hour).",
    )


@strawberry.type(description="A signed customer token (JWT) for `Authorization: Bearer`.")
class CustomerSessionPayload:
    token: str | None = secret_field("The JWT. Treat it as a secret.")
    expires_at: datetime | None = strawberry.field(description="When it stops working.")
    user_errors: list[UserError] = strawberry.field(description="Why none was issued.")
