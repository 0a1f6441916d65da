"""Every record of a sync in exactly one state, as SQL over the state store (SQLAlchemy Core).

A sync's records are its linked pairs (``datasync_pairs``) and the records with an outcome but no pair
(``datasync_record_status``: failed creates, exclusions). A pair is one record of the sync whose status is

- ``deleted_in_hubspot`` / ``deleted_in_app`` when one side was deleted (rule 10),
- ``failed`` when the last write of either side failed (its category and message come from the outcome),
- ``synced`` otherwise.

A record without a pair shows the values of its ``identity`` (``{property: value}``, as the load that
failed or excluded it recorded them), so a user can tell which record ``bad@@x.io`` is.

Both the object view (counts) and the record view (listing and exports) read these two selects, so
their numbers agree; the database does the joins and filters, so a million pairs never pass through
Python one dict at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from datasync_pipeline.state.tables import pairs, record_status

SYNCED, FAILED, EXCLUDED = "synced", "failed", "excluded"
DELETED_IN_HUBSPOT, DELETED_IN_APP = "deleted_in_hubspot", "deleted_in_app"
STATUSES = (SYNCED, FAILED, EXCLUDED, DELETED_IN_HUBSPOT, DELETED_IN_APP)
BASE_COLUMNS = ["sync", "object", "status", "category", "message", "hubspot_id", "app_id", "time"]


@dataclass(frozen=True)
class RecordFilter:
    """Which records to read: by status and by the time of their last sync or outcome (UTC, until excluded)."""

    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def field_label(field: str) -> str:
    """A field's column name; renamed where it would clash with a column of the record view itself."""
    return f"value_{field}" if field in BASE_COLUMNS else field


def paired_rows(sync: str, fields: list[str], *, prefer: str = "hubspot", where: RecordFilter = RecordFilter()) -> sa.Select:
    """One row per linked pair, with the last synced values of ``fields`` (``prefer``'s side first)."""
    hubspot_outcome, app_outcome = record_status.alias("hubspot_outcome"), record_status.alias("app_outcome")
    joined = pairs.outerjoin(
        hubspot_outcome,
        sa.and_(hubspot_outcome.c.sync == pairs.c.sync, hubspot_outcome.c.side == "hubspot",
                hubspot_outcome.c.record_id == pairs.c.hubspot_id, hubspot_outcome.c.status == FAILED),
    ).outerjoin(
        app_outcome,
        sa.and_(app_outcome.c.sync == pairs.c.sync, app_outcome.c.side == "app",
                app_outcome.c.record_id == pairs.c.app_id, app_outcome.c.status == FAILED),
    )
    deleted = pairs.c.status != SYNCED
    any_failed = sa.or_(hubspot_outcome.c.record_id.is_not(None), app_outcome.c.record_id.is_not(None))
    status = sa.case((deleted, pairs.c.status), (any_failed, sa.literal(FAILED)), else_=sa.literal(SYNCED))
    category = sa.case((deleted, pairs.c.status), else_=sa.func.coalesce(hubspot_outcome.c.category, app_outcome.c.category))
    # A record deleted in HubSpot leaves its outcome on the surviving app record, and the other way round.
    message = sa.case(
        (pairs.c.status == DELETED_IN_HUBSPOT, sa.func.coalesce(app_outcome.c.message, hubspot_outcome.c.message)),
        else_=sa.func.coalesce(hubspot_outcome.c.message, app_outcome.c.message),
    )
    time = sa.case(
        (sa.and_(sa.not_(deleted), sa.not_(any_failed)), pairs.c.synced_at),
        else_=sa.func.coalesce(hubspot_outcome.c.recorded_at, app_outcome.c.recorded_at, pairs.c.synced_at),
    )
    first, second = (pairs.c.hubspot_values, pairs.c.app_values) if prefer == "hubspot" else (pairs.c.app_values, pairs.c.hubspot_values)
    values = [sa.func.coalesce(first[field].as_string(), second[field].as_string()).label(field_label(field)) for field in fields]
    query = (
        sa.select(pairs.c.sync, status.label("status"), category.label("category"), message.label("message"),
                  pairs.c.hubspot_id, pairs.c.app_id, time.label("time"), *values)
        .select_from(joined)
        .where(pairs.c.sync == sync)
        .order_by(pairs.c.hubspot_id)
    )
    return _filtered(query, status, time, where)


def unpaired_rows(sync: str, fields: list[str], *, where: RecordFilter = RecordFilter()) -> sa.Select:
    """One row per failed or excluded record that has no pair (a failed create, an exclusion)."""
    outcome = record_status
    linked_hubspot = sa.exists().where(pairs.c.sync == outcome.c.sync, pairs.c.hubspot_id == outcome.c.record_id)
    linked_app = sa.exists().where(pairs.c.sync == outcome.c.sync, pairs.c.app_id == outcome.c.record_id)
    # A record that never synced has no pair values: its identity (as the load recorded it) stands in for them.
    values = [outcome.c.identity[field].as_string().label(field_label(field)) for field in fields]
    query = (
        sa.select(
            outcome.c.sync, outcome.c.status, outcome.c.category, outcome.c.message,
            sa.case((outcome.c.side == "hubspot", outcome.c.record_id)).label("hubspot_id"),
            sa.case((outcome.c.side == "app", outcome.c.record_id)).label("app_id"),
            outcome.c.recorded_at.label("time"), *values,
        )
        .where(
            outcome.c.sync == sync,
            sa.not_(sa.or_(sa.and_(outcome.c.side == "hubspot", linked_hubspot), sa.and_(outcome.c.side == "app", linked_app))),
        )
        .order_by(outcome.c.side, outcome.c.record_id)
    )
    return _filtered(query, outcome.c.status, outcome.c.recorded_at, where)


def status_counts(query: sa.Select) -> sa.Select:
    """(status, category, count) over one of the selects above."""
    rows = query.order_by(None).subquery()
    return sa.select(rows.c.status, rows.c.category, sa.func.count()).group_by(rows.c.status, rows.c.category)


def _filtered(query: sa.Select, status: sa.ColumnElement, time: sa.ColumnElement, where: RecordFilter) -> sa.Select:
    if where.statuses:
        query = query.where(status.in_(where.statuses))
    if where.since is not None:
        query = query.where(time >= where.since)
    if where.until is not None:
        query = query.where(time < where.until)
    return query
