"""The connector contract: what the engine relies on from any ``AppConnector``, one behaviour per test.

Every test runs once per app in ``conftest.APPS`` and speaks only the interface of ``connectors/base.py``;
what a test does on the app itself (seeding at a chosen time, a user's edit, a deletion) goes through the
app's adapter. Seeded records carry fixed instants; what the app stamps itself (a user's edit, a deletion, the
connector's own writes) is read back from the app, never guessed from the clock or waited for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from datasync_pipeline.connectors.base import (
    ORIGIN_HUBSPOT_ID,
    RECORD_ID,
    REFERENCE,
    AppConnector,
    FieldType,
    SideBinding,
)
from datasync_pipeline.engine.frames import MODIFIED_AT, association_column
from datasync_pipeline.errors import RecordError
from datasync_pipeline.objects.catalogue import ValueType
from datasync_pipeline_tests.connectors.contract.apps import CONTACT_FIELDS, AppUnderTest, as_utc, contacts_binding

T0 = datetime(2024, 5, 1, 9, 0, 0, tzinfo=UTC)
ADA = {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace", "city": "London"}
GRACE = {"email": "grace@example.com", "firstname": "Grace", "lastname": "Hopper", "city": "Arlington"}
LINUS = {"email": "linus@example.com", "firstname": "Linus", "lastname": "Torvalds", "city": "Helsinki"}
COMPANY = association_column("companies")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def by_id(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The frame's records by ``record_id``; a record twice in one frame is a failure of its own."""
    records = frame.to_dict("records")
    assert len({record[RECORD_ID] for record in records}) == len(records), f"a record twice in one frame: {frame}"
    return {record[RECORD_ID]: record for record in records}


def fields_of(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in CONTACT_FIELDS}


def is_utc(value: Any) -> bool:
    stamp = pd.Timestamp(value)
    return stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0)


# --- reads ----------------------------------------------------------------------------------------------------

def test_connector_answers_the_app_connector_interface(app: AppUnderTest, contacts: AppConnector):
    assert isinstance(contacts, AppConnector)
    assert isinstance(contacts.kind, str) and contacts.kind
    assert isinstance(contacts.describe(), str) and contacts.describe()
    assert contacts.keeps_origins is True


def test_read_all_returns_every_record_in_the_engine_frame_shape(app: AppUnderTest, contacts: AppConnector):
    ada, grace = app.seed([{**ADA, ORIGIN_HUBSPOT_ID: "101"}, GRACE], at=T0)

    frame = contacts.read_all()

    assert {RECORD_ID, *CONTACT_FIELDS, ORIGIN_HUBSPOT_ID, MODIFIED_AT} <= set(frame.columns)
    assert all(isinstance(record_id, str) for record_id in frame[RECORD_ID])
    records = by_id(frame)
    assert set(records) == {ada, grace}
    assert fields_of(records[ada]) == ADA and fields_of(records[grace]) == GRACE
    assert records[ada][ORIGIN_HUBSPOT_ID] == "101"
    assert records[grace][ORIGIN_HUBSPOT_ID] is None
    for record in records.values():
        assert is_utc(record[MODIFIED_AT]), f"_modified_at {record[MODIFIED_AT]!r} is not in UTC"
        assert as_utc(record[MODIFIED_AT]) == T0


def test_read_all_leaves_deleted_records_out(app: AppUnderTest, contacts: AppConnector):
    ada, grace, linus = app.seed([ADA, GRACE, LINUS], at=T0)
    app.hard_delete(ada)
    if app.keeps_deleted_records:
        app.soft_delete(grace)

    live = {linus} if app.keeps_deleted_records else {grace, linus}
    assert set(contacts.read_all()[RECORD_ID]) == live


def test_read_by_ids_returns_those_found_and_leaves_unknown_ids_out(app: AppUnderTest, contacts: AppConnector):
    ada, grace = app.seed([ADA, GRACE], at=T0)
    app.hard_delete(grace)

    records = by_id(contacts.read_by_ids([ada, grace, "987654321"]))

    assert set(records) == {ada}
    assert fields_of(records[ada]) == ADA


def test_lookup_matches_case_and_surrounding_space_insensitively(app: AppUnderTest, contacts: AppConnector):
    ada, grace, _ = app.seed([ADA, {**GRACE, "email": "Grace.Hopper@Example.com"}, LINUS], at=T0)

    found = contacts.lookup("email", ["  ADA@Example.COM ", "grace.hopper@example.com", "nobody@example.com"])

    assert set(found[RECORD_ID]) == {ada, grace}


# --- cursors --------------------------------------------------------------------------------------------------

def test_read_changed_since_returns_a_record_changed_after_the_time(app: AppUnderTest, contacts: AppConnector):
    ada, _ = app.seed([ADA, GRACE], at=T0)
    changed_at = app.edit(ada, {"city": "Paris"})
    assert changed_at > at(1)

    records = by_id(contacts.read_changed_since(at(1)))

    assert set(records) == {ada}
    assert records[ada]["city"] == "Paris"
    assert as_utc(records[ada][MODIFIED_AT]) == changed_at


