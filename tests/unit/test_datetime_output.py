"""``DateTime`` output: exactly ``isoformat()``, whatever the value (the UTC ones are written
by orjson, the others by ``isoformat`` itself)."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from app.graphql.schema import schema
from app.schema.scalars import serialize_datetime

OFFSETS = st.sampled_from(
    [
        UTC,
        timezone(timedelta(0)),
        timezone(timedelta(hours=5, minutes=45)),
        timezone(timedelta(hours=-3, minutes=-30, seconds=-15)),
        timezone(timedelta(hours=1), "CET"),
        None,
    ]
)


@given(st.datetimes(), OFFSETS)
def test_the_same_text_as_isoformat(moment: datetime, offset: timezone | None) -> None:
    value = moment.replace(tzinfo=offset)
    assert serialize_datetime(value) == value.isoformat()


def test_the_edges_of_the_range_and_of_the_microseconds() -> None:
    for value in (
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2026, 11, 21, 12, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 21, 12, 0, 0, 100_000, tzinfo=UTC),
    ):
        assert serialize_datetime(value) == value.isoformat()


def test_the_schema_serialises_datetimes_with_it() -> None:
    scalar = schema._schema.type_map["DateTime"]
    value = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert scalar.coerce_output_value(value) == "2026-01-02T03:04:05.000006+00:00"
    assert scalar.description == "Date with time (isoformat)"
