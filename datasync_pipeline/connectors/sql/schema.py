"""Reflect the configured app table and check that every configured name exists.

Names come from the user's config, so they are never spliced into SQL: the table is reflected and
statements are built from the reflected ``Column`` objects, which SQLAlchemy quotes (spaces, quotes,
upper case and dashes all work). A missing table or column fails fast with a message that names
the near matches among what does exist (never the whole schema, which may hold hundreds of tables),
so the user can fix the typo without opening a database client; ``datasync check`` reports the same.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from datasync_pipeline.connectors.sql.spec import SqlTableSpec
from datasync_pipeline.errors import DatasyncError


class SqlSchemaError(DatasyncError):
    """The configured table or one of its columns does not exist in the app database."""


@dataclass(frozen=True)
class AppTable:
    """The reflected table with the spec's roles resolved to real columns."""

    spec: SqlTableSpec
    table: sa.Table

    @property
    def name(self) -> str:
        return self.spec.qualified_name

    @property
    def key(self) -> sa.Column:
        return self.table.c[self.spec.key_column]

    @property
    def updated_at(self) -> sa.Column | None:
        return self.column_or_none(self.spec.updated_at_column)

    @property
    def external_id(self) -> sa.Column | None:
        return self.column_or_none(self.spec.external_id_column)

    @property
    def soft_delete(self) -> sa.Column | None:
        return self.column_or_none(self.spec.soft_delete_column)

    def column_or_none(self, name: str | None) -> sa.Column | None:
        return self.table.c[name] if name else None

    def read_columns(self) -> list[sa.Column]:
        return [self.table.c[name] for name in self.spec.read_columns]

    def has_column(self, name: str) -> bool:
        return name in self.table.c

    def live_condition(self) -> sa.ColumnElement[bool]:
        """The WHERE clause that keeps rows not soft-deleted (always true without the column)."""
        column = self.soft_delete
        if column is None:
            return sa.true()
        if isinstance(column.type, sa.Boolean):
            return sa.or_(column.is_(None), column == sa.false())
        if isinstance(column.type, sa.Integer):
            # MySQL reflects BOOLEAN as TINYINT(1): a non-zero flag means deleted.
            return sa.or_(column.is_(None), column == 0)
        return column.is_(None)

    def coerce_key(self, key: object) -> object:
        """Turn a key given as a string back into the key column's Python type.

        Raises ``ValueError`` when the string cannot be such a key (e.g. ``"abc"`` for an integer key),
        which callers treat as "no such row".
        """
        try:
            python_type = self.key.type.python_type
        except NotImplementedError:
            return key
        if isinstance(key, python_type):
            return key
        if python_type is int:
            return int(str(key))
        if python_type is uuid.UUID:
            return uuid.UUID(str(key))
        return python_type(key) if python_type is str else key


def reflect_app_table(engine: sa.Engine, spec: SqlTableSpec) -> AppTable:
    """Reflect ``spec.table`` and check that the key, the mapped and the role columns exist."""
    problem = missing_table(engine, spec)
    if problem:
        raise SqlSchemaError(problem)
    table = sa.Table(spec.table, sa.MetaData(), schema=spec.schema, autoload_with=engine)
    if _is_serial(table, spec.key_column):
        table = _with_autoincrement_key(engine, table, spec)
    missing = missing_columns(table, spec.all_columns)
    if missing:
        raise SqlSchemaError(f"table {spec.qualified_name!r}: {'; '.join(missing.values())}")
    return AppTable(spec=spec, table=table)


def missing_table(engine: sa.Engine, spec: SqlTableSpec) -> str | None:
    """Why ``spec.table`` cannot be used (it does not exist, with its near matches), or None when it exists."""
    inspector = sa.inspect(engine)
    if inspector.has_table(spec.table, schema=spec.schema):
        return None
    existing = inspector.get_table_names(schema=spec.schema)
    where = f"schema {spec.schema!r} of the app database" if spec.schema else "the app database"
    return f"table {spec.qualified_name!r} does not exist in {where}{_suggestion(spec.table, existing, 'tables')}"


def missing_columns(table: sa.Table, names: Iterable[str]) -> dict[str, str]:
    """``{name: why}`` for each of ``names`` the table lacks, with its near matches among the table's columns."""
    existing = [column.name for column in table.columns]
    return {
        name: f"column {name!r} does not exist{_suggestion(name, existing, 'columns')}"
        for name in dict.fromkeys(names) if name not in table.c
    }


def near_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``candidates`` that look like ``name`` (a typo, another case), best first."""
    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=n)
    same_but_case = [c for c in candidates if c.lower() == name.lower() and c not in close]
    return (same_but_case + close)[:n]


def _is_serial(table: sa.Table, key_name: str) -> bool:
    """A Postgres ``serial`` key: an integer primary key whose default is ``nextval(...)``."""
    column = table.c.get(key_name)
    if column is None or list(table.primary_key.columns) != [column] or not isinstance(column.type, sa.Integer):
        return False
    default = getattr(column.server_default, "arg", None)
    return "nextval(" in str(getattr(default, "text", ""))


def _with_autoincrement_key(engine: sa.Engine, table: sa.Table, spec: SqlTableSpec) -> sa.Table:
    """The table reflected again with its serial key declared as a plain autoincrement key.

    Reflected, the key's default is an opaque server expression, so SQLAlchemy cannot trust the
    order of generated keys and falls back to one INSERT per row to match keys to rows. Declared
    autoincrement (which a serial is), bulk INSERT ... RETURNING stays batched and ordered.
    """
    key = table.c[spec.key_column]
    declared = sa.Column(key.name, key.type, primary_key=True, autoincrement=True)
    return sa.Table(spec.table, sa.MetaData(), declared, schema=spec.schema, autoload_with=engine)


def _suggestion(name: str, candidates: Iterable[str], kind: str) -> str:
    candidates = list(candidates)
    close = near_matches(name, candidates)
    if close:
        return f" (did you mean {' or '.join(repr(c) for c in close)}?)"
    return f" (none of its {len(candidates)} {kind} has a similar name)" if candidates else f" (it has no {kind})"
