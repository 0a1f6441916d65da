"""Checks across the configuration that need more than one field: references and mappings.

They run after the shape is valid and report each problem at its exact place
(``syncs[2].mappings[0].hubspot``), which a model-level validator could not do. ``live_problems``
goes further for ``datasync check``: it reads the app tables and HubSpot's property definitions,
with the very checks a run makes when it starts, and writes nothing.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from datasync_pipeline.config.model import DatasyncConfig, HubSpotConnection, SqlConnection, SyncSpec
from datasync_pipeline.config.secrets import resolve
from datasync_pipeline.connectors.hubspot import HubSpotClient, OAuthCredentials
from datasync_pipeline.connectors.registry import kind_of
from datasync_pipeline.connectors.sql.database_errors import translate_connection_errors
from datasync_pipeline.connectors.sql.schema import missing_columns, missing_table
from datasync_pipeline.connectors.sql.spec import SqlTableSpec
from datasync_pipeline.connectors.sql.value_types import field_types
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.objects.catalogue import ASSOCIATIONS, OBJECT_TYPES, ResolvedMapping, incompatibility
from datasync_pipeline.objects.type_checks import app_type_problems, hubspot_type_problems, missing_field_problem, with_property_types
from datasync_pipeline.sync.mappings import resolve_mappings

Problem = tuple[tuple[Any, ...], str]


def find_problems(config: DatasyncConfig) -> list[Problem]:
    problems: list[Problem] = []
    seen_names: set[str] = set()
    hubspot_names = [n for n, c in config.connections.items() if kind_of(c).hubspot_side]
    for index, sync in enumerate(config.syncs):
        here = ("syncs", index)
        if sync.name in seen_names:
            problems.append((here + ("name",), f"another sync is already named {sync.name!r}"))
        seen_names.add(sync.name)
        problems.extend((here + path, message) for path, message in _app_problems(config, sync))
        if sync.hubspot is None and len(hubspot_names) != 1:
            problems.append((here, f"name the sync's `hubspot` connection: there are {len(hubspot_names)}"))
        elif sync.hubspot is not None and sync.hubspot not in hubspot_names:
            problems.append((here + ("hubspot",), f"{sync.hubspot!r} is not a HubSpot connection defined under `connections`"))
        problems.extend((here + path, message) for path, message in _mapping_problems(sync))
        problems.extend((here + path, message) for path, message in _association_problems(config, sync))
    return problems


def _app_problems(config: DatasyncConfig, sync: SyncSpec) -> Iterator[Problem]:
    """The app side: a defined connection, not the sync's own HubSpot account, located as its kind needs."""
    connection = config.connections.get(sync.app)
    if connection is None:
        known = ", ".join(sorted(config.connections))
        yield ("app",), f"{sync.app!r} is not a connection defined under `connections` (defined: {known})"
        return
    if sync.hubspot == sync.app:
        yield ("app",), f"{sync.app!r} is the sync's HubSpot side too: a sync connects two different accounts"
    needs_table = kind_of(connection).needs_table
    if needs_table and sync.table is None:
        yield ("table",), f"{sync.app!r} is a {connection.kind} connection: say which `table` holds the {sync.object}"
    elif not needs_table and sync.table is not None:
        yield ("table",), f"{sync.app!r} is a {connection.kind} connection: it has no tables (remove `table`)"


def _association_problems(config: DatasyncConfig, sync: SyncSpec) -> Iterator[Problem]:
    """Associations are kept only where rule 8 allows them and the associated object has a sync too."""
    hubspot_connection = config.hubspot_connection_name(sync) if sync.hubspot or _single_hubspot(config) else None
    for index, association in enumerate(sync.associations):
        here = ("associations", index)
        if (sync.object, association.object) not in ASSOCIATIONS:
            allowed = sorted(to for (source, to) in ASSOCIATIONS if source == sync.object)
            yield here + ("object",), (
                f"{sync.object} keep no association with {association.object}"
                + (f"; they can be associated with {', '.join(allowed)}" if allowed else "")
            )
            continue
        partners = [
            other for other in config.syncs
            if other.object == association.object and other.app == sync.app
            and (hubspot_connection is None or config.hubspot_connection_name(other) == hubspot_connection)
        ]
        if not partners:
            yield here + ("object",), (
                f"no sync of {association.object} between the same accounts: associations are kept only "
                f"where the associated object is synced too (rule 8)"
            )
        elif len(partners) > 1:
            yield here + ("object",), f"{len(partners)} syncs of {association.object} between the same accounts; keep one"


