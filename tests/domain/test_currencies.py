"""Tests for the ISO 4217 currency table."""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType
from typing import Any

import pytest

from app.domain.currencies import CURRENCIES, Currency, get_currency


@pytest.mark.parametrize(
    ("code", "minor_units", "numeric"),
    [
        ("USD", 2, "840"),
        ("EUR", 2, "978"),
        ("JPY", 0, "392"),
        ("KRW", 0, "410"),
        ("KWD", 3, "414"),
        ("BHD", 3, "048"),
        ("JOD", 3, "400"),
        ("OMR", 3, "512"),
        ("TND", 3, "788"),
        ("LYD", 3, "434"),
        ("IQD", 3, "368"),
        ("CLF", 4, "990"),
        ("UYW", 4, "927"),
        ("CLP", 0, "152"),
        ("ISK", 0, "352"),
        ("VND", 0, "704"),
        ("XOF", 0, "952"),
        ("XAF", 0, "950"),
        ("UGX", 0, "800"),
        ("PYG", 0, "600"),
        # Recent additions.
        ("SLE", 2, "925"),
        ("VED", 2, "926"),
        ("ZWG", 2, "924"),
        ("XCG", 2, "532"),
    ],
)
def test_reference_values(code: str, minor_units: int, numeric: str) -> None:
    currency = CURRENCIES[code]
    assert currency.code == code
    assert currency.minor_units == minor_units
    assert currency.numeric == numeric


def test_usd_record() -> None:
    assert get_currency("USD") == Currency(
        code="USD", numeric="840", minor_units=2, name="US Dollar"
    )


@pytest.mark.parametrize(
    "code",
    [
        "HRK",  # Croatia adopted the euro (2023)
        "ZWL",  # replaced by ZWG (2024)
        "VEF",  # replaced by VES (2018)
        "LTL",  # Lithuania adopted the euro (2015)
        "ANG",  # replaced by XCG (2025)
        "CUC",  # Cuban monetary unification
        "SLL",  # redenominated to SLE
        "BGN",  # Bulgaria adopted the euro (2026)
    ],
)
def test_withdrawn_codes_absent(code: str) -> None:
    assert code not in CURRENCIES
    assert get_currency(code) is None


@pytest.mark.parametrize(
    "code",
    ["XAU", "XAG", "XPD", "XPT", "XDR", "XBA", "XBB", "XBC", "XBD", "XTS", "XXX", "XSU", "XUA"],
)
def test_codes_without_minor_units_absent(code: str) -> None:
    assert code not in CURRENCIES
    assert get_currency(code) is None


def test_codes_are_three_uppercase_ascii_letters() -> None:
    pattern = re.compile(r"[A-Z]{3}", re.ASCII)
    for key, currency in CURRENCIES.items():
        assert pattern.fullmatch(key), key
        assert currency.code == key


def test_numeric_codes_are_three_digits_and_unique() -> None:
    pattern = re.compile(r"[0-9]{3}", re.ASCII)
    numerics = [currency.numeric for currency in CURRENCIES.values()]
    for numeric in numerics:
        assert pattern.fullmatch(numeric), numeric
    assert len(set(numerics)) == len(numerics)


def test_minor_units_are_valid() -> None:
    for currency in CURRENCIES.values():
        assert currency.minor_units in {0, 2, 3, 4}, currency


def test_names_are_present() -> None:
    for currency in CURRENCIES.values():
        assert currency.name
        assert currency.name == currency.name.strip()


def test_mapping_is_sorted_by_code() -> None:
    codes = list(CURRENCIES)
    assert codes == sorted(codes)


def test_mapping_is_read_only() -> None:
    assert isinstance(CURRENCIES, MappingProxyType)
    mutable: Any = CURRENCIES
    with pytest.raises(TypeError):
        mutable["ABC"] = Currency(code="ABC", numeric="001", minor_units=2, name="Fake")
    with pytest.raises(TypeError):
        del mutable["USD"]
    assert "ABC" not in CURRENCIES
    assert "USD" in CURRENCIES


def test_currency_is_immutable() -> None:
    currency = CURRENCIES["EUR"]
    mutable: Any = currency
    with pytest.raises(dataclasses.FrozenInstanceError):
        mutable.minor_units = 3
    assert currency.minor_units == 2


def test_get_currency_exact_match() -> None:
    assert get_currency("EUR") is CURRENCIES["EUR"]


@pytest.mark.parametrize("code", ["usd", "Usd", "uSD", " USD", "USD ", "", "US", "USDX"])
def test_get_currency_is_case_sensitive_and_exact(code: str) -> None:
    assert get_currency(code) is None
