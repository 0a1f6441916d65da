"""Turning values that arrive as text (HubSpot sends every property as a string) into the column's type.

A date property (``2024-05-01``, ``2024-05-01T10:00:00.000Z`` or epoch milliseconds) bound for a
DATE or TIMESTAMP column, a number for an INTEGER or NUMERIC column, a boolean for a BOOLEAN one.
A value that does not convert is the record's problem, reported with the column, never a crash.
"""

from __future__ import annotations

import decimal

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
        return _timestamp(text, column.name).to_pydatetime()
    if isinstance(column_type, sa.Date):
        return _timestamp(text, column.name).date()
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


def _timestamp(text: str, name: str) -> pd.Timestamp:
    try:
        if text.isdigit() and len(text) >= 10:
            return pd.Timestamp(int(text), unit="ms", tz="UTC")
        stamp = pd.Timestamp(text)
    except (ValueError, OverflowError):
        raise ValueError(f"column {name!r} holds dates, not {text!r}") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")



