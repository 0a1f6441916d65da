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
)
