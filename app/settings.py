"""Configuration from the environment (prefix ``PAYGATE_``), with safe embedded defaults.

With nothing set, paygate runs on a SQLite file beside the working directory with the
sandbox PSP, migrates itself on start and seeds a small demo catalog.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYGATE_", env_file=".env", extra="ignore")

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
    migrate_on_start: bool | None = Field(
        None, description="Run migrations at start-up. Default: on, except in production."
    )
    seed_demo: bool | None = Field(
        None, description="Seed the demo catalog at start-up. Default: on, except in production."
    )
    graphiql: bool | None = Field(
        None, description="Serve GraphiQL at /graphql. Default: on, except in production."
    )
    default_psp: str = Field("sandbox", description="PSP used for new payment methods.")

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
