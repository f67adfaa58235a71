"""Risk rules: what they look at, what they decide, and how one attempt is judged.

A rule is data (``risk_rules``): a condition over the facts of one attempt (a charge or a
payment-method attach), an action and a score. :func:`judge` is the whole decision, pure:
the services gather the facts (counters over sliding windows, lists, the customer's
history), the rules are applied here.

Order and precedence follow Stripe Radar's (docs.stripe.com/radar/rules, "Rule
processing and order"): allow rules first, then block rules, then review rules, each in
its position; an allow rule that matches wins over every block and review rule (a trusted
customer is never blocked by a velocity rule), a block wins over a review. Every matching
rule is recorded as a reason, whatever the action taken. The score is the sum of the
matching rules' scores, capped at 100, and its level follows Radar's risk levels
(``normal`` below 65, ``elevated`` from 65, ``highest`` from 75).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta


class RiskAction(enum.Enum):
    ALLOW = "ALLOW"
    REVIEW = "REVIEW"
    BLOCK = "BLOCK"


class RiskLevel(enum.Enum):
    NORMAL = "NORMAL"
    ELEVATED = "ELEVATED"
    HIGHEST = "HIGHEST"


class RiskDimension(enum.Enum):
    """What attempts are counted by, and what a list holds."""

    CARD_FINGERPRINT = "CARD_FINGERPRINT"
    CUSTOMER = "CUSTOMER"
    IP_ADDRESS = "IP_ADDRESS"
    DEVICE_ID = "DEVICE_ID"
    EMAIL = "EMAIL"
    COUNTRY = "COUNTRY"  # lists only: the card's issuing country or the customer's


class RiskListKind(enum.Enum):
    BLOCK = "BLOCK"
    ALLOW = "ALLOW"


class AttemptKind(enum.Enum):
    CHARGE = "CHARGE"
    ATTACH = "ATTACH"


# Counted dimensions (a country is not a source of attempts).
COUNTED = (
    RiskDimension.CARD_FINGERPRINT,
    RiskDimension.CUSTOMER,
    RiskDimension.IP_ADDRESS,
    RiskDimension.DEVICE_ID,
    RiskDimension.EMAIL,
)
MAX_WINDOW = timedelta(days=30)  # the longest window a rule may count over


# --- conditions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Velocity:
    """More than ``max_attempts`` attempts (this one included) sharing ``dimension``'s value
    within ``window``."""

    dimension: RiskDimension
    window: timedelta
    max_attempts: int


@dataclass(frozen=True, slots=True)
class CardTesting:
    """From one source (``dimension``) within ``window``: more than ``max_distinct_cards``
    cards, or at least ``max_declines`` declined charges (``None``: not counted); with
    ``small_amount_minor``, only charges of at most that amount (in the attempt's currency)
    and attaches count."""

    dimension: RiskDimension
    window: timedelta
    max_distinct_cards: int | None
    max_declines: int | None
    small_amount_minor: int | None = None


@dataclass(frozen=True, slots=True)
class CountryMismatch:
    """The card's issuing country (from its BIN, as the PSP reports it) is not the
    customer's country (both known)."""


@dataclass(frozen=True, slots=True)
class AmountAboveUsual:
    """The charge is more than ``factor`` times the mean of the customer's succeeded
    payments in its currency, once it has at least ``minimum_payments`` of them."""

    factor: int
    minimum_payments: int


@dataclass(frozen=True, slots=True)
class AmountAbove:
    """The charge is above ``amount_minor`` of ``currency``."""

    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class OnList:
    """A value of the attempt (its email, card fingerprint, IP address, device id, card or
    customer country) is on the block or the allow list."""

    list: RiskListKind


Condition = Velocity | CardTesting | CountryMismatch | AmountAboveUsual | AmountAbove | OnList


@dataclass(frozen=True, slots=True)
class Rule:
    key: str  # the rule's id, for the reason
    name: str
    condition: Condition
    action: RiskAction
    score: int
    position: int


# --- facts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """What was seen from one source within one window, this attempt included."""

    attempts: int = 0
    distinct_cards: int = 0
    declines: int = 0


@dataclass(frozen=True, slots=True)
class Facts:
    """What the services found about one attempt."""

    kind: AttemptKind
    amount_minor: int | None  # charges
    currency: str | None
    card_country: str | None
    customer_country: str | None
    # (CardTesting or Velocity condition) -> the window's counts for the attempt's value;
    # absent: the attempt has no value for the dimension (no device id sent).
    windows: dict[Condition, Window] = field(default_factory=dict)
    usual: tuple[int, int] | None = None  # (succeeded payments, their mean) in the currency
    listed: frozenset[RiskListKind] = frozenset()


# --- the decision --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reason:
    rule_key: str
    rule_name: str
    action: RiskAction
    detail: str


@dataclass(frozen=True, slots=True)
class Assessment:
    action: RiskAction
    score: int
    level: RiskLevel
    reasons: tuple[Reason, ...]


PRECEDENCE = (RiskAction.ALLOW, RiskAction.BLOCK, RiskAction.REVIEW)


def level_of(score: int) -> RiskLevel:
    if score >= 75:
        return RiskLevel.HIGHEST
    if score >= 65:
        return RiskLevel.ELEVATED
    return RiskLevel.NORMAL


def ordered(rules: list[Rule]) -> list[Rule]:
    """The order rules are evaluated in: allow, block, review; each by position."""
    return sorted(rules, key=lambda r: (PRECEDENCE.index(r.action), r.position, r.key))


def judge(rules: list[Rule], facts: Facts) -> Assessment:
    reasons: list[Reason] = []
    for rule in ordered(rules):
        detail = matches(rule.condition, facts)
        if detail is not None:
            reasons.append(Reason(rule.key, rule.name, rule.action, detail))
    score = min(100, sum(r.score for r in rules if any(x.rule_key == r.key for x in reasons)))
    taken = {reason.action for reason in reasons}
    action = next((a for a in PRECEDENCE if a in taken), RiskAction.ALLOW)
    return Assessment(action, score, level_of(score), tuple(reasons))


def matches(condition: Condition, facts: Facts) -> str | None:
    """Why ``condition`` holds for ``facts`` (a sentence for the reason), or None."""
    match condition:
        case Velocity():
            seen = facts.windows.get(condition)
            if seen is None or seen.attempts <= condition.max_attempts:
                return None
            return (
                f"{seen.attempts} attempts from one {_name(condition.dimension)} in "
                f"{_span(condition.window)} (more than {condition.max_attempts})"
            )
        case CardTesting():
            seen = facts.windows.get(condition)
            if seen is None:
                return None
            if (
                condition.max_distinct_cards is not None
                and seen.distinct_cards > condition.max_distinct_cards
            ):
                return (
                    f"{seen.distinct_cards} cards from one {_name(condition.dimension)} in "
                    f"{_span(condition.window)} (more than {condition.max_distinct_cards})"
                )
            if condition.max_declines is not None and seen.declines >= condition.max_declines:
                return (
                    f"{seen.declines} declined charges from one {_name(condition.dimension)} "
                    f"in {_span(condition.window)}"
                )
            return None
        case CountryMismatch():
            card, customer = facts.card_country, facts.customer_country
            if card is None or customer is None or card == customer:
                return None
            return f"card issued in {card}, customer in {customer}"
        case AmountAboveUsual():
            if facts.amount_minor is None or facts.usual is None:
                return None
            count, mean = facts.usual
            if count < condition.minimum_payments or facts.amount_minor <= condition.factor * mean:
                return None
            return f"amount above {condition.factor} times the customer's usual"
        case AmountAbove():
            if (
                facts.amount_minor is None
                or facts.currency != condition.currency
                or facts.amount_minor <= condition.amount_minor
            ):
                return None
            return "amount above the rule's limit"
        case OnList():
            if condition.list not in facts.listed:
                return None
            return f"on the {condition.list.value.lower()} list"
    return None  # pragma: no cover - every condition is matched above


def _name(dimension: RiskDimension) -> str:
    return {
        RiskDimension.CARD_FINGERPRINT: "card",
        RiskDimension.CUSTOMER: "customer",
        RiskDimension.IP_ADDRESS: "IP address",
        RiskDimension.DEVICE_ID: "device",
        RiskDimension.EMAIL: "email address",
        RiskDimension.COUNTRY: "country",
    }[dimension]


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds} seconds"


