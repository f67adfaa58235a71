"""Configuration from the environment (prefix ``PAYGATE_``), with safe embedded defaults.

With nothing set, paygate runs on a SQLite file beside the working directory with the
sandbox PSP, migrates itself on start and seeds a small demo catalog.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import parse as parse_rate
from pydantic import (
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.billing import DunningPolicy, SubscriptionStatus
from app.domain.reviews import ReviewDefault
from app.security.principals import Role

# The event bus's URL schemes, and the broker each names (app.services.outbox.bus).
EVENT_BUS_SCHEMES = {
    "nats": "nats",
    "tls": "nats",
    "amqp": "rabbitmq",
    "amqps": "rabbitmq",
    "kafka": "kafka",
}


class DirectUrlRequired(RuntimeError):
    """A part of paygate that keeps session state (LISTEN, a session advisory lock,
    migrations) was asked to run through a transaction pooler without a direct URL."""


class SandboxSettings(BaseModel):
    webhook_secret: SecretStr | None = Field(
        None, description="Signs sandbox webhooks. Default: a random secret per process."
    )


class StripeSettings(BaseModel):
    api_key: SecretStr | None = Field(None, description="Secret key (sk_live_… / sk_test_…).")
    webhook_secret: SecretStr | None = Field(None, description="Endpoint secret (whsec_…).")
    api_base: str | None = Field(None, description="Override of the API base URL (tests).")
    files_base: str | None = Field(
        None,
        description="Override of the file upload base URL (files.stripe.com; tests). "
        "Default: api_base when that is set.",
    )
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


class AuthSettings(BaseModel):
    anonymous_role: Role | Literal["none"] | None = Field(
        None,
        description="Role of callers without credentials, or `none`. Default: admin in "
        "development (so GraphiQL works out of the box), none in production (public catalog "
        "reads only).",
    )
    jwt_secret: SecretStr | None = Field(
        None, description="HS256 secret of customer tokens (also lets paygate mint them)."
    )
    jwks_url: str | None = Field(
        None, description="JWKS URL of your identity provider (RS256/ES256 customer tokens)."
    )
    jwt_issuer: str = Field("paygate", description="Required `iss` of customer tokens.")
    jwt_audience: str = Field("paygate", description="Required `aud` of customer tokens.")
    jwt_customer_claim: str = Field("sub", description="Claim holding the customer's global ID.")
    jwt_leeway_seconds: int = Field(30, ge=0, le=300, description="Clock skew allowed.")
    token_max_ttl_seconds: int = Field(
        86_400, ge=60, description="Longest lifetime of a token minted by paygate."
    )
    key_cache_seconds: float = Field(
        30.0,
        ge=0,
        le=300,
        description="How long a verified API key is trusted before "
        "its row is read again (a revocation takes effect within this time).",
    )
    support_refund_limit: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "EUR": Decimal("250"),
            "GBP": Decimal("250"),
            "USD": Decimal("250"),
        },
        description="Largest refund the support role may issue, per currency (JSON object); "
        "support cannot refund in a currency not listed.",
    )


class WebhookSettings(BaseModel):
    """Webhooks to merchants (README: Webhooks to merchants)."""

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts an endpoint may name in production although they resolve to a "
        "private, loopback, link-local or reserved address (e.g. an internal receiver).",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=60, description="Per-attempt HTTP timeout.")
    claim_seconds: float | None = Field(
        None,
        gt=0,
        description="How long an attempt holds its delivery before another worker may send "
        "it again (a worker that died mid-attempt). Default: the timeout plus 5 s.",
    )
    retry_base_seconds: float = Field(
        5.0, gt=0, description="Back-off base: the first retry within this, then doubling."
    )
    retry_cap_seconds: float = Field(3600.0, gt=0, description="Longest wait between attempts.")
    disable_after_hours: float = Field(
        72.0, gt=0, description="An endpoint failing every attempt for this long is disabled."
    )
    secret_overlap_hours: float = Field(
        24.0, ge=0, description="A rotated-out secret keeps signing (beside the new) this long."
    )
    in_process: bool | None = Field(
        None,
        description="Deliver from the API process (a loop started with the app). Default: on "
        "for SQLite (no worker there), off on PostgreSQL (`paygate worker` delivers).",
    )
    poll_seconds: float = Field(
        1.0, gt=0, description="How often the in-process loop looks for due deliveries."
    )
    batch_size: int = Field(50, ge=1, le=1000, description="Deliveries claimed per round.")
    concurrency: int = Field(10, ge=1, le=100, description="Requests in flight per process.")

    @property
    def claim_for(self) -> float:
        return self.claim_seconds or self.timeout_seconds + 5.0


class QueryCostSettings(BaseModel):
    """Budgets (estimated objects per request) and rate limits (estimated objects per
    caller and window) of the four tiers of callers (README: Query cost and time limits)."""

    anonymous: int = Field(
        5_000, ge=1, description="Largest estimated cost of one request of an anonymous caller."
    )
    customer: int = Field(
        20_000, ge=1, description="Largest estimated cost of one request of a customer session."
    )
    staff: int = Field(
        50_000,
        ge=1,
        description="Largest estimated cost of one request of the support, finance, growth "
        "and readonly roles.",
    )
    admin: int = Field(
        100_000, ge=1, description="Largest estimated cost of one request of the admin role."
    )
    rate_anonymous: str = Field(
        "100000/minute", description="Query cost an anonymous client address may spend."
    )
    rate_customer: str = Field(
        "400000/minute", description="Query cost a customer session may spend."
    )
    rate_staff: str = Field("2000000/minute", description="Query cost a staff API key may spend.")
    rate_admin: str = Field("5000000/minute", description="Query cost an admin API key may spend.")

    @model_validator(mode="after")
    def _coherent(self) -> QueryCostSettings:
        budgets = self.budgets
        for tier, budget in budgets.items():
            if budget < budgets["anonymous"]:
                raise ValueError(
                    f"the anonymous budget must be the smallest ({budgets['anonymous']} > "
                    f"{tier} {budget})"
                )
            try:
                item = parse_rate(self.rates[tier])
            except ValueError as error:
                raise ValueError(f"rate_{tier}: {error}") from None
            if item.amount < budget:
                raise ValueError(
                    f"rate_{tier} ({self.rates[tier]}) must allow at least one request at the "
                    f"{tier} budget ({budget})"
                )
        return self

    @property
    def budgets(self) -> dict[str, int]:
        return {
            "anonymous": self.anonymous,
            "customer": self.customer,
            "staff": self.staff,
            "admin": self.admin,
        }

    @property
    def rates(self) -> dict[str, str]:
        return {
            "anonymous": self.rate_anonymous,
            "customer": self.rate_customer,
            "staff": self.rate_staff,
            "admin": self.rate_admin,
        }


class LiveSettings(BaseModel):
    """Live GraphQL subscriptions over WebSocket (graphql-transport-ws on /graphql; README:
    Live updates over WebSocket)."""

    max_subscriptions: int = Field(
        10, ge=1, le=1000, description="Active subscriptions one WebSocket connection may hold."
    )
    init_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a new connection has to send `connection_init`."
    )
    idle_timeout_seconds: float = Field(
        300.0,
        gt=0,
        description="A connection without any active subscription (and no message) for this "
        "long is closed.",
    )
    max_message_bytes: int = Field(
        65_536, ge=1024, description="Largest message a client may send (a bigger one: 1009)."
    )
    poll_seconds: float = Field(
        0.2,
        gt=0,
        description="How often the hub reads the event log on SQLite (no LISTEN/NOTIFY) or "
        "without a LISTEN connection (transaction pooling, no direct URL); on PostgreSQL the "
        "fallback read when no notification came.",
    )
    queue_size: int = Field(
        256,
        ge=1,
        description="Events buffered per subscriber; a subscriber further behind "
        "is ended with SUBSCRIBER_TOO_SLOW.",
    )
    listen_url: str | None = Field(
        None,
        description="PostgreSQL URL of the hub's LISTEN connection. Default: "
        "database_direct_url, else database_url; with database_transaction_pooling and "
        "neither set, the hub polls the log every poll_seconds (LISTEN through a transaction "
        "pooler hears nothing).",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAYGATE_",
        env_file=".env",
        env_nested_delimiter="__",
        extra="ignore",
        # A refused value is never repeated in the error: it may be a secret (a password in
        # PAYGATE_EVENT_BUS_URL or PAYGATE_DATABASE_URL).
        hide_input_in_errors=True,
    )

    profile: Literal["development", "production"] = Field(
        "development",
        description="`production` turns off GraphiQL and demo data and stops migrating on start.",
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./paygate.db",
        description="SQLAlchemy URL. PostgreSQL in production: postgresql://user:pw@host/db.",
    )
    database_transaction_pooling: bool = Field(
        False,
        description="database_url goes through a pooler in transaction pooling mode (PgBouncer "
        "pool_mode=transaction): no prepared statement outlives its statement, no start-up "
        "parameter is sent (statement_timeout comes from the role), and what keeps session "
        "state (LISTEN, session advisory locks, migrations) uses database_direct_url.",
    )
    database_direct_url: str | None = Field(
        None,
        description="SQLAlchemy URL of PostgreSQL itself (or of a PgBouncer database in session "
        "mode) for the connections that keep session state: the job queue (LISTEN/NOTIFY), "
        "the event bus relay's leader lock and LISTEN, the live hub's LISTEN, migrations. "
        "Default: database_url. Needed by `paygate worker`, `relay` and `migrate` when "
        "database_transaction_pooling is on.",
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="Connections kept per process.")
    db_max_overflow: int | None = Field(
        None,
        ge=0,
        le=200,
        description="Connections opened beyond the pool under load. Default: db_pool_size.",
    )
    db_pool_pre_ping: bool = Field(
        False,
        description="Test each connection with a round trip when it leaves the pool. Off: a "
        "dropped connection fails one statement, which invalidates the pool's older "
        "connections; connections are also recycled after 30 minutes.",
    )
    db_statement_timeout_seconds: float = Field(
        10.0,
        ge=0,
        description="Longest a database statement of the API may run (PostgreSQL "
        "statement_timeout on its connections; on SQLite a progress handler); 0: no limit.",
    )
    request_timeout_seconds: float = Field(
        15.0,
        ge=0,
        description="Longest a query may take to execute, its database work included; 0: no "
        "limit. Mutations are never cut off half-way (their statements have the statement "
        "timeout, their PSP calls their own).",
    )
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
    log_format: Literal["json", "console"] | None = Field(
        None, description="Log lines as JSON or for people. Default: console, json in production."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Lowest level logged."
    )
    request_log: bool = Field(True, description="Log one line per HTTP request.")
    metrics_enabled: bool = Field(True, description="Record metrics and serve /metrics.")
    metrics_db_timeout_seconds: float = Field(
        2.0, gt=0, le=30, description="Time allowed to the database reads of a /metrics scrape."
    )
    metrics_stuck_after_minutes: int = Field(
        15, ge=1, description="A payment whose outcome is unknown for longer is stuck."
    )
    dunning_retry_days: list[int] = Field(
        default_factory=lambda: [1, 3, 5, 7],
        description="Days after a failed renewal on which it is retried (JSON list).",
    )
    dunning_final_status: Literal["unpaid", "canceled"] = Field(
        "unpaid", description="What a subscription becomes when every retry failed."
    )
    usage_grace_seconds: int = Field(
        3600,
        ge=0,
        le=86400,
        description="How long an invoice that bills usage stays a draft after its period "
        "ends, for late events (usage arriving later is billed as an adjustment on the next "
        "invoice).",
    )
    usage_raw_retention_months: int | None = Field(
        None,
        ge=3,
        description="Months of raw usage events kept on PostgreSQL: older monthly partitions "
        "are detached (kept as tables of their own, for archiving). Default: keep all.",
    )
    event_retention_days: int = Field(
        30,
        ge=7,
        description="Days the event log keeps an event (events(after:) replays that far).",
    )
    dispute_evidence_notice_days: int = Field(
        3,
        ge=1,
        le=30,
        description="Days before a dispute's evidenceDueBy that `dispute.evidence_due_soon` "
        "is stated (once per dispute and due date, by the worker).",
    )

    @property
    def usage_grace(self) -> timedelta:
        return timedelta(seconds=self.usage_grace_seconds)

    queue_required: bool | None = Field(
        None,
        description="/readyz needs the job queue's tables. Default: in production on PostgreSQL.",
    )
    otel_enabled: bool = Field(False, description="Export OpenTelemetry traces (the otel extra).")
    otel_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces. Default: the "
        "OTEL_EXPORTER_OTLP_* variables, else http://localhost:4318/v1/traces.",
    )
    otel_service_name: str = Field("paygate", description="service.name of the traces.")
    otel_sample_ratio: float = Field(
        1.0, ge=0, le=1, description="Share of new traces sampled (callers' decisions are kept)."
    )
    introspection: bool | None = Field(
        None, description="Allow GraphQL introspection. Default: on, except in production."
    )
    trusted_documents_only: bool = Field(
        False,
        description="Refuse GraphQL documents that are not registered (trusted_documents_dir) "
        "(trusted documents, sent by hash or as their exact text). Off by default: server "
        "integrations send their own documents; turn it on where only paygate's frontends call.",
    )
    trusted_documents_dir: Path | None = Field(
        None,
        description="Directory of the trusted documents (*.graphql); default: the ones shipped "
        "in app/graphql/compiled_path/documents.",
    )
    compiled_documents: bool = Field(
        True,
        description="Serve registered documents that compile to one SQL statement from that "
        "statement (PostgreSQL only); off: every document goes through the resolvers.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call /graphql from a browser (JSON list); none by default.",
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Proxies (addresses or networks, JSON list) whose X-Forwarded-For is "
        "believed: the risk rules see the client's address from it. None by default: the "
        "peer's address is the client's.",
    )
    risk_review_hours: int = Field(
        72,
        ge=1,
        le=24 * 7,
        description="How long a payment the risk rules sent to review waits for a decision "
        "(at most 7 days: an authorisation's usual life).",
    )
    risk_review_default: ReviewDefault = Field(
        ReviewDefault.REJECT,
        description="What a review nobody decided in time becomes: REJECT (cancel the "
        "authorisation) or APPROVE (capture).",
    )
    rate_limit_mutations: str = Field(
        "300/minute", description="Mutations per caller (key, customer, or client address)."
    )
    rate_limit_guessable: str = Field(
        "10/minute",
        description="Mutations carrying guessable inputs (coupon codes) per caller.",
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where rate-limit counters live (`limits` storage URI); use "
        "redis://host:6379 when several processes serve the API.",
    )
    event_bus_url: SecretStr | None = Field(
        None,
        description="Publish every event to this broker (README, Event bus): nats://host:4222 "
        "(JetStream), amqp:// or amqps://user:pw@host/vhost (RabbitMQ), kafka://host:9092[,"
        "host:9092] (Kafka). Off by default. Never logged with its credentials.",
    )
    event_bus_name: str = Field(
        "paygate.events",
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="NATS subject prefix (subjects <name>.<type>, stream named after it), "
        "RabbitMQ topic exchange, or Kafka topic.",
    )
    event_bus_batch_size: int = Field(
        100, ge=1, le=1000, description="Events the relay publishes before advancing its cursor."
    )
    event_bus_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often the relay looks for events when no NOTIFY woke it.",
    )
    event_bus_throttle_seconds: float = Field(
        0.0,
        ge=0,
        le=10,
        description="Pause after each message (tests that stop the relay half-way); 0 in use.",
    )
    event_bus_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve the relay's metrics (published, errors, lag) on this port, from "
        "`paygate relay` or the worker that runs it.",
    )
    shutdown_delay_seconds: float = Field(
        0.0,
        ge=0,
        le=300,
        description="After SIGTERM, `paygate serve` answers /readyz with 503 and goes on "
        "serving this long before it stops taking connections (load balancers see it leave).",
    )
    worker_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve `paygate worker`'s metrics (its PSP calls, the process) on this "
        "port's /metrics.",
    )
    query_cost: QueryCostSettings = Field(default_factory=QueryCostSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    paypal: PayPalSettings = Field(default_factory=PayPalSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

    @field_validator("database_url", "database_direct_url")
    @classmethod
    def _async_driver(cls, url: str | None) -> str | None:
        """Accept the usual ``postgres://`` / ``postgresql://`` URLs and pick asyncpg."""
        for prefix in ("postgres://", "postgresql://"):
            if url is not None and url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url

    @field_validator("event_bus_url")
    @classmethod
    def _bus_scheme(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            scheme = urlsplit(url.get_secret_value()).scheme.lower()
            if scheme not in EVENT_BUS_SCHEMES:
                known = ", ".join(f"{s}://" for s in EVENT_BUS_SCHEMES)
                raise ValueError(f"the event bus URL's scheme must be one of {known}")
        return url

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level

    @field_validator("dunning_retry_days")
    @classmethod
    def _increasing_days(cls, days: list[int]) -> list[int]:
        DunningPolicy(retry_days=tuple(days))  # raises ValueError with the reason
        return days

    @property
    def dunning_policy(self) -> DunningPolicy:
        return DunningPolicy(
            retry_days=tuple(self.dunning_retry_days),
            final_status=SubscriptionStatus(self.dunning_final_status),
        )

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
    def introspection_enabled(self) -> bool:
        return self._default_on(self.introspection)

    @property
    def anonymous_role(self) -> Role | None:
        """What callers without credentials may do (the development default is admin)."""
        if self.auth.anonymous_role == "none":
            return None
        if self.auth.anonymous_role is not None:
            return self.auth.anonymous_role
        return None if self.is_production else Role.ADMIN

    @property
    def graphiql_enabled(self) -> bool:
        return self._default_on(self.graphiql)

    @property
    def log_as_json(self) -> bool:
        return self.log_format == "json" or (self.log_format is None and self.is_production)

    @property
    def deliver_webhooks_in_process(self) -> bool:
        if self.webhooks.in_process is not None:
            return self.webhooks.in_process
        return self.database_url.startswith("sqlite")

    @property
    def session_database_url(self) -> str | None:
        """Where the connections that keep session state go (LISTEN, session advisory locks,
        migrations): ``database_direct_url``, else ``database_url`` unless it goes through a
        transaction pooler (None then: a pooler hands each transaction whichever server
        connection is free, so a LISTEN there hears nothing and a session lock is lost)."""
        if self.database_direct_url is not None:
            return self.database_direct_url
        return None if self.database_transaction_pooling else self.database_url

    def session_url_for(self, purpose: str) -> str:
        """:attr:`session_database_url`, or :class:`DirectUrlRequired` naming ``purpose``."""
        url = self.session_database_url
        if url is None:
            raise DirectUrlRequired(
                f"{purpose} needs a database session of its own, which a transaction pooler "
                "does not give (PAYGATE_DATABASE_TRANSACTION_POOLING): set "
                "PAYGATE_DATABASE_DIRECT_URL to PostgreSQL itself or to a PgBouncer database "
                "in session mode"
            )
        return url

    @property
    def live_listen_url(self) -> str | None:
        """The live hub's LISTEN connection; None: the hub polls the event log."""
        return self.live.listen_url or self.session_database_url

    @property
    def queue_must_exist(self) -> bool:
        if self.queue_required is not None:
            return self.queue_required
        return self.is_production and not self.database_url.startswith("sqlite")
