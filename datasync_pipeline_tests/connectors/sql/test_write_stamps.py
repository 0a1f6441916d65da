"""Writes report the updated_at they left on each row, read in the writing transaction (the echo ledger's input)."""

from __future__ import annotations

from datasync_pipeline.config.model import AppTable
from datasync_pipeline.connectors.base import SideBinding
from datasync_pipeline.connectors.sql.app_side import SqlSide
from datasync_pipeline_tests.connectors.sql.seeding import at


def app_changes_since(customers, since):
    """The change probe's answer for this table (``SqlSide.newest_changes``), with a page larger than the table."""
    table = AppTable(name="customers", key="id", updated_at="updated_at", soft_delete="deleted_at", external_id="hubspot_id")
    side = SqlSide(customers.engine, table, SideBinding("s", "contacts", {"email": "email"}))
    try:
        return side.newest_changes(since, limit=100)
    finally:
        side.close()


def test_inserts_and_updates_report_the_updated_at_a_fresh_read_finds(customers):
    created = customers.insert([{"_ref": "h1", "email": "a@x", "hubspot_id": "h1"}, {"_ref": "h2", "email": "b@x"}])
    updated = customers.update([{"id": created.written["h1"], "first_name": "A"}])

    changes, complete = app_changes_since(customers, at(-10**6))
    current = dict(changes)
    assert complete and set(created.stamped) == {"h1", "h2"} and set(updated.stamped) == {created.written["h1"]}
    assert created.stamped["h2"] == current[created.written["h2"]]
    assert updated.stamped[created.written["h1"]] == current[created.written["h1"]]
    # The connector keeps each row's latest stamp by key: what a load hands to the echo ledger.
    assert customers.written_stamps() == current


def test_a_row_that_sets_updated_at_itself_reports_that_value_and_a_failed_row_none(customers):
    result = customers.insert([{"_ref": "h1", "email": "a@x", "updated_at": at(5)}, {"_ref": "bad", "first_name": "no email"}])

    assert result.stamped == {"h1": at(5)} and "bad" in result.failed
