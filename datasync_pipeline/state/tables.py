"""Tables of the state store (SQLAlchemy Core; SQLite by default, Postgres by URL)."""

from __future__ import annotations

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

# Every record of a sync that is not simply synced: failed (with a category) or excluded (with a reason).
record_status = sa.Table(
    "datasync_record_status",
    metadata,
    sa.Column("sync", sa.String(64), primary_key=True),
    sa.Column("side", sa.String(16), primary_key=True),
    sa.Column("record_id", sa.String(255), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # failed | excluded
    sa.Column("category", sa.String(64), nullable=False),  # error category or exclusion reason
    sa.Column("message", sa.Text, nullable=True),
    # Which load recorded it ("hubspot" or "app"): each load clears only what it recorded.
    sa.Column("recorded_by", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    # Failed writes of a transient kind are retried by later runs, with backoff, a few times.
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
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
