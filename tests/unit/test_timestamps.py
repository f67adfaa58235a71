"""Timestamps read back as aware UTC datetimes on both backends, whatever the session's time
zone: on asyncpg without a conversion per value (its values are in ``datetime.UTC``
already), elsewhere converted by ``UTCDateTime``."""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from app.db import make_engine
from app.models.base import UTCDateTime

MOMENT = datetime(2026, 1, 1, 7, 0, tzinfo=UTC)
# Typed as UTCDateTime: the column's result processing is the type's.
STATEMENT = sa.text("SELECT CAST(:at AS TIMESTAMP WITH TIME ZONE) AS at").columns(at=UTCDateTime())


async def test_postgresql_timestamps_are_utc_in_any_session_time_zone(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SET TIME ZONE 'Asia/Kathmandu'"))
            local = datetime(2026, 1, 1, 12, 45, tzinfo=timezone(timedelta(hours=5, minutes=45)))
            value = (await connection.execute(STATEMENT, {"at": local})).scalar_one()
    finally:
        await engine.dispose()
    assert value == MOMENT
    assert value.tzinfo is UTC


async def test_sqlite_timestamps_are_made_aware_utc(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'clock.db'}")
    try:
        async with engine.connect() as connection:
            value = (
                await connection.execute(
                    sa.text("SELECT '2026-01-01 07:00:00.000000' AS at").columns(at=UTCDateTime())
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert value == MOMENT
    assert value.tzinfo is UTC
