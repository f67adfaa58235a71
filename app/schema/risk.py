"""Risk: the rules, the block and allow lists, a payment's risk, and the review queue, with
the mutations' inputs and payloads (README: Risk rules and reviews)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta
from typing import Any

import strawberry

from app.domain import risk as domain
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.money import parse_money
from app.domain.risk import RiskAction, RiskDimension, RiskLevel, RiskListKind
from app.models import RiskAttempt as AttemptRow
from app.models import RiskListEntry as EntryRow
from app.models import RiskRule as RuleRow
from app.schema.enums import described_enum
from app.schema.errors import UserError
from app.schema.idempotency import optional_key
from app.schema.money import Money, MoneyInput
from app.schema.node import Node, encode_gid
from app.schema.pagination import Connection
from app.services.risk.rules import rule_of

described_enum(
    RiskAction,
    description="What a risk rule does when its condition holds.",
    values={
        RiskAction.ALLOW: "Let the attempt through, whatever block and review rules say.",
        RiskAction.REVIEW: "Authorise the charge without capturing it and queue it for a "
        "person (`reviews`); an attach goes through.",
        RiskAction.BLOCK: "Refuse before the PSP sees it (`RISK_BLOCKED`).",
    },
)
described_enum(
    RiskLevel,
    description="How risky the rules found an attempt (Radar's levels, by score).",
    values={
        RiskLevel.NORMAL: "Score below 65.",
        RiskLevel.ELEVATED: "Score 65 to 74.",
        RiskLevel.HIGHEST: "Score 75 or more.",
    },
)
described_enum(
    RiskDimension,
    description="What attempts are counted by, and what a list holds.",
    values={
        RiskDimension.CARD_FINGERPRINT: "The card's fingerprint (the same card at one PSP).",
        RiskDimension.CUSTOMER: "The paygate customer (counted; listed by email instead).",
        RiskDimension.IP_ADDRESS: "The client's IP address (`PAYGATE_TRUSTED_PROXIES`).",
        RiskDimension.DEVICE_ID: "The `Paygate-Device-Id` header the frontend sends.",
        RiskDimension.EMAIL: "The customer's email address.",
        RiskDimension.COUNTRY: "Lists only: the card's issuing country or the customer's.",
    },
)
described_enum(
    RiskListKind,
    description="A list of values the rules match with `onList`.",
    values={
        RiskListKind.BLOCK: "Values to refuse.",
        RiskListKind.ALLOW: "Values to trust.",
    },
)


class RiskConditionType(enum.Enum):
    VELOCITY = "VELOCITY"
    CARD_TESTING = "CARD_TESTING"
    COUNTRY_MISMATCH = "COUNTRY_MISMATCH"
    AMOUNT_ABOVE_USUAL = "AMOUNT_ABOVE_USUAL"
    AMOUNT_ABOVE = "AMOUNT_ABOVE"
    ON_LIST = "ON_LIST"


described_enum(
    RiskConditionType,
    description="The kind of a risk rule's condition.",
    values={
        RiskConditionType.VELOCITY: "Too many attempts from one source in a window.",
        RiskConditionType.CARD_TESTING: "Many cards, or declines, from one source.",
        RiskConditionType.COUNTRY_MISMATCH: "Card issued in another country than the customer's.",
        RiskConditionType.AMOUNT_ABOVE_USUAL: "Far above the customer's mean payment.",
        RiskConditionType.AMOUNT_ABOVE: "Above a fixed amount.",
        RiskConditionType.ON_LIST: "A value of the attempt is on a list.",
    },
)


@strawberry.type(
    description="A rule's condition: `type` says which, and which of the other fields apply."
)
class RiskCondition:
    type: RiskConditionType = strawberry.field(description="Which condition.")
    dimension: RiskDimension | None = strawberry.field(description="What is counted.")
    window_seconds: int | None = strawberry.field(description="The sliding window.")
    max_attempts: int | None = strawberry.field(description="VELOCITY: attempts allowed.")
    max_distinct_cards: int | None = strawberry.field(
        description="CARD_TESTING: cards allowed from one source."
    )
    max_declines: int | None = strawberry.field(
        description="CARD_TESTING: declined charges that trigger it."
    )
    small_amount_minor: int | None = strawberry.field(
        description="CARD_TESTING: only charges of at most this many minor units count."
    )
    factor: int | None = strawberry.field(description="AMOUNT_ABOVE_USUAL: times the mean.")
    minimum_payments: int | None = strawberry.field(
        description="AMOUNT_ABOVE_USUAL: the history it needs."
    )
    amount: Money | None = strawberry.field(description="AMOUNT_ABOVE: the limit.")
    list: RiskListKind | None = strawberry.field(description="ON_LIST: which list.")

    @classmethod
    def of(cls, condition: domain.Condition) -> RiskCondition:
        fields: dict[str, Any] = dict.fromkeys(
            [
                "dimension",
                "window_seconds",
                "max_attempts",
                "max_distinct_cards",
                "max_declines",
                "small_amount_minor",
                "factor",
                "minimum_payments",
                "amount",
                "list",
            ]
        )
        match condition:
            case domain.Velocity():
                kind = RiskConditionType.VELOCITY
                fields |= {
                    "dimension": condition.dimension,
                    "window_seconds": int(condition.window.total_seconds()),
                    "max_attempts": condition.max_attempts,
                }
            case domain.CardTesting():
                kind = RiskConditionType.CARD_TESTING
                fields |= {
                    "dimension": condition.dimension,
                    "window_seconds": int(condition.window.total_seconds()),
                    "max_distinct_cards": condition.max_distinct_cards,
                    "max_declines": condition.max_declines,
                    "small_amount_minor": condition.small_amount_minor,
                }
            case domain.CountryMismatch():
                kind = RiskConditionType.COUNTRY_MISMATCH
            case domain.AmountAboveUsual():
                kind = RiskConditionType.AMOUNT_ABOVE_USUAL
                fields |= {
                    "factor": condition.factor,
                    "minimum_payments": condition.minimum_payments,
                }
            case domain.AmountAbove():
                kind = RiskConditionType.AMOUNT_ABOVE
                fields["amount"] = Money.of(condition.amount_minor, condition.currency)
            case domain.OnList():
                kind = RiskConditionType.ON_LIST
                fields["list"] = condition.list
        return cls(type=kind, **fields)


@strawberry.type(
    description="A risk rule: evaluated before every screened charge and attach; allow "
    "rules first, then block, then review, each by `position` (Stripe Radar's order)."
)
class RiskRule(Node):
    name: str = strawberry.field(description="What it is for; shown in reasons.")
    condition: RiskCondition = strawberry.field(description="When it holds.")
    action: RiskAction = strawberry.field(description="What it does then.")
    score: int = strawberry.field(description="Added to the attempt's score (0-100).")
    position: int = strawberry.field(description="Its place among rules of its action.")
    active: bool = strawberry.field(description="Whether it is evaluated.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_model(cls, row: RuleRow) -> RiskRule:
        return cls(
            id=encode_gid("RiskRule", row.id),
            name=row.name,
            condition=RiskCondition.of(rule_of(row).condition),
            action=row.action,
            score=row.score,
            position=row.position,
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


RiskRuleConnection = Connection[RiskRule]


@strawberry.type(description="A value on the block or the allow list.")
class RiskListEntry(Node):
    list: RiskListKind = strawberry.field(description="Which list.")
    dimension: RiskDimension = strawberry.field(description="What kind of value.")
    value: str = strawberry.field(description="The value, normalised.")
    note: str | None = strawberry.field(description="Why it is there.")
    created_at: datetime = strawberry.field(description="When it was added.")

    @classmethod
    def from_model(cls, row: EntryRow) -> RiskListEntry:
        return cls(
            id=encode_gid("RiskListEntry", row.id),
            list=row.list,
            dimension=row.dimension,
            value=row.value,
            note=row.note,
            created_at=row.created_at,
        )


RiskListEntryConnection = Connection[RiskListEntry]


@strawberry.type(description="A rule that matched, and what it saw.")
class RiskReason:
    rule_id: strawberry.ID = strawberry.field(description="The `RiskRule`.")
    rule_name: str = strawberry.field(description="Its name when it matched.")
    action: RiskAction = strawberry.field(description="Its action.")
    detail: str = strawberry.field(description="What it saw, in a sentence.")


@strawberry.type(description="How the risk rules judged a charge.")
class PaymentRisk:
    score: int = strawberry.field(description="Sum of the matching rules' scores, at most 100.")
    level: RiskLevel = strawberry.field(description="The score's level.")
    action: RiskAction = strawberry.field(description="What was done.")
    reasons: list[RiskReason] = strawberry.field(description="Every rule that matched.")
    ip_address: str | None = strawberry.field(description="The client's address, as seen.")
    device_id: str | None = strawberry.field(description="The device id sent.")

    @classmethod
    def from_model(cls, row: AttemptRow) -> PaymentRisk:
        return cls(
            score=row.score,
            level=row.level,
            action=row.action,
            reasons=[
                RiskReason(
                    rule_id=strawberry.ID(encode_gid("RiskRule", uuid.UUID(reason["rule"]))),
                    rule_name=reason["name"],
                    action=RiskAction(reason["action"]),
                    detail=reason["detail"],
                )
                for reason in row.reasons
            ],
            ip_address=row.ip_address,
            device_id=row.device_id,
        )


# --- inputs and payloads -------------------------------------------------------------------


@strawberry.input(description="Too many attempts from one source.")
class VelocityConditionInput:
    dimension: RiskDimension = strawberry.field(description="What attempts are counted by.")
    window_seconds: int = strawberry.field(description="The sliding window (at most 30 days).")
    max_attempts: int = strawberry.field(description="Attempts allowed in it, this included.")


@strawberry.input(description="Many cards, or many declines, from one source.")
class CardTestingConditionInput:
    dimension: RiskDimension = strawberry.field(description="The source.")
    window_seconds: int = strawberry.field(description="The sliding window.")
    max_distinct_cards: int | None = strawberry.field(
        default=None, description="Cards allowed from it."
    )
    max_declines: int | None = strawberry.field(
        default=None, description="Declined charges that trigger it."
    )
    small_amount: MoneyInput | None = strawberry.field(
        default=None, description="Only charges of at most this amount count (and attaches)."
    )


@strawberry.input(description="The charge is far above the customer's mean.")
class AmountAboveUsualInput:
    factor: int = strawberry.field(description="Times the mean of its succeeded payments.")
    minimum_payments: int = strawberry.field(
        default=3, description="Succeeded payments needed before it applies."
    )


@strawberry.input(one_of=True, description="A rule's condition: exactly one field.")
class RiskConditionInput:
    velocity: VelocityConditionInput | None = strawberry.field(
        default=strawberry.UNSET, description="Too many attempts from one source."
    )
    card_testing: CardTestingConditionInput | None = strawberry.field(
        default=strawberry.UNSET, description="Many cards or declines from one source."
    )
    country_mismatch: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="true: the card's issuing country is not the customer's.",
    )
    amount_above_usual: AmountAboveUsualInput | None = strawberry.field(
        default=strawberry.UNSET, description="Far above the customer's mean."
    )
    amount_above: MoneyInput | None = strawberry.field(
        default=strawberry.UNSET, description="The charge is above this amount."
    )
    on_list: RiskListKind | None = strawberry.field(
        default=strawberry.UNSET, description="A value of the attempt is on this list."
    )

    def to_domain(self) -> domain.Condition:
        problems = Problems()
        condition: domain.Condition | None = None
        if self.velocity:
            v = self.velocity
            condition = domain.Velocity(
                v.dimension, timedelta(seconds=_seconds(v.window_seconds)), v.max_attempts
            )
        elif self.card_testing:
            c = self.card_testing
            small = None
            if c.small_amount is not None:
                small = parse_money(
                    c.small_amount.amount, c.small_amount.currency,
                    field=("condition", "cardTesting", "smallAmount"),
                ).amount_minor  # fmt: skip
            condition = domain.CardTesting(
                c.dimension, timedelta(seconds=_seconds(c.window_seconds)),
                c.max_distinct_cards, c.max_declines, small,
            )  # fmt: skip
        elif self.country_mismatch:
            condition = domain.CountryMismatch()
        elif self.amount_above_usual:
            a = self.amount_above_usual
            condition = domain.AmountAboveUsual(a.factor, a.minimum_payments)
        elif self.amount_above:
            money = parse_money(
                self.amount_above.amount, self.amount_above.currency,
                field=("condition", "amountAbove"),
            )  # fmt: skip
            condition = domain.AmountAbove(money.amount_minor, money.currency)
        elif self.on_list:
            condition = domain.OnList(self.on_list)
        if condition is None:
            problems.add(ErrorCode.REQUIRED, "Give one condition.", "condition")
            problems.raise_if_any()
        assert condition is not None
        return condition


def _seconds(value: int) -> int:
    if not 1 <= value <= int(domain.MAX_WINDOW.total_seconds()):
        raise UserInputError(
            Problem(ErrorCode.INVALID, "A window is 1 second to 30 days long.", ("condition",))
        )
    return value


@strawberry.input(description="A new risk rule.")
class CreateRiskRuleInput:
    name: str = strawberry.field(description="What it is for.")
    condition: RiskConditionInput = strawberry.field(description="When it holds.")
    action: RiskAction = strawberry.field(description="What it does then.")
    score: int = strawberry.field(default=0, description="Added to the score (0-100).")
    position: int | None = strawberry.field(
        default=None, description="Its place (default: after the last)."
    )
    idempotency_key: str | None = optional_key()


@strawberry.input(description="Change a risk rule (its condition stays: make a new rule).")
class UpdateRiskRuleInput:
    id: strawberry.ID = strawberry.field(description="The `RiskRule`.")
    name: str | None = strawberry.field(default=None, description="A new name.")
    action: RiskAction | None = strawberry.field(default=None, description="A new action.")
    score: int | None = strawberry.field(default=None, description="A new score.")
    position: int | None = strawberry.field(default=None, description="A new place.")
    active: bool | None = strawberry.field(default=None, description="On or off.")
    idempotency_key: str | None = optional_key()


@strawberry.type(description="Result of `createRiskRule` and `updateRiskRule`.")
class RiskRulePayload:
    risk_rule: RiskRule | None = strawberry.field(description="The rule.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Nothing to give but, if you like, a key.")
class InstallDefaultRiskRulesInput:
    idempotency_key: str | None = optional_key()


@strawberry.type(description="Result of `installDefaultRiskRules`.")
class InstallDefaultRiskRulesPayload:
    risk_rules: list[RiskRule] | None = strawberry.field(
        description="The rules added now (none when they were all there)."
    )
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="A value for a list.")
class AddRiskListEntryInput:
    list: RiskListKind = strawberry.field(description="Which list.")
    dimension: RiskDimension = strawberry.field(description="What kind of value.")
    value: str = strawberry.field(description="The value (an email, an IP address …).")
    note: str | None = strawberry.field(default=None, description="Why.")
    idempotency_key: str | None = optional_key()


@strawberry.input(description="A value to take off its list.")
class RemoveRiskListEntryInput:
    id: strawberry.ID = strawberry.field(description="The `RiskListEntry`.")
    idempotency_key: str | None = optional_key()


@strawberry.type(description="Result of `addRiskListEntry`.")
class RiskListEntryPayload:
    risk_list_entry: RiskListEntry | None = strawberry.field(description="The entry.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of `removeRiskListEntry`.")
class RemoveRiskListEntryPayload:
    removed_risk_list_entry_id: str | None = strawberry.field(description="The entry taken off.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")
