"""The engine's value type of an app column, from its SQLAlchemy type (mapping checks, rule 4)."""

from __future__ import annotations

import sqlalchemy as sa

from datasync_pipeline.connectors.base import FieldType
from datasync_pipeline.objects.catalogue import ValueType


def sql_value_type(column_type: sa.types.TypeEngine) -> ValueType:
    """The value type an app column holds, from its SQLAlchemy type."""
    if isinstance(column_type, sa.Boolean):
        return ValueType.BOOL
    if isinstance(column_type, (sa.Integer, sa.Numeric, sa.Float)):
        return ValueType.NUMBER
    if isinstance(column_type, sa.DateTime):
        return ValueType.DATETIME
    if isinstance(column_type, sa.Date):
        return ValueType.DATE
    return ValueType.STRING


def field_types(table: sa.Table) -> dict[str, FieldType]:
    """Every column of a reflected table as the connector interface describes fields (``value_types()``)."""
    return {column.name: FieldType(sql_value_type(column.type), str(column.type)) for column in table.columns}
