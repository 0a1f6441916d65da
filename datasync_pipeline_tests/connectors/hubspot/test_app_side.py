"""``HubSpotSide``: a second HubSpot portal as the app side of a sync, against the sandbox.

The app portal is its own sandbox (its own state file), reached in-process through WSGI and over real HTTP on
loopback; the primary portal, where a sync's records come from, is the ``sandbox`` fixture. Times are set by
seeding records with explicit stamps or read back from HubSpot's answers, never waited for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pandas as pd
import pytest

from datasync_pipeline.config.model import AssociationSpec, FilterOperator, FilterRule
from datasync_pipeline.connectors.base import ORIGIN_HUBSPOT_ID, RECORD_ID, AppConnector, FieldType, SideBinding
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.connectors.hubspot.app_frames import property_text
from datasync_pipeline.connectors.hubspot.app_side import HubSpotSide
from datasync_pipeline.errors import DatasyncError, ErrorCategory
from datasync_pipeline.objects.catalogue import ValueType
from datasync_pipeline.sandbox import Sandbox, SandboxSettings, serve_in_thread

UTC = dt.UTC
# the engine field "phone" is the app portal's "mobilephone": names on the two sides differ
CONTACTS = SideBinding("crm", "contacts", {"email": "email", "firstname": "firstname", "lastname": "lastname",
                                           "phone": "mobilephone"})
COMPANIES = SideBinding("accounts", "companies", {"name": "name", "domain": "domain", "numberofemployees": "numberofemployees"})
BATCH_READ = "POST /crm/v3/objects/{type}/batch/read"
SEARCH = "POST /crm/v3/objects/{type}/search"
FRAME_COLUMNS = [RECORD_ID, "email", "firstname", "lastname", "phone", ORIGIN_HUBSPOT_ID, "_modified_at"]
T = dt.datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def app_portal(tmp_path: Path) -> Iterator[Sandbox]:
    """The second portal: a sandbox of its own, beside the ``sandbox`` fixture's primary portal."""
    portal = Sandbox(SandboxSettings(db_path=str(tmp_path / "app_portal.sqlite"), tier="unlimited"))
    yield portal
    portal.close()


@pytest.fixture(params=["embedded", "loopback"])
def app_client(request, app_portal: Sandbox) -> Iterator[HubSpotClient]:
    if request.param == "embedded":
        transport = httpx.WSGITransport(app=app_portal.wsgi_app)
        with HubSpotClient(base_url="http://app-portal.local", token=app_portal.settings.token, tier="unlimited",
                           transport=transport) as client:
            yield client
    else:
        with serve_in_thread(app_portal, host="127.0.0.1", port=0) as served:
            with HubSpotClient(base_url=served.url, token=served.token, tier="unlimited", timeout_seconds=10.0) as client:
                yield client


def contacts(client: HubSpotClient, **binding) -> HubSpotSide:
    return HubSpotSide(client, replace(CONTACTS, **binding))


def seed_one(portal: Sandbox, email: str, updated_at: dt.datetime) -> str:
    """A contact last modified at a chosen time (seeding is the one way to choose it)."""
    return portal.seed("contacts", [{"email": email}], updated_at=updated_at)[0]


def by_id(frame: pd.DataFrame) -> dict[str, dict]:
    return {row[RECORD_ID]: row for row in frame.to_dict("records")}


# --- the interface ------------------------------------------------------------------------------------
def test_it_is_an_app_connector_that_leaves_the_client_open(app_client):
    side = contacts(app_client)
    assert isinstance(side, AppConnector)
    assert (side.kind, side.describe(), side.keeps_origins) == ("hubspot", "HubSpot contacts", True)
    side.close()
    assert app_client.get_properties("contacts")  # still usable: the caller owns it


def test_an_association_the_catalogue_does_not_keep_is_refused(app_client):
    with pytest.raises(DatasyncError, match="no association to line_items"):
        contacts(app_client, associations=[AssociationSpec(object="line_items", app_column="-")])