# --- conditions as stored data -------------------------------------------------------------


def to_document(condition: Condition) -> dict[str, object]:
    """The JSON stored in ``risk_rules.condition``."""
    match condition:
        case Velocity():
            return {
                "type": "velocity",
                "dimension": condition.dimension.value,
                "window_seconds": int(condition.window.total_seconds()),
                "max_attempts": condition.max_attempts,
            }
        case CardTesting():
            return {
                "type": "card_testing",
                "dimension": condition.dimension.value,
                "window_seconds": int(condition.window.total_seconds()),
                "max_distinct_cards": condition.max_distinct_cards,
                "max_declines": condition.max_declines,
                "small_amount_minor": condition.small_amount_minor,
            }
        case CountryMismatch():
            return {"type": "country_mismatch"}
        case AmountAboveUsual():
            return {
                "type": "amount_above_usual",
                "factor": condition.factor,
                "minimum_payments": condition.minimum_payments,
            }
        case AmountAbove():
            return {
                "type": "amount_above",
                "amount_minor": condition.amount_minor,
                "currency": condition.currency,
            }
        case OnList():
            return {"type": "on_list", "list": condition.list.value}
    raise TypeError(condition)  # pragma: no cover


def from_document(document: dict[str, object]) -> Condition:
    kind = document["type"]

    def number(name: str) -> int:
        value = document[name]
        assert isinstance(value, int)
        return value

    def optional(name: str) -> int | None:
        value = document.get(name)
        assert value is None or isinstance(value, int)
        return value

    if kind == "velocity":
        return Velocity(
            RiskDimension(document["dimension"]),
            timedelta(seconds=number("window_seconds")),
            number("max_attempts"),
        )
    if kind == "card_testing":
        return CardTesting(
            RiskDimension(document["dimension"]),
            timedelta(seconds=number("window_seconds")),
            optional("max_distinct_cards"),
            optional("max_declines"),
            optional("small_amount_minor"),
        )
    if kind == "country_mismatch":
        return CountryMismatch()
    if kind == "amount_above_usual":
        return AmountAboveUsual(number("factor"), number("minimum_payments"))
    if kind == "amount_above":
        return AmountAbove(number("amount_minor"), str(document["currency"]))
    if kind == "on_list":
        return OnList(RiskListKind(document["list"]))
    raise ValueError(f"unknown condition {kind!r}")


