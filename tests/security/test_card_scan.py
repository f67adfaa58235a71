"""The card-number scan that runs after every test (tests/card_scan.py) finds what it must,
and only that: a scan that finds nothing because it looks nowhere would pass unnoticed."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import make_url

from tests import card_scan
from tests.conftest import Api

PAN = "4000056655665556"  # Visa (debit), Luhn-valid


@pytest.mark.parametrize(
    "text",
    [
        PAN,
        f'{{"note": "card {PAN}."}}',
        "4000-0566-5566-5556",
        "5555 5555 5555 4444",
        "378282246310005",  # Amex, 15 digits
        "6011111111111117",  # Discover
        "4222222222222",  # Visa, 13 digits
        f"paid with\n{PAN}\n",
    ],
)
def test_card_numbers_are_found(text: str) -> None:
    assert card_scan.card_numbers(text)


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # Luhn fails
        "0VF52814937998046",  # a PayPal id: its digits pass Luhn, but it is not apart
        "pi_4000056655665556",
        "4000056655665556_x",
        "01890f4e-4000-0566-5566-5556e0a7b1c2",  # digit groups inside a UUID
        "4000056655665556.07",  # an amount: 40000566556655.5607 …
        "12.4000056655665556",
        "1768478400000",  # epoch milliseconds, 13 digits, Luhn-valid
        "9223372036854775807",  # the largest amount in minor units
        "8000000000000000002",  # 19 digits, Luhn-valid, not a card network
    ],
)
def test_identifiers_amounts_and_timestamps_are_not(text: str) -> None:
    assert card_scan.card_numbers(text) == []


def test_findings_are_masked() -> None:
    assert card_scan.mask("4000-0566-5566-5556") == "4000********5556"
    assert card_scan.masked(f"note: {PAN}") == "note: 4000********5556"


async def test_a_card_in_a_metadata_column_and_a_log_line_is_found(
    api: Api, database_url: str, card_scan_log: card_scan.LogScan
) -> None:
    """Planted where the API never lets one in: straight into a JSON column, and logged.
    The same scans run after every test; they are undone here so that this test passes."""
    created = await api.data('mutation { createCustomer(input: {name: "A"}) { customer { id } } }')
    assert created["createCustomer"]["customer"]["id"]
    async with api.engine.begin() as connection:
        await connection.execute(
            sa.text("UPDATE customers SET metadata = CAST(:m AS jsonb)"),
            {"m": json.dumps({"note": f"card {PAN}"})},
        )
    # A message holding a card is withheld by the app's redaction; these two are not.
    structlog.get_logger("paygate.test").info("charged", note=f"card {PAN}")
    try:
        raise ValueError(f"declined {PAN}")
    except ValueError:
        logging.getLogger("paygate.test").exception("charge failed")

    dsn = make_url(database_url).set(drivername="postgresql")
    found = await card_scan.scan_database(dsn.render_as_string(hide_password=False))
    assert found == ["public.customers.metadata: 4000********5556"]
    logged = card_scan_log.findings()
    assert len(logged) == 2
    assert all("4000********5556" in line and PAN not in line for line in logged), logged

    async with api.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE customers SET metadata = '{}'"))
    card_scan_log.lines.clear()


PLANTED = """
import logging

import sqlalchemy as sa

from tests.conftest import Api


async def test_plants_a_card(api: Api) -> None:
    await api.data('mutation { createCustomer(input: {name: "A"}) { customer { id } } }')
    async with api.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE customers SET name = :n"), {"n": NAME})
    logging.getLogger("paygate.test").error("failed", exc_info=ValueError(NAME))


NAME = "card " + " ".join(["4000", "0566", "5566", "5556"])
"""


def test_the_scan_fails_the_test_that_leaves_a_card_behind(tmp_path: Path) -> None:
    """End to end, through conftest: a test that stores and logs a card fails at teardown,
    naming the column and the log line with the number masked."""
    root = Path(__file__).resolve().parents[2]
    planted = root / "tests" / "security" / f"test_planted_{os.getpid()}.py"
    planted.write_text(PLANTED)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", str(planted), "-q", "-p", "no:cacheprovider"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        planted.unlink()
    output = run.stdout
    assert run.returncode == 1, output
    assert "1 passed, 1 error" in output, output  # the test ran; its teardown failed
    assert "CardNumbersFound: card numbers stored in the database:" in output, output
    assert "public.customers.name: 4000********5556" in output
    assert "CardNumbersFound: card numbers logged:" in output
    assert "ValueError: card 4000********5556" in output
    assert "findings: 2" in output