def test_read_changed_since_includes_a_record_changed_exactly_at_the_time(app: AppUnderTest, contacts: AppConnector):
    app.seed([ADA], at=T0)
    (grace,) = app.seed([GRACE], at=at(10))

    assert set(contacts.read_changed_since(at(10))[RECORD_ID]) == {grace}
    assert set(contacts.read_changed_since(at(10) + timedelta(milliseconds=1))[RECORD_ID]) == set()


def test_read_changed_since_returns_every_record_sharing_one_timestamp(app: AppUnderTest, contacts: AppConnector):
    app.seed([ADA], at=T0)
    # More than a page of most APIs (HubSpot's search pages by 100), all changed in the same instant.
    shared = app.seed([{**LINUS, "email": f"user{n}@example.com"} for n in range(150)], at=at(5))

    frame = contacts.read_changed_since(at(5))

    assert sorted(frame[RECORD_ID]) == sorted(shared)
    assert len(by_id(frame)) == 150


def test_newest_changes_are_strictly_after_the_time_and_newest_first(app: AppUnderTest, contacts: AppConnector):
    app.seed([ADA], at=T0)
    (grace,) = app.seed([GRACE], at=at(1))
    (linus,) = app.seed([LINUS], at=at(2))

    changes, complete = contacts.newest_changes(T0, limit=10)

    assert [(record_id, as_utc(stamp)) for record_id, stamp in changes] == [(linus, at(2)), (grace, at(1))]
    assert complete is True


def test_newest_changes_say_when_there_are_more_than_the_limit(app: AppUnderTest, contacts: AppConnector):
    app.seed([ADA], at=T0)
    app.seed([GRACE], at=at(1))
    (linus,) = app.seed([LINUS], at=at(2))

    changes, complete = contacts.newest_changes(T0, limit=1)

    # Up to ``limit`` changes, the newest, and "not all of them": two records changed after T0.
    assert ([(record_id, as_utc(stamp)) for record_id, stamp in changes], complete) == ([(linus, at(2))], False)


def test_newest_changes_count_a_deletion_as_a_change(app: AppUnderTest, contacts: AppConnector):
    if not app.keeps_deleted_records:
        pytest.skip(f"{app.name} keeps no deleted records: a hard delete leaves nothing to report")
    ada, _ = app.seed([ADA, GRACE], at=T0)
    deleted_at = app.soft_delete(ada)

    changes, complete = contacts.newest_changes(T0, limit=10)

    assert {record_id: as_utc(stamp) for record_id, stamp in changes} == {ada: deleted_at}
    assert complete is True


# --- writes ---------------------------------------------------------------------------------------------------

def test_create_rerun_after_a_crash_leaves_one_record(app: AppUnderTest):
    record = {REFERENCE: "h1", **ADA}
    first = app.connector(contacts_binding(app)).create([record])
    # The rerun after a crash: a new connector (a new process) writes the same create again.
    rerun = app.connector(contacts_binding(app))
    second = rerun.create([record])

    assert first.failed == {} and second.failed == {}
    assert set(first.written) == {"h1"}
    assert second.written == first.written
    records = by_id(rerun.read_all())
    assert set(records) == {first.written["h1"]}
    assert records[first.written["h1"]][ORIGIN_HUBSPOT_ID] == "h1"
    assert fields_of(records[first.written["h1"]]) == ADA


def test_a_refused_record_fails_alone_with_its_category(app: AppUnderTest, contacts: AppConnector):
    refused = {
        f"bad{n}": {REFERENCE: f"bad{n}", **LINUS, "email": f"bad{n}@example.com", **refusal.values}
        for n, refusal in enumerate(app.refusals)
    }
    batch = [{REFERENCE: "h1", **ADA}, *refused.values(), {REFERENCE: "h2", **GRACE}]

    result = contacts.create(batch)

    assert set(result.written) == {"h1", "h2"}
    assert all(isinstance(error, RecordError) for error in result.failed.values())
    expected = {f"bad{n}": refusal.category for n, refusal in enumerate(app.refusals)}
    assert {reference: error.category for reference, error in result.failed.items()} == expected, [r.why for r in app.refusals]
    assert set(contacts.read_all()["email"]) == {ADA["email"], GRACE["email"]}


def test_update_changes_a_field_and_none_clears_it(app: AppUnderTest, contacts: AppConnector):
    ada, grace = app.seed([ADA, GRACE], at=T0)

    changed = contacts.update({ada: {"city": "Graz"}})
    assert changed.failed == {} and set(changed.written) == {ada}
    assert by_id(contacts.read_by_ids([ada]))[ada]["city"] == "Graz"

    cleared = contacts.update({ada: {"city": None}})
    assert cleared.failed == {} and set(cleared.written) == {ada}
    records = by_id(contacts.read_by_ids([ada, grace]))
    assert fields_of(records[ada]) == {**ADA, "city": None}
    assert fields_of(records[grace]) == GRACE