# --- creates, frames, idempotence ----------------------------------------------------------------------
def test_created_records_read_back_as_engine_frames(app_client):
    side = contacts(app_client)
    created = side.create([
        {"_ref": "101", "email": "ada@example.com", "firstname": "Ada", "lastname": None, "phone": "+44 20 7946 0000"},
        {"_ref": "102", "email": "grace@example.com", "firstname": "Grace", "lastname": "Hopper", "phone": float("nan")},
    ])
    assert not created.failed and set(created.written) == {"101", "102"}
    frame = side.read_all()
    assert list(frame.columns) == FRAME_COLUMNS
    assert str(frame["_modified_at"].dtype) == "datetime64[ns, UTC]"
    rows = by_id(frame)
    ada = rows[created.written["101"]]
    assert (ada["email"], ada["firstname"], ada["lastname"], ada["phone"], ada[ORIGIN_HUBSPOT_ID]) == (
        "ada@example.com", "Ada", None, "+44 20 7946 0000", "101")
    assert rows[created.written["102"]]["phone"] is None  # NaN is no value: nothing written
    # the stamps the create answered with are the records' last-modified times, and what written_stamps keeps
    for reference, record_id in created.written.items():
        assert created.stamped[reference] == rows[record_id]["_modified_at"] == side.written_stamps()[record_id]


def test_creating_the_same_ref_twice_keeps_one_record(app_client):
    side = contacts(app_client)
    first = side.create([{"_ref": "7", "email": "once@example.com", "firstname": "Once"}])
    again = side.create([{"_ref": "7", "email": "once@example.com", "firstname": "Twice"}])  # a rerun after a crash
    assert first.written == again.written
    (row,) = side.read_all().to_dict("records")
    assert (row["firstname"], row[ORIGIN_HUBSPOT_ID]) == ("Twice", "7")


def test_one_bad_value_fails_alone(app_client):
    side = contacts(app_client)
    result = side.create([{"_ref": str(n), "email": f"p{n}@example.com"} for n in range(5)]
                         + [{"_ref": "bad", "email": "not-an-email"}])
    assert set(result.written) == {"0", "1", "2", "3", "4"}
    assert set(result.failed) == {"bad"} and result.failed["bad"].category == ErrorCategory.INVALID_EMAIL

    companies = HubSpotSide(app_client, COMPANIES)
    made = companies.create([{"_ref": "c1", "name": "Acme"}, {"_ref": "c2", "name": "Initech"}])
    acme, initech = made.written["c1"], made.written["c2"]
    updated = companies.update({acme: {"numberofemployees": "many"}, initech: {"numberofemployees": 12.0}})
    assert updated.failed[acme].category == ErrorCategory.INVALID_PROPERTY_VALUE
    assert set(updated.written) == {initech}
    assert by_id(companies.read_all())[initech]["numberofemployees"] == "12"


def test_records_of_another_sync_keep_no_origin(app_client, app_portal):
    app_client.ensure_unique_property("contacts", "datasync_hubspot_id", "datasync primary HubSpot id")
    ids = app_portal.seed("contacts", [
        {"email": "mine@example.com", "datasync_hubspot_id": "crm:55"},
        {"email": "theirs@example.com", "datasync_hubspot_id": "other:55"},
        {"email": "none@example.com"},
    ])
    origins = by_id(contacts(app_client).read_all())
    assert [origins[record_id][ORIGIN_HUBSPOT_ID] for record_id in ids] == ["55", None, None]


def test_a_record_of_the_primary_portal_lands_in_the_app_portal_linked_to_its_origin(sandbox, app_client):
    """Two portals, two state files: what the engine reads from the primary one is created in the app one."""
    primary_ids = sandbox.seed("contacts", [{"email": "linus@example.com", "firstname": "Linus"}])
    with HubSpotClient(base_url="http://primary.local", token=sandbox.settings.token, tier="unlimited",
                       transport=httpx.WSGITransport(app=sandbox.wsgi_app)) as primary:
        (record,) = primary.list_records("contacts", properties=["email", "firstname"])
    side = contacts(app_client)
    created = side.create([{"_ref": record["id"], **record["properties"]}])
    (row,) = side.read_all().to_dict("records")
    assert row[ORIGIN_HUBSPOT_ID] == primary_ids[0] and row[RECORD_ID] == created.written[primary_ids[0]]


