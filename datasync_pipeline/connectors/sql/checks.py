"""``datasync check`` for a SQL app: the database reachable, the sync's table and columns there, their types able to
hold the mapped values, as a run's first step checks them (``SqlSide.value_types``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from datasync_pipeline.config.secrets import resolve
from datasync_pipeline.connectors.base import Problem
from datasync_pipeline.connectors.sql.config import SqlConnection
from datasync_pipeline.connectors.sql.database_errors import translate_connection_errors
from datasync_pipeline.connectors.sql.schema import missing_columns, missing_table
from datasync_pipeline.connectors.sql.spec import SqlTableSpec
from datasync_pipeline.connectors.sql.value_types import field_types
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.objects.type_checks import app_type_problems
from datasync_pipeline.sync.mappings import mapping_path


class SqlCheck:
    """One SQL connection, connected once for ``datasync check``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def app_problems(self, sync: Any, mappings: list[ResolvedMapping], problems: list[Problem]) -> Iterator[Problem]:
        return _app_table_problems(self.engine, sync, mappings)

    def hubspot_properties(self, object_type: str, problems: list[Problem]) -> None:
        return None


def open_check(name: str, connection: SqlConnection, problems: list[Problem], stack: ExitStack) -> SqlCheck | None:
    engine = _sql_engine(name, connection, problems, stack)
    return SqlCheck(engine) if engine is not None else None


def _sql_engine(name: str, connection: SqlConnection, problems: list[Problem], stack: ExitStack) -> sa.Engine | None:
    here = ("connections", name, "url")
    try:
        url = sa.make_url(resolve(connection.url, where=f"connections.{name}.url"))
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") and not url.database.startswith("file:"):
            if not Path(url.database).exists():  # connecting would create an empty database file
                problems.append((here, f"the SQLite database file {url.database!r} does not exist: check the path"))
                return None
        engine = sa.create_engine(url)
        stack.callback(engine.dispose)
        with translate_connection_errors(engine, "checking the connection"), engine.connect():
            pass
        return engine
    except DatasyncError as error:
        problems.append((here, str(error)))
    except sa.exc.SQLAlchemyError as error:  # a malformed URL, a missing driver: the first line never holds the password
        problems.append((here, f"cannot use this database URL: {str(getattr(error, 'orig', None) or error).splitlines()[0]}"))
    return None


def _app_table_problems(engine: sa.Engine, sync: Any, mappings: list[ResolvedMapping]) -> Iterator[Problem]:
    roles = {"key": sync.table.key, "updated_at": sync.table.updated_at, "external_id": sync.table.external_id, "soft_delete": sync.table.soft_delete}
    uses: dict[str, tuple[tuple[Any, ...], str]] = {}  # column -> (where in the file, what to do beyond fixing the name)
    for role, column in roles.items():
        if column:
            uses.setdefault(column, (("table", role), ""))
    for mapping in mappings:
        path = mapping_path(sync, mapping.hubspot)
        default = path == ("mappings",)
        uses.setdefault(mapping.app, (path + (() if default else ("app",)), (
            f"; it is the default column of {mapping.hubspot}: name the real one "
            f"(`- {{hubspot: {mapping.hubspot}, app: COLUMN}}` under `mappings`) or switch the mapping off") if default else ""))
    for k, association in enumerate(sync.associations):
        if association.enabled:
            uses.setdefault(association.app_column, (("associations", k, "app_column"), ""))
    for k, rule in enumerate(sync.filters.app):
        uses.setdefault(rule.field, (("filters", "app", k, "field"), ""))
    spec = SqlTableSpec(table=sync.table.name, schema=sync.table.schema_name, key_column=sync.table.key, columns=list(uses))
    with translate_connection_errors(engine, f"checking table {spec.qualified_name!r}"):
        missing = missing_table(engine, spec)
        if missing:
            yield ("table", "name"), missing
            return
        table = sa.Table(spec.table, sa.MetaData(), schema=spec.schema, autoload_with=engine)
    for column, why in missing_columns(table, uses).items():
        path, advice = uses[column]
        yield path, f"table {spec.qualified_name!r}: {why}{advice}"
    for mapping in mappings:
        for problem in app_type_problems([mapping], field_types(table), where=table.name):
            yield mapping_path(sync, mapping.hubspot), problem
