"""Validation of common inputs. Each check adds a :class:`Problem`; nothing raises midway."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email

from app.domain.billing import BASIS_POINTS
from app.domain.currencies import get_currency
from app.domain.errors import ErrorCode, Problems
from app.domain.pan import contains_card_number

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
# Region codes CLDR knows that are not countries.
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ"})


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE = "Text must not contain NUL characters or unpaired surrogates."


def storable(value: str) -> bool:
    """Whether PostgreSQL can store ``value``: its text types refuse NUL (U+0000), and
    UTF-8 cannot encode a lone surrogate (JSON input may escape one, "\\ud800")."""
    return _UNSTORABLE.search(value) is None


def text(
    problems: Problems,
    value: str | None,
    *field: str,
    max_length: int,
    required: bool = False,
) -> str | None:
    """A trimmed free-text value, or ``None``. Blank required text, overlong text and
    anything that looks like a card number are problems."""
    if value is None:
        if required:
            problems.add(ErrorCode.REQUIRED, "This field is required.", *field)
        return None
    cleaned = value.strip()
    if not cleaned:
        if required:
            problems.add(ErrorCode.BLANK, "This field must not be blank.", *field)
        return None
    if len(cleaned) > max_length:
        problems.add(ErrorCode.TOO_LONG, f"At most {max_length} characters are allowed.", *field)
        return None
    if not storable(cleaned):
        problems.add(ErrorCode.INVALID, UNSTORABLE, *field)
        return None
    if contains_card_number(cleaned):
        problems.add(ErrorCode.CARD_DATA_NOT_ALLOWED, NO_CARD_DATA, *field)
        return None
    return cleaned


NO_CARD_DATA = (
    "This looks like a card number. paygate never accepts card data: "
    "collect cards with your PSP's hosted fields and pass the token instead."
)


def email(problems: Problems, value: str | None, *field: str) -> str | None:
    """A syntactically valid email address (no DNS lookup), normalised."""
    if value is None:
        return None
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        problems.add(ErrorCode.INVALID_EMAIL, f"Not a valid email address: {error}", *field)
        return None
    if len(checked.normalized) > 254:
        problems.add(ErrorCode.TOO_LONG, "An email address has at most 254 characters.", *field)
        return None
    return str(checked.normalized)


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    territories: Iterable[str] = Locale.parse("en").territories.keys()
    return frozenset(c for c in territories if len(c) == 2 and c.isalpha()) - _NOT_COUNTRIES


def country(problems: Problems, value: str | None, *field: str) -> str | None:
    """An ISO 3166-1 alpha-2 country code such as ``"DE"``."""
    if value is None:
        return None
    code = value.strip().upper()
    if code not in _countries():
        problems.add(
            ErrorCode.INVALID_COUNTRY,
            f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. US, DE, JP).",
            *field,
        )
        return None
    return code


def locale(problems: Problems, value: str | None, *field: str) -> str | None:
    """A BCP 47 language tag that CLDR knows, normalised (``"en-US"``, ``"pt-BR"``)."""
    if value is None:
        return None
    try:
        parsed = Locale.parse(value.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        problems.add(
            ErrorCode.INVALID_LOCALE,
            f"{value!r} is not a known locale (use a BCP 47 tag such as en-US or de).",
            *field,
        )
        return None
    return "-".join(part for part in (parsed.language, parsed.script, parsed.territory) if part)


def metadata(problems: Problems, value: object, *field: str) -> dict[str, str] | None:
    """Free-form key-value data: a JSON object of string values, Stripe's limits."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.add(ErrorCode.INVALID_METADATA, "Metadata must be a JSON object.", *field)
        return None
    if len(value) > MAX_METADATA_KEYS:
        problems.add(
            ErrorCode.INVALID_METADATA, f"At most {MAX_METADATA_KEYS} keys are allowed.", *field
        )
        return None
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY:
            problems.add(
                ErrorCode.INVALID_METADATA,
                f"Metadata keys are strings of 1 to {MAX_METADATA_KEY} characters.",
                *field,
            )
            return None
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            problems.add(
                ErrorCode.INVALID_METADATA,
                f"Metadata value of {key!r} must be a string of at most "
                f"{MAX_METADATA_VALUE} characters.",
                *field,
            )
            return None
        if not storable(key) or not storable(item):
            problems.add(ErrorCode.INVALID_METADATA, UNSTORABLE, *field)
            return None
        if contains_card_number(key) or contains_card_number(item):
            problems.add(ErrorCode.CARD_DATA_NOT_ALLOWED, NO_CARD_DATA, *field)
            return None
        result[key] = item
    return result