def _single_hubspot(config: DatasyncConfig) -> bool:
    return sum(kind_of(c).hubspot_side for c in config.connections.values()) == 1


def _mapping_problems(sync: SyncSpec) -> Iterator[Problem]:
    object_type = OBJECT_TYPES[sync.object]
    seen: set[str] = set()
    for index, mapping in enumerate(sync.mappings):
        here = ("mappings", index)
        default = object_type.defaults_by_property.get(mapping.hubspot)
        if mapping.hubspot in seen:
            yield here + ("hubspot",), f"property {mapping.hubspot!r} is mapped twice"
        seen.add(mapping.hubspot)
        if default is not None and default.required and not mapping.enabled:
            yield here + ("enabled",), f"{sync.object}.{mapping.hubspot} is a required mapping and cannot be switched off"
        if default is None and mapping.enabled and not mapping.app:
            yield here + ("app",), f"custom mapping of {mapping.hubspot!r} needs the app column it maps to"
        if default is not None and mapping.type is not None and mapping.type is not default.value_type:
            yield here + ("type",), f"{sync.object}.{mapping.hubspot} is a {default.value_type.value} property, not {mapping.type.value}"
        # A custom mapping without a `type` takes its HubSpot property's type, checked when a run reads it.
        hubspot_type = default.value_type if default is not None else mapping.type
        if hubspot_type is not None and mapping.app_type is not None and (why := incompatibility(hubspot_type, mapping.app_type)):
            column = mapping.app or (default.app if default is not None else "")
            yield here + ("app_type",), f"{mapping.hubspot} -> {column}: {why}"
    if not sync.use_default_mappings:
        listed = {m.hubspot for m in sync.mappings if m.enabled}
        missing = [m.hubspot for m in object_type.default_mappings if m.required and m.hubspot not in listed]
        if missing:
            yield ("use_default_mappings",), f"default mappings are off but the required {missing} are not listed under mappings"


# Against the live systems (`datasync check`): every problem a run would meet, found without writing anything.


def live_problems(config: DatasyncConfig) -> list[Problem]:
    """Connect to every connection and check each sync against the real table and HubSpot's property definitions.

    Reads only: app tables are reflected, HubSpot property definitions fetched, and an embedded sandbox is
    read from a copy of its file. Each problem is reported at its place in the file, with near matches.
    """
    problems: list[Problem] = []
    with ExitStack() as stack:
        engines = {name: _sql_engine(name, c, problems, stack) for name, c in config.connections.items() if isinstance(c, SqlConnection)}
        clients = {name: _hubspot_client(name, c, problems, stack) for name, c in config.connections.items() if isinstance(c, HubSpotConnection)}
        definitions: dict[tuple[str, str], list[dict[str, Any]] | None] = {}
        for name, client in clients.items():
            objects = [s.object for s in config.syncs if _hubspot_of(config, s) == name] or ["contacts"]  # unused: still try the token
            for object_type in dict.fromkeys(objects):
                definitions[(name, object_type)] = _properties(name, client, object_type, problems) if client else None
        for index, sync in enumerate(config.syncs):
            here = ("syncs", index)
            properties = definitions.get((_hubspot_of(config, sync), sync.object))
            # As a run does: a custom mapping that states no type takes its HubSpot property's.
            mappings = with_property_types(resolve_mappings(sync), properties) if properties is not None else resolve_mappings(sync)
            if engines.get(sync.app) is not None:
                problems.extend((here + path, message) for path, message in _app_table_problems(engines[sync.app], sync, mappings))
            elif clients.get(sync.app) is not None:  # another portal: the app side's fields are its property definitions
                problems.extend((here + path, message) for path, message in _app_portal_problems(sync.app, clients[sync.app], sync, mappings, problems))
            if properties is not None:
                problems.extend((here + path, message) for path, message in _hubspot_problems(sync, mappings, properties))
    return problems


def _hubspot_of(config: DatasyncConfig, sync: SyncSpec) -> str | None:
    return config.hubspot_connection_name(sync) if sync.hubspot or _single_hubspot(config) else None


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