# --- reads --------------------------------------------------------------------------------------------
def test_changed_since_is_inclusive_to_the_millisecond(app_client, app_portal):
    old, at, new = (seed_one(app_portal, f"{name}@example.com", T + dt.timedelta(seconds=offset))
                    for name, offset in (("old", -1), ("at", 0), ("new", 1)))
    side = contacts(app_client)
    assert set(side.read_changed_since(T)[RECORD_ID]) == {at, new}
    assert set(side.read_changed_since(T + dt.timedelta(microseconds=1))[RECORD_ID]) == {new}
    assert set(side.read_changed_since(T - dt.timedelta(seconds=5))[RECORD_ID]) == {old, at, new}


def test_read_by_ids_leaves_out_missing_and_archived_records(app_client, app_portal):
    live, archived = app_portal.seed("contacts", [{"email": "live@example.com"}, {"email": "archived@example.com"}])
    app_client.batch_archive("contacts", [archived])
    side = contacts(app_client)
    assert list(side.read_by_ids([live, archived, "424242", live])[RECORD_ID]) == [live]
    empty = side.read_by_ids([])
    assert empty.empty and list(empty.columns) == FRAME_COLUMNS


def test_app_portal_filters_flag_records(app_client, app_portal):
    french, other = app_portal.seed("contacts", [{"email": "f@example.com", "country": "france"}, {"email": "o@example.com"}])
    side = contacts(app_client, filters=[FilterRule(field="country", operator=FilterOperator.EQ, value="France")])
    flags = by_id(side.read_all())
    assert (flags[french]["_in_filters"], flags[other]["_in_filters"]) == (True, False)
    assert "country" not in flags[french]  # read for the filter, not a field of the sync


def test_lookup_by_email_ignores_case_and_space(app_client, app_portal):
    ada, _ = app_portal.seed("contacts", [{"email": "ada@example.com"}, {"email": "bob@example.com"}])
    side = contacts(app_client)
    before = app_client.call_counts[BATCH_READ]
    found = side.lookup("email", ["  ADA@Example.com ", "nobody@example.com", "", None])
    assert list(found[RECORD_ID]) == [ada]
    assert app_client.call_counts[BATCH_READ] == before + 1 and app_client.call_counts[SEARCH] == 0
    assert side.lookup("email", []).empty


def test_lookup_by_another_property_searches_ignoring_case(app_client, app_portal):
    acme, _ = app_portal.seed("companies", [{"name": "Acme", "domain": "Acme.COM"}, {"name": "Initech", "domain": "initech.com"}])
    side = HubSpotSide(app_client, COMPANIES)
    assert list(side.lookup("domain", [" acme.com", "ACME.com"])[RECORD_ID]) == [acme]
    assert app_client.call_counts[SEARCH] == 1
    with pytest.raises(DatasyncError, match="maps no property to 'industry'"):
        side.lookup("industry", ["software"])