def test_written_stamps_hold_the_modification_time_the_write_left(app: AppUnderTest, contacts: AppConnector):
    (ada,) = app.seed([ADA], at=T0)

    result = contacts.update({ada: {"city": "Graz"}})

    read_back = as_utc(by_id(contacts.read_by_ids([ada]))[ada][MODIFIED_AT])
    assert read_back > T0
    assert as_utc(contacts.written_stamps()[ada]) == read_back
    assert as_utc(result.stamped[ada]) == read_back


def test_origins_written_by_update_are_read_back(app: AppUnderTest, contacts: AppConnector):
    ada, grace, linus = app.seed([ADA, GRACE, LINUS], at=T0)

    # An origin alone, and an origin in the same write as a field change.
    result = contacts.update({grace: {"city": "Graz"}}, origins={ada: "h7", grace: "h8"})

    assert result.failed == {} and set(result.written) == {ada, grace}
    records = by_id(contacts.read_all())
    assert {record_id: records[record_id][ORIGIN_HUBSPOT_ID] for record_id in records} == {ada: "h7", grace: "h8", linus: None}
    assert fields_of(records[grace]) == {**GRACE, "city": "Graz"}
    assert fields_of(records[ada]) == ADA


# --- deletions ------------------------------------------------------------------------------------------------

def test_deleted_among_reports_hard_deleted_records(app: AppUnderTest, contacts: AppConnector):
    ada, grace = app.seed([ADA, GRACE], at=T0)
    app.hard_delete(ada)

    assert contacts.deleted_among([ada, grace]) == [ada]


def test_deleted_among_reports_soft_deleted_records(app: AppUnderTest, contacts: AppConnector):
    if not app.keeps_deleted_records:
        pytest.skip(f"{app.name} keeps no deleted records")
    ada, grace = app.seed([ADA, GRACE], at=T0)
    app.soft_delete(grace)

    assert contacts.deleted_among([ada, grace]) == [grace]


def test_deleted_since_reports_soft_deletes_from_the_time_on(app: AppUnderTest, contacts: AppConnector):
    if not app.keeps_deleted_records:
        pytest.skip(f"{app.name} keeps no deleted records")
    ada, _ = app.seed([ADA, GRACE], at=T0)
    deleted_at = app.soft_delete(ada)

    assert {key: as_utc(stamp) for key, stamp in contacts.deleted_since(T0).items()} == {ada: deleted_at}
    assert {key: as_utc(stamp) for key, stamp in contacts.deleted_since(deleted_at).items()} == {ada: deleted_at}
    later = contacts.deleted_since(deleted_at + timedelta(milliseconds=1))
    if app.reports_unsynced_changes:
        # A change log reports a deletion no run has synced yet whatever the time asked: a late commit must not hide.
        assert set(later) == {ada}
    else:
        assert later == {}


def test_deleted_since_is_empty_where_the_app_keeps_no_deleted_records(app: AppUnderTest, contacts: AppConnector):
    if app.keeps_deleted_records:
        pytest.skip(f"{app.name} keeps deleted records: see test_deleted_since_reports_soft_deletes_from_the_time_on")
    ada, _ = app.seed([ADA, GRACE], at=T0)
    app.hard_delete(ada)

    assert contacts.deleted_since(T0) == {}


# --- associations ---------------------------------------------------------------------------------------------

def test_set_associations_is_read_back_and_none_clears_it(app: AppUnderTest):
    binding: SideBinding = contacts_binding(app, with_company=True)
    connector = app.connector(binding)
    ada, grace = app.seed([ADA, GRACE], at=T0)
    company = app.add_company("Analytical Engines Ltd")

    linked = connector.set_associations({ada: {"companies": company}})
    assert linked.failed == {} and set(linked.written) == {ada}
    records = by_id(connector.read_by_ids([ada, grace]))
    assert records[ada][COMPANY] == company
    assert records[grace][COMPANY] is None

    cleared = connector.set_associations({ada: {"companies": None}})
    assert cleared.failed == {} and set(cleared.written) == {ada}
    assert by_id(connector.read_by_ids([ada]))[ada][COMPANY] is None


# --- mapping checks -------------------------------------------------------------------------------------------

def test_value_types_name_a_type_for_every_mapped_field(app: AppUnderTest, contacts: AppConnector):
    types = contacts.value_types()

    for app_field in app.fields.values():
        assert isinstance(types.get(app_field), FieldType), f"no type for {app_field!r}: {types}"
        assert types[app_field].value_type == ValueType.STRING  # every contacts field mapped here is text
        assert types[app_field].declared
