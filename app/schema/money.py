"""Money in GraphQL: exact decimal strings, never floats."""

from typing import Annotated

import strawberry

from app.domain.money import Money as DomainMoney
from app.schema.scalars import CurrencyCode


@strawberry.type(description="An exact amount of money in one currency.")
class Money:
    """Made by the hundred per page (every amount of every invoice and line), and most are
    never asked for: only the domain value is kept, and each field is computed from it
    when it is selected."""

    @strawberry.field(
        description=(
            'Decimal string in major units with the currency\'s decimal places: "12.30" USD, '
            '"1200" JPY, "1.005" KWD. Exact: parse it with a decimal type, not a float.'
        )
    )
    def amount(self) -> str:
        return self._money.decimal_string()

    @strawberry.field(
        description=(
            "Integer amount in minor units (cents, yen, fils), as a string so that 64-bit "
            "values survive JavaScript."
        )
    )
    def amount_minor(self) -> str:
        return str(self._money.amount_minor)

    @strawberry.field(description="ISO 4217 currency code.")
    def currency(self) -> CurrencyCode:
        return CurrencyCode(self._money.currency)

    _money: strawberry.Private[DomainMoney]

    @strawberry.field(description="The amount as a person reads it, e.g. `$12.30` or `12,30 €`.")
    def formatted(
        self,
        locale: Annotated[
            str, strawberry.argument(description="BCP 47 locale: symbols and separators.")
        ] = "en-US",
    ) -> str:
        return self._money.formatted(locale)

    @classmethod
    def of(cls, minor: int, currency: str) -> "Money":
        """From a row's minor units and currency."""
        return cls.from_domain(DomainMoney(minor, currency))

    @classmethod
    def from_domain(cls, money: DomainMoney) -> "Money":
        return cls(_money=money)


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
