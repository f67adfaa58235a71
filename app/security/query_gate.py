"""The rules every GraphQL request meets before it executes, on either path: the resolvers
(``app.resolvers.guard.QueryLimits``) and the compiled trusted documents
(``app.graphql.compiled_path``). Its estimated cost (``app.security.cost``) within its actor's
budget; for a query, its cost spent from its caller's rate limit (``app.security.ratelimit``);
and the time a query may take. The errors they answer are made here, so that both paths
word them alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode

from app.domain.errors import ErrorCode
from app.security.cost import CostAnalysis, Estimate
from app.security.principals import Actor, Principal
from app.security.ratelimit import RateLimits

QUERY_TOO_EXPENSIVE = "QUERY_TOO_EXPENSIVE"
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
RATE_LIMITED = ErrorCode.RATE_LIMITED.value  # the mutations' code too

# Budgets and rate limits come in four tiers: the staff roles share one.
TIERS: dict[Actor, str] = {
    Actor.ANONYMOUS: "anonymous",
    Actor.CUSTOMER: "customer",
    Actor.SUPPORT: "staff",
    Actor.FINANCE: "staff",
    Actor.GROWTH: "staff",
    Actor.READONLY: "staff",
    Actor.ADMIN: "admin",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate decided for one request: the estimate, the caller's budget and rate
    limit, and the error that refuses it (``None``: it runs)."""

    estimate: Estimate
    budget: int
    rate: str
    error: tuple[str, dict[str, Any]] | None = None

    def report(self) -> dict[str, Any]:
        """``extensions.cost`` of the answer, when the request asks for it."""
        return {"estimate": self.estimate.cost, "budget": self.budget, "rateLimit": self.rate}


def cost_requested(extensions: Any) -> bool:
    """Whether a request's ``extensions`` ask for ``extensions.cost`` (``{"cost": true}``)."""
    return type(extensions) is dict and extensions.get("cost") is True


class QueryGate:
    """The rules every request meets before it executes, on either path: its estimate
    within its actor's budget, then (queries) its estimate spent from its caller's rate
    limit; and the time a query may take (``request_timeout``, seconds; ``None``: no
    limit)."""

    def __init__(
        self,
        analysis: CostAnalysis,
        *,
        budgets: Mapping[str, int],
        limits: RateLimits,
        request_timeout: float | None,
    ) -> None:
        self.analysis = analysis
        self.budgets = {actor: budgets[tier] for actor, tier in TIERS.items()}
        self.rates = {actor: limits.query_limit(tier) for actor, tier in TIERS.items()}
        self.limits = limits
        self.request_timeout = request_timeout

    async def admit(
        self,
        principal: Principal,
        text: str,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        document: DocumentNode | None = None,
    ) -> Verdict | None:
        """The verdict on one request; ``None`` when it names no operation to estimate
        (execution refuses it)."""
        estimate = self.analysis.estimate(text, operation_name, variables, document)
        if estimate is None:
            return None
        actor = principal.actor
        budget = self.budgets[actor]
        rate = self.rates[actor]
        if estimate.cost > budget:
            message = (
                f"This operation's estimated cost is {estimate.cost} objects, over the budget "
                f"of {budget} per request for {TIERS[actor]} callers. Ask for smaller pages "
                "(`first`, `last`) or fewer nested lists."
            )
            extensions = {"code": QUERY_TOO_EXPENSIVE, "cost": estimate.cost, "budget": budget}
            return Verdict(estimate, budget, rate, (message, extensions))
        if estimate.query:
            refusal = await self.limits.spend(principal.scope, TIERS[actor], estimate.cost)
            if refusal is not None:
                message = (
                    f"Too many requests ({refusal.limit} of query cost). Retry in "
                    f"{refusal.retry_after_seconds} s."
                )
                extensions = {
                    "code": RATE_LIMITED,
                    "retryAfterSeconds": refusal.retry_after_seconds,
                    "cost": estimate.cost,
                }
                return Verdict(estimate, budget, rate, (message, extensions))
        return Verdict(estimate, budget, rate)


def timeout_error(seconds: float | None, *, statement: bool) -> tuple[str, dict[str, Any]]:
    """The error of a request that ran out of time: its own limit (``seconds``), or one of
    its database statements' (``statement``)."""
    what = "A database statement of this request" if statement else "The request"
    limit = "" if seconds is None else f" than the {seconds:g} s it may take"
    extensions: dict[str, Any] = {
        "code": REQUEST_TIMEOUT,
        "limit": "statement" if statement else "request",
    }
    if seconds is not None:
        extensions["timeoutSeconds"] = seconds
    return f"{what} took longer{limit}; ask for less (smaller pages, fewer lists).", extensions
