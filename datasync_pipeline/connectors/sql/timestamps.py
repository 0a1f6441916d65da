"""UTC handling for the ``updated_at`` column, whatever the database stores.

Watermarks are aware UTC datetimes. Postgres ``timestamptz`` compares them natively; naive columns
(Postgres ``timestamp``, MySQL ``DATETIME``, SQLite) are taken to hold UTC, so values are bound as
naive UTC. SQLite has no timestamp type at all: it keeps text, and text written by different tools
differs in shape (``10:00:00`` vs ``10:00:00.000000`` vs ``10:00:00Z``), which breaks text comparison
exactly at the watermark. There the database filters coarsely with ``julianday()`` and pandas
filters exactly after parsing, so a row whose timestamp equals the watermark is never lost.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

# julianday() is a double with ~0.1 ms resolution: widen the database-side filter by one second and
# let the exact comparison happen in pandas.
_SQLITE_TOLERANCE_DAYS = 1 / 86_400


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; naive values are taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_column_value(value: datetime, column: sa.Column, dialect: sa.Dialect) -> datetime:
    """``value`` shaped for binding to ``column``: aware UTC for tz-aware columns, else naive UTC."""
    value = as_utc(value)
    if dialect.name != "sqlite" and getattr(column.type, "timezone", False):
        return value
    return value.replace(tzinfo=None)


def database_now(column: sa.Column, dialect: sa.Dialect) -> sa.ColumnElement:
    """The database's current time, in UTC, shaped for ``column`` (see ``to_column_value``)."""
    timezone_aware = getattr(column.type, "timezone", False)
    if dialect.name == "sqlite":
        # Same text shape SQLAlchemy writes and create_app_table's default uses.
        return sa.func.strftime("%Y-%m-%d %H:%M:%f000", "now")
    if dialect.name == "postgresql":
        return sa.func.now() if timezone_aware else sa.func.timezone("UTC", sa.func.now())
    if dialect.name in ("mysql", "mariadb"):
        return sa.func.utc_timestamp(6)
    return sa.literal(to_column_value(utc_now(), column, dialect), column.type)


def select_expression(column: sa.Column, dialect: sa.Dialect) -> sa.ColumnElement:
    """How to select ``column`` so that ``parse_utc`` can read it (raw text on SQLite)."""
    if dialect.name == "sqlite":
        return sa.type_coerce(column, sa.String).label(column.name)
    return column


def order_expression(column: sa.Column, dialect: sa.Dialect) -> sa.ColumnElement:
    """Chronological order of ``column`` even where it is text of mixed shapes."""
    return sa.func.julianday(column) if dialect.name == "sqlite" else column


def at_or_after(column: sa.Column, watermark: datetime, dialect: sa.Dialect) -> sa.ColumnElement[bool]:
    """A WHERE clause keeping rows with ``column >= watermark`` (on SQLite: a superset, see module doc)."""
    if dialect.name == "sqlite":
        bound = sa.literal(to_column_value(watermark, column, dialect).isoformat(sep=" "), sa.String)
        return sa.func.julianday(column) >= sa.func.julianday(bound) - _SQLITE_TOLERANCE_DAYS
    return column >= sa.literal(to_column_value(watermark, column, dialect), column.type)


def near_maximum(column: sa.Column, dialect: sa.Dialect) -> sa.ColumnElement[bool]:
    """On SQLite, rows within the tolerance of the latest timestamp (candidates for the maximum)."""
    latest = sa.select(sa.func.max(sa.func.julianday(column))).scalar_subquery()
    return sa.func.julianday(column) >= latest - _SQLITE_TOLERANCE_DAYS


def parse_utc(values: pd.Series) -> pd.Series:
    """Parse datetimes or ISO-8601 text into ``datetime64[ns, UTC]``; naive values are UTC."""
    if values.empty:
        return pd.Series(pd.to_datetime([], utc=True), index=values.index, name=values.name)
    if values.map(lambda value: isinstance(value, str)).any():
        return pd.to_datetime(values, utc=True, format="ISO8601")
    return pd.to_datetime(values, utc=True)


def watermark_timestamp(watermark: datetime) -> pd.Timestamp:
    return pd.Timestamp(as_utc(watermark))


