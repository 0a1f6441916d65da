"""Every record of a sync in exactly one state, as SQL over the state store (SQLAlchemy Core).

A sync's records are its linked pairs (``datasync_pairs``) and the records with an outcome but no pair
(``datasync_record_status``: failed creates, exclusions). A pair is one record of the sync whose status is

- ``deleted_in_hubspot`` / ``deleted_in_app`` when one side was deleted (rule 10),
- ``failed`` when an outcome of either side failed (a write, the associations, the validation, ...),
- ``synced`` otherwise.

A record may hold several outcomes at once, one per step that recorded it (``recorded_by``): its write
failed and so did its associations. It is still one record and one row: its ``category`` lists every
category of its outcomes (``association_failed, server_error``, sorted), and with more than one its
``message`` gives each category's message (``association_failed: ...; server_error: ...``). The object
view counts it once among the failed records, and once under each of its categories.

A record without a pair shows the values of its ``identity`` (``{property: value}``, as the load that
failed or excluded it recorded them), so a user can tell which record ``bad@@x.io`` is. It is failed
when any of its outcomes failed, else excluded; its category lists the outcomes of that status.

Both the object view (counts) and the record view (listing and exports) read these two selects, so
their numbers agree; the database does the joins and filters, so a million pairs never pass through
Python one dict at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

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


class joined_text(FunctionElement):
    """``joined_text(value, order, separator)``: an aggregate joining the group's non-null values in ``order``.

    PostgreSQL orders inside the aggregate (``string_agg(... ORDER BY ...)``). SQLite's ``group_concat`` (before
    3.44) takes no order: it joins in the order rows reach it, so its input comes from an ordered subquery.
    """

    type = sa.Text()
    name = "joined_text"
    inherit_cache = True


@compiles(joined_text)
def _joined_text(element: joined_text, compiler: Any, **kw: Any) -> str:
    value, _order, separator = element.clauses
    return f"group_concat({compiler.process(value, **kw)}, {compiler.process(separator, **kw)})"


@compiles(joined_text, "postgresql")
def _joined_text_postgresql(element: joined_text, compiler: Any, **kw: Any) -> str:
    value, order, separator = element.clauses
    return f"string_agg({compiler.process(value, **kw)}, {compiler.process(separator, **kw)} ORDER BY {compiler.process(order, **kw)})"


def _by_record(outcomes: sa.Subquery, keys: list[str]) -> sa.Subquery:
    """One row per record (``keys``) from one row per outcome: its categories and messages joined, its latest time.

    First one row per (record, category), so two steps failing a record with the same category name it once.
    """
    key_columns = [outcomes.c[key] for key in keys]
    per_category = (
        sa.select(*key_columns, outcomes.c.category,
                  joined_text(outcomes.c.message, outcomes.c.message, sa.literal("; ")).label("message"),
                  sa.func.max(outcomes.c.recorded_at).label("recorded_at"))
        .group_by(*key_columns, outcomes.c.category)
        .order_by(*key_columns, outcomes.c.category)  # SQLite's group_concat joins in this order
        .subquery()
    )
    key_columns = [per_category.c[key] for key in keys]
    several = sa.func.count() > 1
    labelled = per_category.c.category + sa.literal(": ") + sa.func.coalesce(per_category.c.message, sa.literal(""))
    return (
        sa.select(
            *key_columns,
            joined_text(per_category.c.category, per_category.c.category, sa.literal(", ")).label("category"),
            sa.case((several, joined_text(labelled, per_category.c.category, sa.literal("; "))),
                    else_=sa.func.max(per_category.c.message)).label("message"),
            sa.func.max(per_category.c.recorded_at).label("recorded_at"),
        )
        .group_by(*key_columns)
        .subquery()
    )


def _pair_failures(sync: str) -> sa.Subquery:
    """One row per failed outcome of either record of a linked pair, keyed by the pair's HubSpot id."""
    outcome = record_status

    def side_of_pair(side: str, id_column: sa.Column) -> sa.Select:
        return (
            sa.select(pairs.c.hubspot_id, outcome.c.category, outcome.c.message, outcome.c.recorded_at)
            .select_from(pairs.join(outcome, sa.and_(outcome.c.sync == pairs.c.sync, outcome.c.side == side,
                                                     outcome.c.record_id == id_column)))
            .where(pairs.c.sync == sync, outcome.c.status == FAILED)
        )

    return sa.union_all(side_of_pair("hubspot", pairs.c.hubspot_id), side_of_pair("app", pairs.c.app_id)).subquery()


def _unpaired_outcomes(sync: str) -> sa.Subquery:
    """One row per outcome of a record without a pair, those of the record's status only (failed when any failed)."""
    outcome = record_status
    linked_hubspot = sa.exists().where(pairs.c.sync == outcome.c.sync, pairs.c.hubspot_id == outcome.c.record_id)
    linked_app = sa.exists().where(pairs.c.sync == outcome.c.sync, pairs.c.app_id == outcome.c.record_id)
    # "failed" sorts after "excluded": the greatest status of a record's outcomes is failed when any failed.
    record_state = sa.func.max(outcome.c.status).over(partition_by=[outcome.c.side, outcome.c.record_id])
    every = (
        sa.select(outcome.c.side, outcome.c.record_id, outcome.c.status, outcome.c.category, outcome.c.message,
                  outcome.c.recorded_at, record_state.label("record_status"))
        .where(outcome.c.sync == sync,
               sa.not_(sa.or_(sa.and_(outcome.c.side == "hubspot", linked_hubspot), sa.and_(outcome.c.side == "app", linked_app))))
        .subquery()
    )
    return sa.select(every).where(every.c.status == every.c.record_status).subquery()


