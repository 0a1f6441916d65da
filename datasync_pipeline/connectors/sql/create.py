"""Create an app table shaped the way the SQL connector expects, for the demo and for tests.

Real apps bring their own tables; this builds one with the conventional roles: an autoincrement
integer key, an ``updated_at`` timestamp the database fills in, a unique nullable external id
(so idempotent creates are also enforced by the database) and an optional soft-delete column.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from datasync_pipeline.connectors.sql.spec import SqlTableSpec


def create_app_table(
    engine: sa.Engine,
    spec: SqlTableSpec,
    column_types: Mapping[str, sa.types.TypeEngine | type[sa.types.TypeEngine]] | None = None,
    *,
    required: tuple[str, ...] = (),
) -> sa.Table:
    """Create ``spec.table`` (if missing) and return it.

    ``column_types`` gives a type per mapped column and may also type the soft-delete column
    (``sa.Boolean`` for an ``is_deleted`` flag); mapped columns not typed are ``Text``, and an untyped
    soft-delete column is a timestamp (``deleted_at``: non-null means deleted). ``required`` names
    mapped columns declared NOT NULL, as real apps often do.
    """
    column_types = column_types or {}
    columns: list[sa.Column] = [sa.Column(spec.key_column, sa.Integer, primary_key=True, autoincrement=True)]
    role_names = set(spec.role_columns)
    for name in spec.columns:
        if name not in role_names:
            columns.append(sa.Column(name, column_types.get(name, sa.Text), nullable=name not in required))
    if spec.updated_at_column:
        columns.append(
            sa.Column(
                spec.updated_at_column,
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=_now_default(engine),
            )
        )
    if spec.external_id_column:
        columns.append(sa.Column(spec.external_id_column, sa.String(64), unique=True, nullable=True))
    if spec.soft_delete_column:
        soft_delete_type = column_types.get(spec.soft_delete_column, sa.DateTime(timezone=True))
        columns.append(sa.Column(spec.soft_delete_column, soft_delete_type, nullable=True))
    table = sa.Table(spec.table, sa.MetaData(), *columns, schema=spec.schema)
    table.create(engine, checkfirst=True)
    return table


def _now_default(engine: sa.Engine) -> sa.TextClause | sa.FunctionElement:
    if engine.dialect.name == "sqlite":
        # CURRENT_TIMESTAMP has whole seconds only; this keeps microseconds, in UTC, in the same
        # "YYYY-MM-DD HH:MM:SS.ffffff" shape SQLAlchemy writes, so text comparisons stay ordered.
        return sa.text("(strftime('%Y-%m-%d %H:%M:%f000', 'now'))")
    return sa.func.now()
