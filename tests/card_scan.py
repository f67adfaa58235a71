"""No card numbers at rest: a scan of what each test leaves behind, its database and its logs.

``tests/conftest.py`` runs it after every test: the ``database_url`` fixture scans the
test's database before dropping it, and an autouse fixture scans every log record written
during the test, formatted as the app's handler writes it. A finding fails the test, with
the column or the log line and the number masked.

What counts as a card number (stricter than ``app.domain.pan``, which refuses input, so that
nothing the suite legitimately stores trips it):

* 13 to 19 digits, contiguous or in groups of 3 to 6 separated by one space or dash
  (4-4-4-4, 4-6-5), as in ``app.domain.pan``;
* standing apart: no letter, digit, ``_`` or ``-`` right before or after it, so identifiers
  do not count (UUIDs, PayPal's ``0VF52814937998046``, ``pi_…``), and not part of a decimal
  number (``92233720368547758.07``: a digit and ``.`` before, or ``.`` and a digit after).
  A ``.`` ending a sentence still leaves a number apart: ``card 4242424242424242.``;
* its digits pass the Luhn check (``app.domain.pan.luhn_valid``);
* it starts like a payment card: ISO/IEC 7812 major industry 2 to 6 (all card networks;
  13 digits: Visa's 4). Epoch milliseconds (``1768478400000``) and the 64-bit amounts the
  suite stores (``9223372036854775807`` minor units) do not.

Where: every ``text``, ``varchar``, ``char``, ``json`` and ``jsonb`` column (and arrays of
them) of every table, found in ``pg_catalog``. One statement per database (a UNION ALL, one
branch per table) returns each table's row count and its rows whose text holds a run of 13
digits or three digit groups (PostgreSQL's regular expressions: a superset of the
candidates); Python applies the rule above. The statement also returns a fingerprint of the
database's text columns: when a test changed the schema (the job queue's tables, a
migration down), the columns are looked up again and the scan is repeated.

Logs: see :class:`LogScan`.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

from app.domain.pan import luhn_valid

_EDGE_BEFORE = r"(?<![0-9A-Za-z_-])(?<![0-9]\.)"
_EDGE_AFTER = r"(?![0-9A-Za-z_-])(?!\.[0-9])"
_CANDIDATE = re.compile(
    rf"{_EDGE_BEFORE}(?:[0-9]{{13,19}}|[0-9]{{3,6}}(?:[ -][0-9]{{3,6}}){{2,5}}){_EDGE_AFTER}"
)
# Values worth a closer look: a superset of the candidates (in PostgreSQL's syntax too).
PREFILTER = "[0-9]{13}|[0-9]{3,6}[ -][0-9]{3,6}[ -][0-9]{3,6}"
_PREFILTER = re.compile(PREFILTER)
_COLUMNS = """
SELECT format('%I.%I', n.nspname, c.relname), a.attname
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND (t.typname IN ('text', 'varchar', 'bpchar', 'json', 'jsonb')
       OR e.typname IN ('text', 'varchar', 'bpchar', 'json', 'jsonb'))
ORDER BY 1, 2
"""


class CardNumbersFound(AssertionError):
    """Raised at teardown: a test left card numbers in its database or its logs. (An
    ``Exception``, not ``pytest.fail``'s ``BaseException``, so that it also leaves the
    teardown of an async fixture intact.)"""


def card_numbers(text: str) -> list[str]:
    """The card numbers in ``text`` (see the module for the rule)."""
    found = []
    for match in _CANDIDATE.finditer(text):
        digits = match.group().replace(" ", "").replace("-", "")
        if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
            continue
        if digits[0] in "23456" and (len(digits) > 13 or digits[0] == "4"):
            found.append(match.group())
    return found


def mask(number: str) -> str:
    digits = number.replace(" ", "").replace("-", "")
    return f"{digits[:4]}{'*' * (len(digits) - 8)}{digits[-4:]}"


def masked(text: str) -> str:
    for number in card_numbers(text):
        text = text.replace(number, mask(number))
    return text


@dataclass
class Stats:
    """What the scans of a run looked at, for the summary line."""

    databases: int = 0
    tables: int = 0
    columns: int = 0
    rows: int = 0
    values: int = 0  # values that passed the prefilter and were checked in Python
    database_seconds: float = 0.0
    tests: int = 0
    log_records: int = 0
    log_seconds: float = 0.0
    findings: int = 0

    def summary(self) -> str:
        per_test = 1000 * (self.database_seconds + self.log_seconds) / max(self.tests, 1)
        return (
            f"card-number scan: {self.tests} tests, {self.databases} databases "
            f"({self.tables} tables, {self.columns} text/json columns, {self.rows} rows, "
            f"{self.values} values checked) in {self.database_seconds:.2f} s, "
            f"{self.log_records} log records in {self.log_seconds:.2f} s, "
            f"{per_test:.1f} ms per test; findings: {self.findings}"
        )


STATS = Stats()


@dataclass(frozen=True)
class _Statement:
    """The scan of one schema: per table, its row count and the rows whose text columns
    (joined by newlines, which no candidate spans) pass the prefilter; and first, the
    schema's fingerprint, to tell whether the statement still fits the database."""

    fingerprint: str
    columns: dict[str, list[str]]
    sql: str

    @classmethod
    def of(cls, fingerprint: str, columns: list[tuple[str, str]]) -> _Statement:
        by_table: dict[str, list[str]] = {}
        for table, column in columns:
            by_table.setdefault(table, []).append(column)
        parts = [f"SELECT NULL, ({_FINGERPRINT}), NULL"]
        for table, names in by_table.items():
            values = ", ".join('"' + name.replace('"', '""') + '"::text' for name in names)
            label = table.replace("'", "''")
            parts.append(
                f"SELECT '{label}', count(*)::text, array_agg(ARRAY[{values}]) "
                f"FILTER (WHERE concat_ws(E'\\n', {values}) ~ '{PREFILTER}') FROM {table}"
            )
        return cls(fingerprint, by_table, "\nUNION ALL\n".join(parts))