def _hubspot_client(name: str, connection: HubSpotConnection, problems: list[Problem], stack: ExitStack) -> HubSpotClient | None:
    if connection.sandbox is not None:
        from datasync_pipeline.sandbox import Sandbox, SandboxSettings

        copy = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "sandbox.sqlite"
        for suffix in ("", "-wal"):  # read a copy: opening the file itself (even read-only) writes beside it
            if Path(connection.sandbox.path + suffix).exists():
                shutil.copyfile(connection.sandbox.path + suffix, f"{copy}{suffix}")
        sandbox = Sandbox(SandboxSettings(db_path=str(copy), token=connection.sandbox.token, tier="unlimited"))
        stack.callback(sandbox.close)
        client = HubSpotClient(base_url="http://sandbox.embedded", token=connection.sandbox.token, tier="unlimited",
                               object_path_prefix=connection.object_path_prefix, transport=httpx.WSGITransport(app=sandbox.wsgi_app))
        return stack.enter_context(client)
    if connection.oauth is not None:
        secrets = {}
        for field in ("client_id", "client_secret", "refresh_token"):
            try:
                secrets[field] = resolve(getattr(connection.oauth, field), where=f"connections.{name}.oauth.{field}")
            except DatasyncError as error:
                problems.append((("connections", name, "oauth", field), str(error)))
        if len(secrets) < 3:
            return None
        auth: dict[str, Any] = {"oauth": OAuthCredentials(**secrets, token_url=connection.oauth.token_url)}
    else:
        try:
            auth = {"token": resolve(connection.token or "", where=f"connections.{name}.token")}
        except DatasyncError as error:
            problems.append((("connections", name, "token"), str(error)))
            return None
    client = HubSpotClient(base_url=connection.base_url, **auth, tier=connection.tier, object_path_prefix=connection.object_path_prefix,
                           max_attempts=2, timeout_seconds=20)
    return stack.enter_context(client)


def _properties(name: str, client: HubSpotClient, object_type: str, problems: list[Problem]) -> list[dict[str, Any]] | None:
    try:
        return client.get_properties(object_type)
    except (DatasyncError, httpx.HTTPError) as error:
        problems.append((("connections", name), f"cannot read the {object_type} property definitions: {str(error).splitlines()[0]}"))
        return None


def _app_table_problems(engine: sa.Engine, sync: SyncSpec, mappings: list[ResolvedMapping]) -> Iterator[Problem]:
    roles = {"key": sync.table.key, "updated_at": sync.table.updated_at, "external_id": sync.table.external_id, "soft_delete": sync.table.soft_delete}
    uses: dict[str, tuple[tuple[Any, ...], str]] = {}  # column -> (where in the file, what to do beyond fixing the name)
    for role, column in roles.items():
        if column:
            uses.setdefault(column, (("table", role), ""))
    for mapping in mappings:
        path = _mapping_path(sync, mapping.hubspot)
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
            yield _mapping_path(sync, mapping.hubspot), problem


def _app_portal_problems(name: str, client: HubSpotClient, sync: SyncSpec, mappings: list[ResolvedMapping],
                         problems: list[Problem]) -> Iterator[Problem]:
    """A HubSpot portal on the app side: each mapped and filtered property exists there and can hold the values, as
    the run's first step checks them through the connector (``HubSpotSide.value_types``)."""
    from datasync_pipeline.connectors.hubspot.app_side import HubSpotSide
    from datasync_pipeline.sync.binding import app_label, side_binding

    try:
        types = HubSpotSide(client, side_binding(sync, mappings)).value_types()
    except (DatasyncError, httpx.HTTPError) as error:
        problems.append((("connections", name), f"cannot read the {sync.object} property definitions: {str(error).splitlines()[0]}"))
        return
    where = app_label(sync)
    for mapping in mappings:
        found = [missing_field_problem(mapping.app, types, where=where), *app_type_problems([mapping], types, where=where)]
        for problem in filter(None, found):
            yield _mapping_path(sync, mapping.hubspot), problem
    for k, rule in enumerate(sync.filters.app):
        if problem := missing_field_problem(rule.field, types, where=where):
            yield ("filters", "app", k, "field"), problem


def _hubspot_problems(sync: SyncSpec, mappings: list[ResolvedMapping], properties: list[dict[str, Any]]) -> Iterator[Problem]:
    for mapping in mappings:
        for problem in hubspot_type_problems([mapping], sync.object, properties):
            yield _mapping_path(sync, mapping.hubspot), problem
    names = [definition["name"] for definition in properties]
    for k, rule in enumerate(sync.filters.hubspot):
        if rule.field not in names:
            close = difflib.get_close_matches(rule.field, names, n=3)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            yield ("filters", "hubspot", k, "field"), f"HubSpot {sync.object} have no property {rule.field!r}{hint}"


def _mapping_path(sync: SyncSpec, hubspot: str) -> tuple[Any, ...]:
    """Where a mapping is in the file: its entry under `mappings`, or `mappings` itself for an untouched default."""
    return next((("mappings", j) for j, mapping in enumerate(sync.mappings) if mapping.hubspot == hubspot), ("mappings",))