# --- deletions ----------------------------------------------------------------------------------------
def test_archived_records_are_deleted_among_and_since(app_client, app_portal):
    kept, archived = app_portal.seed("contacts", [{"email": "kept@example.com"}, {"email": "gone@example.com"}])
    side = contacts(app_client)
    now = dt.datetime.now(UTC)
    before = now.replace(microsecond=now.microsecond // 1000 * 1000)  # whole milliseconds, as HubSpot stamps
    app_client.batch_archive("contacts", [archived])
    assert side.deleted_among([kept, archived, "424242"]) == [archived, "424242"]
    deleted = side.deleted_since(before)
    assert list(deleted) == [archived]
    stamp = deleted[archived]
    assert side.deleted_since(stamp) == {archived: stamp}  # inclusive
    assert side.deleted_since(stamp + dt.timedelta(milliseconds=1)) == {}


def test_undelete_refuses_archived_records_with_a_reason(app_client, app_portal):
    live, archived = app_portal.seed("contacts", [{"email": "live@example.com"}, {"email": "gone@example.com"}])
    app_client.batch_archive("contacts", [archived])
    result = contacts(app_client).undelete([live, archived])
    assert result.written == {live: live}
    assert result.failed[archived].category == ErrorCategory.DELETED_IN_APP
    assert "no API to restore" in result.failed[archived].message


# --- the change probe ---------------------------------------------------------------------------------
def test_newest_changes_with_records_sharing_one_timestamp(app_client, app_portal):
    earlier = seed_one(app_portal, "earlier@example.com", T - dt.timedelta(seconds=1))
    tied = app_portal.seed("contacts", [{"email": f"tied{n}@example.com"} for n in range(5)], updated_at=T)
    side = contacts(app_client)

    page, complete = side.newest_changes(T - dt.timedelta(seconds=5), limit=3)
    assert len(page) == 3 and not complete  # the limit, and more remain
    assert {record_id for record_id, _ in page} <= set(tied) and {stamp for _, stamp in page} == {T}

    page, complete = side.newest_changes(T - dt.timedelta(seconds=5), limit=6)
    assert complete and page[-1] == (earlier, T - dt.timedelta(seconds=1)) and set(dict(page)) == {earlier, *tied}

    page, complete = side.newest_changes(T - dt.timedelta(microseconds=1), limit=10)  # the same millisecond: after
    assert complete and sorted(page) == sorted((record_id, T) for record_id in tied)
    assert side.newest_changes(T, limit=10) == ([], True)  # strictly after
    assert app_client.call_counts[SEARCH] == 4  # one search each


def test_newest_changes_count_an_archive_as_a_change(app_client, app_portal):
    kept, archived = app_portal.seed("contacts", [{"email": "kept@example.com"}, {"email": "gone@example.com"}], updated_at=T)
    app_client.batch_archive("contacts", [archived])
    archived_at = contacts(app_client).deleted_since(T)[archived]
    side = contacts(app_client)

    assert side.newest_changes(T - dt.timedelta(seconds=1), limit=10) == ([(archived, archived_at), (kept, T)], True)
    assert side.newest_changes(T - dt.timedelta(seconds=1), limit=1) == ([(archived, archived_at)], False)
    assert side.newest_changes(archived_at, limit=10) == ([], True)


# --- updates and origins ------------------------------------------------------------------------------
def test_update_sets_and_clears_fields_and_fails_archived_records(app_client, app_portal):
    record, archived = app_portal.seed("contacts", [{"email": "u@example.com", "firstname": "Ann", "lastname": "Lee"},
                                                    {"email": "archived@example.com"}])
    app_client.batch_archive("contacts", [archived])
    side = contacts(app_client)
    result = side.update({record: {"firstname": "Anne", "lastname": None}, archived: {"firstname": "Nobody"}})
    assert set(result.written) == {record}
    assert result.failed[archived].category == ErrorCategory.DELETED_IN_APP
    row = by_id(side.read_by_ids([record]))[record]
    assert (row["firstname"], row["lastname"]) == ("Anne", None)
    assert result.stamped[record] == row["_modified_at"] == side.written_stamps()[record]


def test_kept_origins_make_the_next_create_an_update(app_client, app_portal):
    (linked,) = app_portal.seed("contacts", [{"email": "linked@example.com", "firstname": "Old"}])
    side = contacts(app_client)  # the origin property does not exist yet: the connector makes it
    kept = side.update({}, origins={linked: "900"})
    assert kept.written == {linked: linked} and linked in side.written_stamps()
    assert by_id(side.read_all())[linked][ORIGIN_HUBSPOT_ID] == "900"
    created = side.create([{"_ref": "900", "email": "linked@example.com", "firstname": "New"}])
    assert created.written == {"900": linked}
    assert len(side.read_all()) == 1


def test_fields_and_origins_go_in_one_batch_update(app_client, app_portal):
    first, second = app_portal.seed("contacts", [{"email": "first@example.com"}, {"email": "second@example.com"}])
    side = contacts(app_client)
    side.update({}, origins={first: "1"})  # makes the origin property
    before = app_client.call_counts["POST /crm/v3/objects/{type}/batch/update"]
    result = side.update({first: {"firstname": "First"}, second: {"firstname": "Second"}}, origins={first: "2"})
    assert result.written == {first: first, second: second}
    assert app_client.call_counts["POST /crm/v3/objects/{type}/batch/update"] == before + 1
    rows = by_id(side.read_all())
    assert [(rows[record_id]["firstname"], rows[record_id][ORIGIN_HUBSPOT_ID]) for record_id in (first, second)] == [
        ("First", "2"), ("Second", None)]


def test_two_records_cannot_keep_the_same_origin(app_client, app_portal):
    first, second = app_portal.seed("contacts", [{"email": "a@example.com"}, {"email": "b@example.com"}])
    side = contacts(app_client)
    assert side.update({}, origins={first: "5"}).written == {first: first}
    clash = side.update({}, origins={second: "5"})
    assert clash.failed[second].category == ErrorCategory.DUPLICATE_ON_OTHER_SIDE


# --- associations -------------------------------------------------------------------------------------
def test_primary_companies_are_read_and_written(app_client, app_portal):
    acme, initech = app_portal.seed("companies", [{"name": "Acme"}, {"name": "Initech"}])
    ada, bob, cy = app_portal.seed("contacts", [{"email": f"{name}@example.com"} for name in ("ada", "bob", "cy")])
    app_portal.associate("contacts", ada, "companies", acme, primary=True)
    app_portal.associate("contacts", bob, "companies", initech)  # an ordinary link is not the primary company
    side = contacts(app_client, associations=[AssociationSpec(object="companies", app_column="ignored")])
    read = by_id(side.read_all())
    assert [read[record_id]["_association_companies"] for record_id in (ada, bob, cy)] == [acme, None, None]

    result = side.set_associations({ada: {"companies": initech}, bob: {"companies": acme}, cy: {"companies": "424242"}})
    assert set(result.written) == {ada, bob}
    assert result.failed[cy].category == ErrorCategory.ASSOCIATION_FAILED
    read = by_id(side.read_by_ids([ada, bob, cy]))
    assert [read[record_id]["_association_companies"] for record_id in (ada, bob, cy)] == [initech, acme, None]
    # a new primary demotes the old one, which HubSpot keeps as an ordinary association
    links = app_client.read_associations("contacts", "companies", [ada])[ada]
    assert {link["toObjectId"] for link in links} == {acme, initech}

    cleared = side.set_associations({ada: {"companies": None}})
    assert cleared.written == {ada: ada}
    assert by_id(side.read_by_ids([ada]))[ada]["_association_companies"] is None
    assert {link["toObjectId"] for link in app_client.read_associations("contacts", "companies", [ada])[ada]} == {acme}
    assert side.set_associations({ada: {"companies": None}}).written == {ada: ada}  # already so: nothing to do


def test_an_association_without_a_primary_is_replaced(app_client, app_portal):
    ada, bob = app_portal.seed("contacts", [{"email": "ada@example.com"}, {"email": "bob@example.com"}])
    (deal,) = app_portal.seed("deals", [{"dealname": "Big deal"}])
    side = HubSpotSide(app_client, SideBinding("deals", "deals", {"dealname": "dealname"},
                                               associations=[AssociationSpec(object="contacts", app_column="contact_id")]))
    assert side.set_associations({deal: {"contacts": bob}}).written == {deal: deal}
    assert by_id(side.read_all())[deal]["_association_contacts"] == bob
    assert side.set_associations({deal: {"contacts": ada}}).written == {deal: deal}
    assert by_id(side.read_all())[deal]["_association_contacts"] == ada
    assert [link["toObjectId"] for link in app_client.read_associations("deals", "contacts", [deal])[deal]] == [ada]


# --- value types --------------------------------------------------------------------------------------
def test_value_types_follow_the_property_definitions(app_client):
    yes_no = [{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}]
    app_client.create_property("contacts", {"name": "is_vip", "label": "VIP", "type": "enumeration", "fieldType": "booleancheckbox",
                                            "groupName": "contactinformation", "options": yes_no})
    app_client.create_property("contacts", {"name": "renewal", "label": "Renewal", "type": "date", "fieldType": "date",
                                            "groupName": "contactinformation"})
    types = contacts(app_client).value_types()
    assert types["email"] == FieldType(ValueType.STRING, "string (text)")
    assert types["associatedcompanyid"] == FieldType(ValueType.NUMBER, "number (number)")
    assert types["lastmodifieddate"].value_type == ValueType.DATETIME
    assert types["lifecyclestage"].value_type == ValueType.ENUMERATION
    assert types["is_vip"] == FieldType(ValueType.BOOL, "enumeration (booleancheckbox)")
    assert types["renewal"].value_type == ValueType.DATE
    assert "no_such_property" not in types


def test_engine_values_are_sent_as_hubspot_text():
    values = (True, 12.0, 12.5, dt.date(2025, 3, 1), T, dt.datetime(2025, 3, 1, 12, 0), " x ")
    assert [property_text(value) for value in values] == [
        "true", "12", "12.5", "2025-03-01", "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:00.000Z", " x "]
    assert [property_text(value) for value in (None, float("nan"), pd.NaT, "  ")] == [None, None, None, None]
