"""Configuration from the environment (prefix ``PAYGATE_``), with safe embedded defaults.

With nothing set, paygate runs on a SQLite file beside the working directory with the
sandbox PSP, migrates itself on start and seeds a small demo catalog.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxSettings(BaseModel):
    webhook_secret: SecretStr | None = Field(
        None, description="Signs sandbox webhooks. Default: a random secret per process."
    )


class StripeSettings(BaseModel):
    api_key: SecretStr | None = Field(None, description="Secret key (sk_live_… / sk_test_…).")
    webhook_secret: SecretStr | None = Field(None, description="Endpoint secret (whsec_…).")
    api_base: str | None = Field(None, description="Override of the API base URL (tests).")
    timeout_seconds: float = Field(20.0, gt=0, description="Per-request timeout.")


class PayPalSettings(BaseModel):
    client_id: SecretStr | None = Field(None, description="REST app client id.")
    client_secret: SecretStr | None = Field(None, description="REST app secret.")
    webhook_id: str | None = Field(None, description="Id of the webhook registered at PayPal.")
    environment: Literal["sandbox", "production"] = Field(
        "sandbox", description="PayPal environment."
    )
    api_base: str | None = Field(None, description="Override of the API base URL (tests).")
    timeout_seconds: float = Field(20.0, gt=0, description="Per-request timeout.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAYGATE_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    profile: Literal["development", "production"] = Field(
        "development",
        description="`production` turns off GraphiQL and demo data and stops migrating on start.",
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./paygate.db",
        description="SQLAlchemy URL. PostgreSQL in production: postgresql://user:pw@host/db.",
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="Connections kept per process.")
    host: str = Field("127.0.0.1", description="Address `paygate serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `paygate serve` listens on.")
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Where browsers reach paygate (links to the sandbox's 3-D Secure page).",
    )
    migrate_on_start: bool | None = Field(
        None, description="Run migrations at start-up. Default: on, except in production."
    )
    seed_demo: bool | None = Field(
        None, description="Seed the demo catalog at start-up. Default: on, except in production."
    )
    graphiql: bool | None = Field(
        None, description="Serve GraphiQL at /graphql. Default: on, except in production."
    )
    default_psp: str = Field(
        "sandbox", description="PSP for new payment methods and payments when none is named."
    )
    enabled_psps: list[str] = Field(
        default_factory=lambda: ["sandbox"],
        description="PSPs that may be used (sandbox is always available outside production).",
    )
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    paypal: PayPalSettings = Field(default_factory=PayPalSettings)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        """Accept the usual ``postgres://`` / ``postgresql://`` URLs and pick asyncpg."""
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url

    @cached_property
    def is_production(self) -> bool:
        return self.profile == "production"

    def _default_on(self, value: bool | None) -> bool:
        return (not self.is_production) if value is None else value

    @property
    def should_migrate_on_start(self) -> bool:
        return self._default_on(self.migrate_on_start)

    @property
    def should_seed_demo(self) -> bool:
        return self._default_on(self.seed_demo)

    @property
    def graphiql_enabled(self) -> bool:
        return self._default_on(self.graphiql)
