"""Money in GraphQL: exact decimal strings, never floats."""

from typing import Annotated

import strawberry

from app.domain.money import Money as DomainMoney
from app.schema.scalars import CurrencyCode


def _amount(root: "Money") -> str:
    return root.domain().decimal_string()


@strawberry.type(description="An exact amount of money in one currency.")
class Money:
    """Made by the hundred per page (every amount of every invoice and line), and most are
    never read: the decimal string of ``amount`` (the costly one) is formatted only when
    selected; the others are plain attributes, which GraphQL reads cheapest."""

    amount: str = strawberry.field(
        resolver=_amount,
        description=(
            'Decimal string in major units with the currency\'s decimal places: "12.30" USD, '
            '"1200" JPY, "1.005" KWD. Exact: parse it with a decimal type, not a float.'
        ),
    )
    amount_minor: str = strawberry.field(
        description=(
            "Integer amount in minor units (cents, yen, fils), as a string so that 64-bit "
            "values survive JavaScript."
        )
    )
    currency: CurrencyCode = strawberry.field(description="ISO 4217 currency code.")
    _minor: strawberry.Private[int]

    @strawberry.field(description="The amount as a person reads it, e.g. `$12.30` or `12,30 €`.")
    def formatted(
        self,
        locale: Annotated[
            str, strawberry.argument(description="BCP 47 locale: symbols and separators.")
        ] = "en-US",
    ) -> str:
        return self.domain().formatted(locale)

    def domain(self) -> DomainMoney:
        return DomainMoney(self._minor, self.currency)

    @classmethod
    def of(cls, minor: int, currency: str) -> "Money":
        """From a row's minor units and currency: stored amounts, checked when they were
        written (``DomainMoney``) and again when ``amount`` or ``formatted`` is read. Made
        without the dataclass's ``__init__``: a page makes hundreds."""
        money = object.__new__(cls)
        fields = money.__dict__
        fields["amount_minor"] = str(minor)
        fields["currency"] = currency
        fields["_minor"] = minor
        return money

    @classmethod
    def from_domain(cls, money: DomainMoney) -> "Money":
        return cls.of(money.amount_minor, money.currency)


@strawberry.input(description="An amount of money. Floats are never accepted.")
class MoneyInput:
    amount: str = strawberry.field(
        description=(
            'Decimal string in major units, e.g. "12.30" for USD or "1200" for JPY. At most '
            "the currency's decimal places; no exponent, spaces or separators."
        )
    )
    currency: CurrencyCode = strawberry.field(description="ISO 4217 currency code.")


@strawberry.type(description="An ISO 4217 currency that paygate accepts.")
class Currency:
    code: CurrencyCode = strawberry.field(description="Alphabetic code, e.g. `EUR`.")
    numeric_code: str = strawberry.field(description="Numeric code, e.g. `978`.")
    decimal_places: int = strawberry.field(description="Minor units: 2 for EUR, 0 for JPY.")
    name: str = strawberry.field(description="English name.")