_FINGERPRINT = (
    "SELECT md5(coalesce(string_agg(t || '.' || c, ',' ORDER BY t, c), '')) "
    f"FROM ({_COLUMNS}) s(t, c)"
)
_known: dict[str, _Statement] = {}
_current: list[_Statement] = []  # the statement of the schema seen last


async def _scan(connection: asyncpg.Connection) -> tuple[_Statement, list[asyncpg.Record]]:
    """One statement in the usual case (the schema of the previous database); when the
    schema differs (a test added the job queue's tables, or migrated down), the columns are
    looked up and the scan runs again."""
    if _current:
        try:
            rows = await connection.fetch(_current[0].sql)
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError):
            rows = []
        if any(row[0] is None and row[1] == _current[0].fingerprint for row in rows):
            return _current[0], [row for row in rows if row[0] is not None]
    fingerprint = await connection.fetchval(_FINGERPRINT)
    if fingerprint not in _known:
        columns = [(row[0], row[1]) for row in await connection.fetch(_COLUMNS)]
        _known[fingerprint] = _Statement.of(fingerprint, columns)
    _current[:] = [_known[fingerprint]]
    rows = await connection.fetch(_current[0].sql)
    return _current[0], [row for row in rows if row[0] is not None]


async def scan_database(dsn: str) -> list[str]:
    """The card numbers stored in the database, as ``table.column: masked number``."""
    started = time.perf_counter()
    connection = await asyncpg.connect(dsn)
    try:
        statement, rows = await _scan(connection)
    finally:
        connection.terminate()  # the database is dropped next: no goodbye needed
    findings = []
    for table, count, hits in rows:
        STATS.rows += int(count)
        for values in hits or ():
            STATS.values += 1
            for column, value in zip(statement.columns[table], values, strict=True):
                if value is not None:
                    findings.extend(
                        f"{table}.{column}: {mask(number)}" for number in card_numbers(value)
                    )
    STATS.databases += 1
    STATS.tables += len(statement.columns)
    STATS.columns += sum(len(names) for names in statement.columns.values())
    STATS.database_seconds += time.perf_counter() - started
    return findings


def scan_sqlite(path: Path) -> list[str]:
    """The card numbers stored in a SQLite file: every text value of every table."""
    started = time.perf_counter()
    findings: list[str] = []
    connection = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            names = [column[0] for column in cursor.description]
            STATS.tables += 1
            STATS.columns += len(names)
            for row in cursor:
                STATS.rows += 1
                for column, value in zip(names, row, strict=True):
                    if isinstance(value, str) and _PREFILTER.search(value):
                        STATS.values += 1
                        findings.extend(
                            f"{table}.{column}: {mask(number)}" for number in card_numbers(value)
                        )
    finally:
        connection.close()
    STATS.databases += 1
    STATS.database_seconds += time.perf_counter() - started
    return findings


class LogScan(logging.Handler):
    """Every record logged while a test runs. A record whose message (structlog's: its
    event dict) or bound context holds something card-shaped is formatted as the app's
    handler writes it (structlog's renderer, after the app's redaction; the standard
    formatter before an app configured logging) and checked. An exception's text and a
    stack are checked as plain tracebacks: in development the renderer also prints each
    frame's local variables, which would cost a second per exception to render again."""

    _fallback = logging.Formatter("%(levelname)s %(name)s %(message)s")

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        started = time.perf_counter()
        STATS.log_records += 1
        try:
            message = record.getMessage()  # structlog's records: the event dict
        except Exception:
            message = f"{record.msg} {record.args}"
        if _PREFILTER.search(f"{message} {structlog.contextvars.get_contextvars()}"):
            self.lines.append(self._format(record))
        if record.exc_info:
            self.lines.append(self._fallback.formatException(record.exc_info))
        if record.stack_info:
            self.lines.append(record.stack_info)
        STATS.log_seconds += time.perf_counter() - started

    def _format(self, record: logging.LogRecord) -> str:
        app_handler = next(
            (h for h in logging.getLogger().handlers if getattr(h, "paygate", False)), None
        )
        formatter = app_handler.formatter if app_handler and app_handler.formatter else None
        without = {"exc_info": None, "exc_text": None, "stack_info": None}
        plain = logging.makeLogRecord({**record.__dict__, **without})
        try:
            return (formatter or self._fallback).format(plain)
        except Exception:  # a record that cannot be formatted is still scanned
            return f"{record.msg!r} {record.args!r}"

    def findings(self) -> list[str]:
        started = time.perf_counter()
        found = [_excerpt(line) for line in self.lines if card_numbers(line)]
        STATS.log_seconds += time.perf_counter() - started
        return found


def _excerpt(line: str) -> str:
    """The start of the line and the text around its first card number, masked."""
    first = card_numbers(line)[0]
    at = line.index(first)
    head = line[: min(at, 150)]
    around = line[max(at - 100, len(head)) : at + len(first) + 100]
    return masked(head + (" … " if at - 100 > len(head) else "") + around).replace("\n", " ⏎ ")