# --- the recommended rules -----------------------------------------------------------------

# (name, condition, action, score): what ``installDefaultRiskRules`` adds. Thresholds in the
# spirit of Radar's defaults and of the card-testing guidance of Stripe's "Card testing"
# page (many cards, small amounts and declines from one source in a short time).
DEFAULT_RULES: tuple[tuple[str, Condition, RiskAction, int], ...] = (
    ("Allow listed", OnList(RiskListKind.ALLOW), RiskAction.ALLOW, 0),
    ("Block listed", OnList(RiskListKind.BLOCK), RiskAction.BLOCK, 100),
    (
        "Card testing from one IP address",
        CardTesting(RiskDimension.IP_ADDRESS, timedelta(hours=1), 3, 3),
        RiskAction.BLOCK,
        90,
    ),
    (
        "Card testing from one device",
        CardTesting(RiskDimension.DEVICE_ID, timedelta(hours=1), 3, 3),
        RiskAction.BLOCK,
        90,
    ),
    (
        "Card testing by one customer",
        CardTesting(RiskDimension.CUSTOMER, timedelta(days=1), 4, 4),
        RiskAction.BLOCK,
        90,
    ),
    (
        "Attempts from one IP address",
        Velocity(RiskDimension.IP_ADDRESS, timedelta(hours=1), 20),
        RiskAction.BLOCK,
        80,
    ),
    (
        "Attempts with one card",
        Velocity(RiskDimension.CARD_FINGERPRINT, timedelta(hours=1), 10),
        RiskAction.REVIEW,
        40,
    ),
    ("Card and customer countries differ", CountryMismatch(), RiskAction.REVIEW, 30),
    (
        "Amount far above the customer's usual",
        AmountAboveUsual(factor=5, minimum_payments=3),
        RiskAction.REVIEW,
        35,
    ),
)