def paired_rows(sync: str, fields: list[str], *, prefer: str = "hubspot", where: RecordFilter = RecordFilter()) -> sa.Select:
    """One row per linked pair, with the last synced values of ``fields`` (``prefer``'s side first)."""
    failures = _by_record(_pair_failures(sync), ["hubspot_id"])
    joined = pairs.outerjoin(failures, failures.c.hubspot_id == pairs.c.hubspot_id)
    deleted = pairs.c.status != SYNCED
    any_failed = failures.c.hubspot_id.is_not(None)
    status = sa.case((deleted, pairs.c.status), (any_failed, sa.literal(FAILED)), else_=sa.literal(SYNCED))
    # A record deleted on one side leaves its outcomes on the surviving record: they are the message.
    category = sa.case((deleted, pairs.c.status), else_=failures.c.category)
    time = sa.case(
        (sa.and_(sa.not_(deleted), sa.not_(any_failed)), pairs.c.synced_at),
        else_=sa.func.coalesce(failures.c.recorded_at, pairs.c.synced_at),
    )
    first, second = (pairs.c.hubspot_values, pairs.c.app_values) if prefer == "hubspot" else (pairs.c.app_values, pairs.c.hubspot_values)
    values = [sa.func.coalesce(first[field].as_string(), second[field].as_string()).label(field_label(field)) for field in fields]
    query = (
        sa.select(pairs.c.sync, status.label("status"), category.label("category"), failures.c.message.label("message"),
                  pairs.c.hubspot_id, pairs.c.app_id, time.label("time"), *values)
        .select_from(joined)
        .where(pairs.c.sync == sync)
        .order_by(pairs.c.hubspot_id)
    )
    return _filtered(query, status, time, where)


def unpaired_rows(sync: str, fields: list[str], *, where: RecordFilter = RecordFilter()) -> sa.Select:
    """One row per failed or excluded record that has no pair (a failed create, an exclusion)."""
    outcomes = _unpaired_outcomes(sync)
    records = _by_record(outcomes, ["side", "record_id", "record_status"])
    # A record that never synced has no pair values: its identity (as the load recorded it) stands in for them.
    identity = (
        sa.select(record_status.c.identity)
        .where(record_status.c.sync == sync, record_status.c.side == records.c.side, record_status.c.record_id == records.c.record_id,
               record_status.c.identity.is_not(None))
        .limit(1)
        .scalar_subquery()
    ) if fields else None
    values = [identity[field].as_string().label(field_label(field)) for field in fields] if identity is not None else []
    query = (
        sa.select(
            sa.literal(sync).label("sync"), records.c.record_status.label("status"), records.c.category, records.c.message,
            sa.case((records.c.side == "hubspot", records.c.record_id)).label("hubspot_id"),
            sa.case((records.c.side == "app", records.c.record_id)).label("app_id"),
            records.c.recorded_at.label("time"), *values,
        )
        .order_by(records.c.side, records.c.record_id)
    )
    return _filtered(query, records.c.record_status, records.c.recorded_at, where)


def status_counts(query: sa.Select) -> sa.Select:
    """(status, category, count) over one of the selects above (a record with several categories: them joined)."""
    rows = query.order_by(None).subquery()
    return sa.select(rows.c.status, rows.c.category, sa.func.count()).group_by(rows.c.status, rows.c.category)


def category_counts(sync: str) -> list[sa.Select]:
    """(status, category, records) of the failed and excluded records, a record counted once under each of its
    categories: the selects of the paired and of the unpaired records. Deleted pairs are not among them."""
    failures = _pair_failures(sync)
    paired = (
        sa.select(sa.literal(FAILED).label("status"), failures.c.category, sa.func.count(sa.distinct(failures.c.hubspot_id)))
        .select_from(failures.join(pairs, sa.and_(pairs.c.sync == sync, pairs.c.hubspot_id == failures.c.hubspot_id)))
        .where(pairs.c.status == SYNCED)
        .group_by(failures.c.category)
    )
    outcomes = _unpaired_outcomes(sync)
    unpaired = (
        sa.select(outcomes.c.record_status, outcomes.c.category,
                  sa.func.count(sa.distinct(outcomes.c.side + sa.literal(":") + outcomes.c.record_id)))
        .group_by(outcomes.c.record_status, outcomes.c.category)
    )
    return [paired, unpaired]


def _filtered(query: sa.Select, status: sa.ColumnElement, time: sa.ColumnElement, where: RecordFilter) -> sa.Select:
    if where.statuses:
        query = query.where(status.in_(where.statuses))
    if where.since is not None:
        query = query.where(time >= where.since)
    if where.until is not None:
        query = query.where(time < where.until)
    return query