def merged_metadata(
    problems: Problems, current: Mapping[str, str], update: object, *field: str
) -> dict[str, str]:
    """Stripe's update semantics: keys merge one by one, a key set to ``""`` is removed,
    and ``None`` removes every key."""
    if update is None:
        return {}
    checked = metadata(problems, update, *field) or {}
    merged = {**current, **checked}
    merged = {key: value for key, value in merged.items() if value != ""}
    if len(merged) > MAX_METADATA_KEYS:
        problems.add(
            ErrorCode.INVALID_METADATA, f"At most {MAX_METADATA_KEYS} keys are allowed.", *field
        )
    return merged


def currency(problems: Problems, value: str, *field: str) -> str | None:
    """An active ISO 4217 code, upper case, as the ``CurrencyCode`` scalar promises."""
    if get_currency(value) is None:
        problems.add(
            ErrorCode.UNKNOWN_CURRENCY,
            f"{value[:20]!r} is not an active ISO 4217 currency code (e.g. USD, EUR, JPY).",
            *field,
        )
        return None
    return value


def moment(problems: Problems, value: datetime | None, *field: str) -> datetime | None:
    """A point in time: with its UTC offset (a time without one names no instant), and
    within years 1 to 9999 once in UTC (``0001-01-01T00:00:00+14:00`` is not), which is
    what can be stored and compared."""
    if value is None:
        return None
    if value.utcoffset() is None:
        problems.add(
            ErrorCode.INVALID,
            "Give a time with its UTC offset, such as 2026-01-15T12:00:00Z.",
            *field,
        )
        return None
    try:
        value.astimezone(UTC)
    except OverflowError:
        problems.add(ErrorCode.INVALID, "The time must fall within years 1 to 9999 in UTC.", *field)
        return None
    return value


def url(problems: Problems, value: str | None, *field: str) -> str | None:
    """An absolute http(s) URL of at most 2048 characters (return and cancel URLs)."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://[": an unclosed IPv6 address
        parts = urlsplit("")
    if (
        len(value) > 2048
        or parts.scheme not in ("https", "http")
        or not parts.netloc
        or not storable(value)
    ):
        problems.add(ErrorCode.INVALID_URL, "Expected an absolute http(s) URL.", *field)
        return None
    return value


_FEATURE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")
MAX_FEATURES = 50


def features(problems: Problems, value: list[str] | None, *field: str) -> list[str] | None:
    """Feature keys such as ``exports`` or ``seats:5``: lower case, at most 50, no repeats."""
    if value is None:
        return None
    if len(value) > MAX_FEATURES or not all(_FEATURE.fullmatch(key) for key in value):
        problems.add(
            ErrorCode.INVALID,
            f"Up to {MAX_FEATURES} feature keys of 1 to 64 lower-case letters, digits, "
            "'_', '.', ':' or '-'.",
            *field,
        )
        return None
    return sorted(set(value))


_PERCENT = re.compile(r"([0-9]{1,3})(?:\.([0-9]{1,2}))?")


def basis_points(problems: Problems, value: str, *field: str, allow_zero: bool) -> int | None:
    """``"19"`` or ``"12.5"`` percent as basis points; at most two decimals, 0-100 %."""
    match = _PERCENT.fullmatch(value.strip())
    if match is None:
        problems.add(ErrorCode.INVALID, 'A percentage such as "19" or "12.5".', *field)
        return None
    points = int(match.group(1)) * 100 + int((match.group(2) or "").ljust(2, "0"))
    if not (0 if allow_zero else 1) <= points <= BASIS_POINTS:
        problems.add(ErrorCode.INVALID, "A percentage between 0 and 100.", *field)
        return None
    return points
