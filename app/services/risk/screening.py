"""Screening one attempt (a charge or a payment-method attach) before it reaches the PSP.

The facts the rules need are read from PostgreSQL (or the embedded SQLite file), so every
replica counts the same attempts: the sliding windows are counts over ``risk_attempts``
(indexed by each source and time), declines are the failed payments those attempts made,
the customer's usual amount is the mean of its succeeded payments. The attempt is recorded
in the caller's transaction, with the decision and its reasons, whatever the decision: a
blocked attempt still counts against its source.

Two attempts racing from one source may both see the count before the other: a window is
a threshold, not a lock (as rate limits are); a burst passes at most as many attempts as
run at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.ids import new_id
from app.domain.payments import PaymentStatus
from app.domain.risk import (
    AmountAboveUsual,
    AttemptKind,
    CardTesting,
    Condition,
    Facts,
    OnList,
    RiskAction,
    RiskDimension,
    RiskListKind,
    Velocity,
    Window,
    judge,
)
from app.domain.risk import Assessment as Decision
from app.models import Customer, Payment, PaymentMethod, RiskAttempt, RiskListEntry, RiskRule
from app.security.client_ip import ClientSignals
from app.services.risk import rules as rule_store


@dataclass(frozen=True, slots=True)
class Screened:
    decision: Decision
    attempt: RiskAttempt

    @property
    def action(self) -> RiskAction:
        return self.decision.action


def _sources(
    customer: Customer, method: PaymentMethod | None, signals: ClientSignals
) -> dict[RiskDimension, str | None]:
    return {
        RiskDimension.CARD_FINGERPRINT: method.fingerprint if method else None,
        RiskDimension.CUSTOMER: str(customer.id),
        RiskDimension.IP_ADDRESS: signals.ip_address,
        RiskDimension.DEVICE_ID: signals.device_id,
        RiskDimension.EMAIL: customer.email.lower() if customer.email else None,
    }


_COLUMNS = {
    RiskDimension.CARD_FINGERPRINT: RiskAttempt.fingerprint,
    RiskDimension.CUSTOMER: RiskAttempt.customer_id,
    RiskDimension.IP_ADDRESS: RiskAttempt.ip_address,
    RiskDimension.DEVICE_ID: RiskAttempt.device_id,
    RiskDimension.EMAIL: RiskAttempt.email,
}


async def _window(
    session: AsyncSession,
    condition: Velocity | CardTesting,
    value: str,
    now: datetime,
    this: tuple[str | None, str | None, int | None],
) -> Window:
    """The window's counts for ``value``, with this attempt (its fingerprint, currency and
    amount) counted in."""
    column = _COLUMNS[condition.dimension]
    key: object = uuid.UUID(value) if condition.dimension is RiskDimension.CUSTOMER else value
    where = [column == key, RiskAttempt.created_at > now - condition.window]
    fingerprint, currency, amount = this
    counts_this = True
    if isinstance(condition, CardTesting) and condition.small_amount_minor is not None:
        small = condition.small_amount_minor
        where.append(
            sa.or_(
                RiskAttempt.kind == AttemptKind.ATTACH,
                sa.and_(RiskAttempt.currency == currency, RiskAttempt.amount_minor <= small),
            )
        )
        counts_this = amount is None or amount <= small
    row = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(sa.distinct(RiskAttempt.fingerprint))
                # an attach whose card the PSP has not named (yet: in flight, or refused)
                # is a card of its own
                + sa.func.count(
                    sa.case(
                        (
                            sa.and_(
                                RiskAttempt.kind == AttemptKind.ATTACH,
                                RiskAttempt.fingerprint.is_(None),
                            ),
                            1,
                        )
                    )
                ),
                sa.func.count(Payment.id),
            )
            .select_from(RiskAttempt)
            .outerjoin(
                Payment,
                sa.and_(
                    Payment.id == RiskAttempt.payment_id, Payment.status == PaymentStatus.FAILED
                ),
            )
            .where(*where)
        )
    ).one()
    attempts, cards, declines = int(row[0]), int(row[1]), int(row[2])
    if counts_this:
        attempts += 1
        if fingerprint is None:  # an attach: a card the PSP will name
            cards += 1
        else:
            seen = await session.scalar(
                sa.select(sa.literal(True)).where(*where, RiskAttempt.fingerprint == fingerprint)
            )
            cards += 0 if seen else 1
    return Window(attempts=attempts, distinct_cards=cards, declines=declines)


async def _one_at_a_time(session: AsyncSession, sources: list[tuple[str, str]]) -> None:
    """Attempts sharing a counted source are screened one after the other, each counting
    the ones before (a burst of attempts at once must not all see the same count): on
    PostgreSQL a transaction-level advisory lock per source, taken in one order (no
    deadlock), held until the attempt's row commits; SQLite's one write lock, taken at once
    (``FOR UPDATE`` begins an immediate transaction, app/db.py)."""
    if not sources:
        return
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(sa.select(RiskRule.id).limit(1).with_for_update())
        return
    for dimension, value in sources:
        await session.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"paygate:risk:{dimension}:{value}"},
        )


async def _listed(
    session: AsyncSession, values: dict[RiskDimension, str | None]
) -> frozenset[RiskListKind]:
    pairs = []
    for dimension, value in values.items():
        if value is not None:
            try:
                pairs.append((dimension, rule_store.normal(dimension, value)))
            except ValueError:
                continue
    if not pairs:
        return frozenset()
    found = await session.scalars(
        sa.select(RiskListEntry.list).where(
            sa.or_(
                *(sa.and_(RiskListEntry.dimension == d, RiskListEntry.value == v) for d, v in pairs)
            )
        )
    )
    return frozenset(found)


async def _usual(session: AsyncSession, customer_id: uuid.UUID, currency: str) -> tuple[int, int]:
    row = (
        await session.execute(
            sa.select(
                sa.func.count(), sa.func.coalesce(sa.func.avg(Payment.amount_minor), 0)
            ).where(
                Payment.customer_id == customer_id,
                Payment.currency == currency,
                Payment.status == PaymentStatus.SUCCEEDED,
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def screen(
    session: AsyncSession,
    *,
    clock: Clock,
    kind: AttemptKind,
    customer: Customer,
    signals: ClientSignals,
    method: PaymentMethod | None = None,
    amount_minor: int | None = None,
    currency: str | None = None,
    payment_id: uuid.UUID | None = None,
) -> Screened:
    """Judge an attempt by the active rules and record it (in the caller's transaction)."""
    now = clock.now()
    rules = await rule_store.active_rules(session)
    sources = _sources(customer, method, signals)
    windows: dict[Condition, Window] = {}
    this = (sources[RiskDimension.CARD_FINGERPRINT], currency, amount_minor)
    counted = {
        (rule.condition.dimension.value, value)
        for rule in rules
        if isinstance(rule.condition, Velocity | CardTesting)
        and (value := sources.get(rule.condition.dimension)) is not None
    }
    await _one_at_a_time(session, sorted(counted))
    for rule in rules:
        condition = rule.condition
        if isinstance(condition, Velocity | CardTesting) and condition not in windows:
            value = sources.get(condition.dimension)
            if value is not None:
                windows[condition] = await _window(session, condition, value, now, this)
    listed: frozenset[RiskListKind] = frozenset()
    if any(isinstance(rule.condition, OnList) for rule in rules):
        values = {
            **sources,
            RiskDimension.CUSTOMER: None,  # a customer is listed by its email
            RiskDimension.COUNTRY: None,
        }
        listed = await _listed(session, values)
        for country in {method.country if method else None, customer.country} - {None}:
            listed |= await _listed(session, {RiskDimension.COUNTRY: country})
    usual = None
    if (
        amount_minor is not None
        and currency is not None
        and any(isinstance(rule.condition, AmountAboveUsual) for rule in rules)
    ):
        usual = await _usual(session, customer.id, currency)
    facts = Facts(
        kind=kind,
        amount_minor=amount_minor,
        currency=currency,
        card_country=method.country if method else None,
        customer_country=customer.country,
        windows=windows,
        usual=usual,
        listed=listed,
    )
    decision = judge(rules, facts)
    attempt = RiskAttempt(
        id=new_id(),
        kind=kind,
        customer_id=customer.id,
        payment_id=payment_id,
        payment_method_id=method.id if method else None,
        fingerprint=sources[RiskDimension.CARD_FINGERPRINT],
        ip_address=signals.ip_address,
        device_id=signals.device_id,
        email=sources[RiskDimension.EMAIL],
        currency=currency,
        amount_minor=amount_minor,
        action=decision.action,
        score=decision.score,
        level=decision.level,
        reasons=[
            {
                "rule": reason.rule_key,
                "name": reason.rule_name,
                "action": reason.action.value,
                "detail": reason.detail,
            }
            for reason in decision.reasons
        ],
        created_at=now,
        updated_at=now,
    )
    session.add(attempt)
    return Screened(decision, attempt)
