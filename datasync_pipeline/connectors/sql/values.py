"""Turning values that arrive as text (HubSpot sends every property as a string) into the column's type.

A date property (``2024-05-01``, ``2024-05-01T10:00:00.000Z`` or epoch milliseconds) bound for a
DATE or TIMESTAMP column, a number for an INTEGER or NUMERIC column, a boolean for a BOOLEAN one,
hex text (the form the reader gives binary values) for a binary column. Dates take any year from
1 to 9999 (``0001-01-01`` and ``9999-12-31`` are valid dates): parsed as ``datetime``, not as
``pd.Timestamp``, whose nanoseconds reach only the years 1677 to 2262.
A value that does not convert is the record's problem, reported with the column, never a crash.
"""

from __future__ import annotations

import decimal
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

TRUE = {"true", "1", "yes"}
FALSE = {"false", "0", "no"}


def to_column_value(column: sa.Column, value: Any) -> Any:
    """The value as the column's Python type; raises ValueError naming what is wrong."""
    if value is None or not isinstance(value, str):
        return value
    text = value.strip()
    column_type = column.type
    if text == "":
        return None
    if isinstance(column_type, sa.DateTime):
        return _timestamp(text, column.name)
    if isinstance(column_type, sa.Date):
        return _timestamp(text, column.name).date()
    if isinstance(column_type, sa.types._Binary):
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"column {column.name!r} holds binary data (written as hex), not {value!r}") from None
    if isinstance(column_type, sa.Boolean):
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(f"column {column.name!r} holds true/false, not {value!r}")
    if isinstance(column_type, sa.Integer):
        number = decimal.Decimal(_number(text, column.name))
        if number != number.to_integral_value():
            raise ValueError(f"column {column.name!r} holds whole numbers, not {value!r}")
        return int(number)
    if isinstance(column_type, (sa.Numeric, sa.Float)):
        return decimal.Decimal(_number(text, column.name)) if isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float) else float(_number(text, column.name))
    return value


def _number(text: str, name: str) -> str:
    try:
        decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise ValueError(f"column {name!r} holds numbers, not {text!r}") from None
    return text


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_MILLISECONDS = re.compile(r"-?\d{10,15}")  # 2001-09-09 and later, before 1969-08-20, up to 9999-12-31


def _timestamp(text: str, name: str) -> datetime:
    """The instant a date text means, in UTC; a text without a zone is taken to be UTC."""
    try:
        if EPOCH_MILLISECONDS.fullmatch(text):
            return EPOCH + timedelta(milliseconds=int(text))
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, OverflowError):  # out of pd.Timestamp's years, or a form only ISO 8601 has
            moment = datetime.fromisoformat(text)
        else:
            if stamp is pd.NaT:
                raise ValueError(text)
            moment = stamp.to_pydatetime()
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"column {name!r} holds dates, not {text!r}") from None



