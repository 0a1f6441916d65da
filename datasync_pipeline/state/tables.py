"""Tables of the state store (SQLAlchemy Core; SQLite by default, Postgres by URL).

``metadata.create_all`` (run whenever a store is opened) creates missing tables and upgrades a store
created by an older release in place, keeping its rows: through ``ADDED_COLUMNS`` it adds the nullable
columns that came after a table's first release, and through ``WIDENED_KEYS`` it gives a table the
primary key it has now (``_widen_primary_key``). Existing stores keep working without a migration step.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

pairs = sa.Table(
    "datasync_pairs",
    metadata,
    sa.Column("sync", sa.String(64), primary_key=True),
    sa.Column("hubspot_id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(255), nullable=False),
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
    # The values each side held after the last sync: the base of later three-way merges.
    sa.Column("hubspot_values", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("app_values", sa.JSON(none_as_null=True), nullable=True),
    # "synced", or "deleted_in_hubspot" / "deleted_in_app" (rule 10): the pair then stops syncing.
    sa.Column("status", sa.String(32), nullable=False, server_default="synced"),
    sa.UniqueConstraint("sync", "app_id", name="uq_datasync_pairs_app"),
)

# Every outcome of a record of a sync that is not simply synced: failed (with a category) or excluded (with a
# reason). One row per record and step that recorded it (``vocabulary.Recorder``): an association failure and a
# failed write of the same record are two rows, each with its own category, and each step clears only its own.
record_status = sa.Table(
    "datasync_record_status",
    metadata,
    sa.Column("sync", sa.String(64), primary_key=True),
    sa.Column("side", sa.String(16), primary_key=True),
    sa.Column("record_id", sa.String(255), primary_key=True),
    # Which step recorded it (a ``Recorder``: "hubspot", "app", "checkpoint", "validation", "associations").
    sa.Column("recorded_by", sa.String(16), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # failed | excluded
    sa.Column("category", sa.String(64), nullable=False),  # error category or exclusion reason
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    # Failed writes of a transient kind are retried by later runs, with backoff, a few times (per outcome).
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    # What identifies the record to a person, as {HubSpot property: value} (e.g. {"email": "bad@@x.io"}):
    # a record that never synced has no pair values, so the record view shows these instead. Null: not given.
    sa.Column("identity", sa.JSON(none_as_null=True), nullable=True),
)

# How far each side of a sync has been read: the next incremental run reads changes from here.
# Advanced only after the run's writes are committed, so a failed run is redone from the old mark.
watermarks = sa.Table(
    "datasync_watermarks",
    metadata,
    sa.Column("sync", sa.String(64), primary_key=True),
    sa.Column("side", sa.String(16), primary_key=True),
    sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

# Syncs switched off from the command line (rule 11); the config's `enabled` flag is the other switch.
sync_controls = sa.Table(
    "datasync_sync_controls",
    metadata,
    sa.Column("sync", sa.String(64), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

# Every field where both sides disagreed, with the winner (rule 3): exportable for review.
conflicts = sa.Table(
    "datasync_conflicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sync", sa.String(64), nullable=False, index=True),
    sa.Column("hubspot_id", sa.String(64), nullable=False),
    sa.Column("app_id", sa.String(255), nullable=False),
    sa.Column("field", sa.String(255), nullable=False),
    sa.Column("hubspot_value", sa.Text, nullable=True),
    sa.Column("app_value", sa.Text, nullable=True),
    sa.Column("winner", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

# The echo ledger (state/echoes.py): the last-modified time each of a sync's own writes stamped on a record,
# so the change probe does not take the sync's own writes for changes. Kept only while newer than the watermark.
echoes = sa.Table(
    "datasync_echoes",
    metadata,
    sa.Column("sync", sa.String(64), primary_key=True),
    sa.Column("side", sa.String(16), primary_key=True),
    sa.Column("record_id", sa.String(255), primary_key=True),
    sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

# Writes a load is about to make, recorded before it calls the other side (state/pending.py): a run that dies
# partway through a write batch, or after it and before its checkpoint, leaves here what it may have written,
# so the next run does not take its own writes for a user's changes. Cleared when the pair's values are committed.
pending_writes = sa.Table(
    "datasync_pending_writes",
    metadata,
    sa.Column("sync", sa.String(64), primary_key=True),
    sa.Column("side", sa.String(16), primary_key=True),  # the side written: "hubspot" or "app"
    sa.Column("kind", sa.String(16), primary_key=True),  # "update" or "create"
    # An update: the id of the record written. A create: the id of the record it was created from (other side).
    sa.Column("record_id", sa.String(255), primary_key=True),
    sa.Column("values", sa.JSON(none_as_null=True), nullable=False),  # {HubSpot property: value written}
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

# The association each side of a pair held after the last sync, per associated object: the base of the
# three-way rule for associations (engine/associations.py). No row: neither side held one.
association_bases = sa.Table(
    "datasync_association_bases",
    metadata,
    sa.Column("sync", sa.String(64), primary_key=True),
    sa.Column("hubspot_id", sa.String(64), primary_key=True),
    sa.Column("associated_object", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(255), nullable=False),
    sa.Column("hubspot_value", sa.String(64), nullable=True),  # the associated record's HubSpot id
    sa.Column("app_value", sa.String(255), nullable=True),  # the associated record's app key
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
)


# Nullable columns added after their table was first released: (table, column name).
ADDED_COLUMNS = [(record_status, "identity")]

# Tables whose primary key gained columns after their first release: ``datasync_record_status`` was keyed on
# (sync, side, record_id) until outcomes were kept per step. The old key is a prefix of the new one, so every
# old row stays unique and is kept as it is.
WIDENED_KEYS = [record_status]


@sa.event.listens_for(metadata, "after_create")
def _upgrade_in_place(target: sa.MetaData, connection: sa.Connection, **kw: Any) -> None:
    """Bring a store created by an older release to the current shape, keeping its rows."""
    for table in WIDENED_KEYS:
        _widen_primary_key(connection, table)
    _add_missing_columns(connection)


def _primary_key(connection: sa.Connection, table: sa.Table) -> dict[str, Any]:
    return sa.inspect(connection).get_pk_constraint(table.name)


def _widen_primary_key(connection: sa.Connection, table: sa.Table) -> None:
    """Give an existing ``table`` its current primary key, rows kept, in one transaction.

    PostgreSQL alters the constraint in place, under an exclusive lock taken before the shape is read again, so
    two processes opening the same old store upgrade it once. SQLite cannot alter a primary key: the table is
    rebuilt (renamed aside, created anew, its rows copied, the old one dropped) inside ``BEGIN IMMEDIATE``, which
    makes the rebuild atomic (a crash leaves the old table as it was) and serialises concurrent openers.
    """
    wanted = [column.name for column in table.primary_key.columns]
    if not sa.inspect(connection).has_table(table.name) or _primary_key(connection, table)["constrained_columns"] == wanted:
        return
    preparer = connection.dialect.identifier_preparer
    name = preparer.format_table(table)
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE"))
        current = _primary_key(connection, table)
        if current["constrained_columns"] == wanted:
            return  # another process upgraded it while this one waited for the lock
        columns = ", ".join(preparer.quote(column) for column in wanted)
        if current["name"]:
            connection.execute(sa.text(f"ALTER TABLE {name} DROP CONSTRAINT {preparer.quote(current['name'])}"))
        connection.execute(sa.text(f"ALTER TABLE {name} ADD PRIMARY KEY ({columns})"))
        return
    if connection.dialect.name != "sqlite":
        raise NotImplementedError(f"the state store supports SQLite and PostgreSQL, not {connection.dialect.name}")
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # pysqlite opens no transaction for DDL by itself
    if _primary_key(connection, table)["constrained_columns"] == wanted:
        return
    old = sa.Table(f"{table.name}_before_upgrade", sa.MetaData())
    connection.execute(sa.text(f"ALTER TABLE {name} RENAME TO {preparer.format_table(old)}"))
    kept = [column["name"] for column in sa.inspect(connection).get_columns(old.name) if column["name"] in table.c]
    table.create(connection)
    columns = ", ".join(preparer.quote(column) for column in kept)
    connection.execute(sa.text(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM {preparer.format_table(old)}"))
    connection.execute(sa.text(f"DROP TABLE {preparer.format_table(old)}"))


def _add_missing_columns(connection: sa.Connection) -> None:
    """Add the ``ADDED_COLUMNS`` an existing store lacks (safe to race: a concurrent add is not an error)."""
    inspector = sa.inspect(connection)
    for table, name in ADDED_COLUMNS:
        if not inspector.has_table(table.name) or name in {column["name"] for column in inspector.get_columns(table.name)}:
            continue
        column = table.c[name]
        preparer = connection.dialect.identifier_preparer
        kind = column.type.compile(dialect=connection.dialect)
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN IF NOT EXISTS {preparer.format_column(column)} {kind}"))
            continue
        try:
            connection.execute(sa.text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.format_column(column)} {kind}"))
        except sa.exc.OperationalError as error:
            if "duplicate column" not in str(error).lower():  # SQLite: another process added it meanwhile
                raise
