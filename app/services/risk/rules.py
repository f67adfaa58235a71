"""The risk rules and the block and allow lists: data that staff change through the API
(``createRiskRule``, ``addRiskListEntry`` …), read by :mod:`app.services.risk.screening`."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.ids import new_id
from app.domain.risk import (
    COUNTED,
    DEFAULT_RULES,
    MAX_WINDOW,
    AmountAbove,
    AmountAboveUsual,
    CardTesting,
    Condition,
    RiskAction,
    RiskDimension,
    RiskListKind,
    Rule,
    Velocity,
    from_document,
    to_document,
)
from app.models import RiskListEntry, RiskRule


def rule_of(row: RiskRule) -> Rule:
    return Rule(
        key=str(row.id),
        name=row.name,
        condition=from_document(row.condition),
        action=row.action,
        score=row.score,
        position=row.position,
    )


async def active_rules(session: AsyncSession) -> list[Rule]:
    rows = await session.scalars(sa.select(RiskRule).where(RiskRule.active.is_(True)))
    return [rule_of(row) for row in rows]


def rules_query(*, active: bool | None = None) -> sa.Select[RiskRule]:
    statement = sa.select(RiskRule)
    if active is not None:
        statement = statement.where(RiskRule.active.is_(active))
    return statement


def list_query(
    *, list_kind: RiskListKind | None = None, dimension: RiskDimension | None = None
) -> sa.Select[RiskListEntry]:
    statement = sa.select(RiskListEntry)
    if list_kind is not None:
        statement = statement.where(RiskListEntry.list == list_kind)
    if dimension is not None:
        statement = statement.where(RiskListEntry.dimension == dimension)
    return statement


def _check_condition(problems: Problems, condition: Condition) -> None:
    field = "condition"
    if isinstance(condition, Velocity | CardTesting):
        if condition.dimension not in COUNTED:
            problems.add(ErrorCode.INVALID, "Attempts are not counted by country.", field)
        if not timedelta(seconds=1) <= condition.window <= MAX_WINDOW:
            problems.add(
                ErrorCode.INVALID, "A window is 1 second to 30 days long.", field, "windowSeconds"
            )
    if isinstance(condition, Velocity) and condition.max_attempts < 1:
        problems.add(ErrorCode.INVALID, "maxAttempts is at least 1.", field, "maxAttempts")
    if isinstance(condition, CardTesting):
        if condition.max_distinct_cards is None and condition.max_declines is None:
            problems.add(ErrorCode.REQUIRED, "Give maxDistinctCards, maxDeclines or both.", field)
        for name, value in (
            ("maxDistinctCards", condition.max_distinct_cards),
            ("maxDeclines", condition.max_declines),
            ("smallAmount", condition.small_amount_minor),
        ):
            if value is not None and value < 1:
                problems.add(ErrorCode.INVALID, f"{name} is at least 1.", field, name)
    if isinstance(condition, AmountAboveUsual) and (
        condition.factor < 1 or condition.minimum_payments < 1
    ):
        problems.add(ErrorCode.INVALID, "factor and minimumPayments are at least 1.", field)
    if isinstance(condition, AmountAbove) and condition.amount_minor < 0:
        problems.add(ErrorCode.NEGATIVE_AMOUNT, "The amount cannot be negative.", field)


def _checked(
    problems: Problems, name: str | None, score: int | None, position: int | None
) -> str | None:
    cleaned = check.text(problems, name, "name", max_length=200, required=name is not None)
    if score is not None and not 0 <= score <= 100:
        problems.add(ErrorCode.INVALID, "A score is 0 to 100.", "score")
    if position is not None and not 0 <= position <= 1_000_000:
        problems.add(ErrorCode.INVALID, "A position is 0 to 1,000,000.", "position")
    return cleaned


async def create_rule(
    session: AsyncSession,
    *,
    clock: Clock,
    name: str,
    condition: Condition,
    action: RiskAction,
    score: int,
    position: int | None,
) -> RiskRule:
    problems = Problems()
    cleaned = _checked(problems, name, score, position)
    _check_condition(problems, condition)
    problems.raise_if_any()
    if position is None:  # after the last
        last = await session.scalar(sa.select(sa.func.max(RiskRule.position)))
        position = 0 if last is None else last + 10
    row = RiskRule(
        id=new_id(),
        name=cleaned,
        condition=to_document(condition),
        action=action,
        score=score,
        position=position,
        active=True,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(row)
    await session.commit()
    return row


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> RiskRule:
    row = await session.get(RiskRule, rule_id, with_for_update=True)
    if row is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such risk rule.", ("id",)))
    return row


async def update_rule(
    session: AsyncSession,
    *,
    clock: Clock,
    rule_id: uuid.UUID,
    name: str | None,
    action: RiskAction | None,
    score: int | None,
    position: int | None,
    active: bool | None,
) -> RiskRule:
    problems = Problems()
    cleaned = _checked(problems, name, score, position)
    problems.raise_if_any()
    row = await get_rule(session, rule_id)
    if cleaned is not None:
        row.name = cleaned
    if action is not None:
        row.action = action
    if score is not None:
        row.score = score
    if position is not None:
        row.position = position
    if active is not None:
        row.active = active
    row.updated_at = clock.now()
    await session.commit()
    return row


async def install_defaults(session: AsyncSession, *, clock: Clock) -> list[RiskRule]:
    """Add the recommended rules (``DEFAULT_RULES``) that are not there yet, by name; run
    again, it adds nothing."""
    have = set(await session.scalars(sa.select(RiskRule.name)))
    added = []
    for name, condition, action, score in DEFAULT_RULES:
        if name not in have:
            added.append(
                await create_rule(
                    session,
                    clock=clock,
                    name=name,
                    condition=condition,
                    action=action,
                    score=score,
                    position=None,
                )
            )
    return added


def normal(dimension: RiskDimension, value: str) -> str:
    """A list value as stored and looked up (raises ValueError when it is not one)."""
    value = value.strip()
    if dimension is RiskDimension.IP_ADDRESS:
        return str(ipaddress.ip_address(value))
    if dimension is RiskDimension.EMAIL:
        return value.lower()
    if dimension is RiskDimension.COUNTRY:
        problems = Problems()
        code = check.country(problems, value, "value")
        if code is None:
            raise ValueError("not a country")
        return code
    if dimension is RiskDimension.CUSTOMER:
        raise ValueError("customers are listed by their email address")
    if not value:
        raise ValueError("blank")
    return value


async def add_list_entry(
    session: AsyncSession,
    *,
    clock: Clock,
    list_kind: RiskListKind,
    dimension: RiskDimension,
    value: str,
    note: str | None,
) -> RiskListEntry:
    """Put ``value`` on a list; adding what is there already answers the entry."""
    problems = Problems()
    text = check.text(problems, value, "value", max_length=254, required=True)
    note = check.text(problems, note, "note", max_length=500)
    problems.raise_if_any()
    assert text is not None
    try:
        stored = normal(dimension, text)
    except ValueError as error:
        raise UserInputError(
            Problem(ErrorCode.INVALID, f"Not a value of {dimension.value}: {error}.", ("value",))
        ) from None
    where = (
        RiskListEntry.list == list_kind,
        RiskListEntry.dimension == dimension,
        RiskListEntry.value == stored,
    )
    existing = await session.scalar(sa.select(RiskListEntry).where(*where))
    if existing is not None:
        await session.commit()
        return existing
    row = RiskListEntry(
        id=new_id(),
        list=list_kind,
        dimension=dimension,
        value=stored,
        note=note,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:  # added at the same moment by another request
        await session.rollback()
        found = await session.scalar(sa.select(RiskListEntry).where(*where))
        assert found is not None
        await session.commit()
        return found
    return row


async def remove_list_entry(session: AsyncSession, *, entry_id: uuid.UUID) -> uuid.UUID:
    row = await session.get(RiskListEntry, entry_id)
    if row is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such list entry.", ("id",)))
    await session.delete(row)
    await session.commit()
    return entry_id
