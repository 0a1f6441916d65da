"""HubSpot-to-HubSpot sync end to end: a second portal as a sync's app side, through the real Dagster runs.

Two embedded sandbox portals: ``hubspot`` (the sync's HubSpot side, "portal A") and ``portal_b`` (its app side).
Every rule a SQL app follows holds here too: identity matching, creates both ways, the default app, directions,
custom mappings, filters, associations, incremental runs seen by the change sensor, deletions and restores, and
crash-safe reruns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from typer.testing import CliRunner

from datasync_pipeline.cli import app as cli_app
from datasync_pipeline.config import DatasyncConfig, parse_config
from datasync_pipeline.config.checks import live_problems
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.connectors.hubspot.app_side import DEFAULT_ORIGIN_PROPERTY, HubSpotSide
from datasync_pipeline.defs.launch import run_first_sync, run_incremental, run_restore
from datasync_pipeline.defs.resources import HubSpotResource, StateStoreResource
from datasync_pipeline.defs.sensors import build_change_sensor
from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline.state import StateStore, echoes

CONTACT_PROPERTIES = ["email", "firstname", "lastname", "city", "phone", "country", "jobtitle"]


@dataclass
class Portal:
    """One embedded sandbox portal, written and read as a user (or HubSpot itself) would.

    Each use opens the portal's file afresh, as another process would: a sandbox reads its property definitions
    when it opens, and the runs create the origin property in their own."""

    path: Path
    opened: list[Sandbox] = field(default_factory=list)

    @property
    def sandbox(self) -> Sandbox:
        sandbox = Sandbox(SandboxSettings(db_path=str(self.path), tier="unlimited"))
        self.opened.append(sandbox)
        return sandbox

    def close(self) -> None:
        for sandbox in self.opened:
            sandbox.close()

    def client(self) -> HubSpotClient:
        return HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                             transport=httpx.WSGITransport(app=self.sandbox.wsgi_app))

    def _http(self) -> httpx.Client:
        return httpx.Client(transport=httpx.WSGITransport(app=self.sandbox.wsgi_app), base_url="http://sandbox",
                            headers={"Authorization": "Bearer sandbox-token"})

    def seed(self, object_type: str, records: list[dict]) -> list[str]:
        return self.sandbox.seed(object_type, records)

    def records(self, object_type: str, properties: list[str]) -> dict[str, dict]:
        """Live records by id, with these properties."""
        with self.client() as client:
            return {r["id"]: r["properties"] for r in client.list_records(object_type, properties=properties)}

    def contacts(self, *extra: str) -> dict[str, dict]:
        """Live contacts by lower-cased email (each email once: a duplicate fails the test), with their id."""
        found: dict[str, dict] = {}
        for record_id, properties in self.records("contacts", [*CONTACT_PROPERTIES, *extra]).items():
            email = (properties.get("email") or "").strip().lower()
            assert email not in found, f"two contacts with {email!r}"
            found[email] = {**properties, "id": record_id}
        return found

    def update(self, object_type: str, record_id: str, **properties: Any) -> None:
        with self._http() as http:
            http.patch(f"/crm/v3/objects/{object_type}/{record_id}", json={"properties": properties}).raise_for_status()

    def archive(self, object_type: str, record_id: str) -> None:
        with self._http() as http:
            http.delete(f"/crm/v3/objects/{object_type}/{record_id}").raise_for_status()

    def create_property(self, object_type: str, name: str, *, type: str = "string", field_type: str = "text") -> None:
        with self.client() as client:
            client.create_property(object_type, {"name": name, "label": name, "type": type, "fieldType": field_type,
                                                 "groupName": f"{object_type[:-1]}information"})

    def primary_company(self, contact_ids: list[str]) -> dict[str, str | None]:
        with self.client() as client:
            links = client.read_associations("contacts", "companies", contact_ids)
        primary = {}
        for contact_id in contact_ids:
            targets = [str(link["toObjectId"]) for link in links.get(contact_id, [])
                       if any(kind.get("typeId") == 1 for kind in link.get("associationTypes", []))]
            primary[contact_id] = targets[0] if targets else None
        return primary


@dataclass
class World:
    home: Path
    a: Portal  # the sync's HubSpot side
    b: Portal  # the sync's app side: a second portal

    def config(self, *, companies: bool = False, associations: bool = False, **contacts: Any) -> DatasyncConfig:
        """``b_contacts`` (with these settings) and, with ``companies``, ``b_companies``: both between the portals."""
        syncs = []
        if companies:
            syncs.append({"name": "b_companies", "object": "companies", "hubspot": "hubspot", "app": "portal_b"})
        contacts_sync = {"name": "b_contacts", "object": "contacts", "hubspot": "hubspot", "app": "portal_b", **contacts}
        if associations:
            contacts_sync["associations"] = [{"object": "companies"}]  # a portal keeps associations itself: no column
        syncs.append(contacts_sync)
        document = {
            "connections": {
                "hubspot": {"kind": "hubspot", "sandbox": {"path": str(self.home / "sandbox.sqlite")}, "tier": "unlimited"},
                "portal_b": {"kind": "hubspot", "sandbox": {"path": str(self.home / "portal_b.sqlite")}, "tier": "unlimited"},
            },
            "state": {"url": f"sqlite:///{self.home}/state.sqlite"},
            "syncs": syncs,
        }
        text = json.dumps(document, indent=2)  # YAML is a superset of JSON
        (self.home / "datasync.yaml").write_text(text)
        return parse_config(text, source=str(self.home / "datasync.yaml"))

    def store(self) -> StateStore:
        return StateStore(f"sqlite:///{self.home}/state.sqlite")


@pytest.fixture
def world(tmp_path: Path):
    a, b = Portal(tmp_path / "sandbox.sqlite"), Portal(tmp_path / "portal_b.sqlite")
    yield World(tmp_path, a, b)
    a.close()
    b.close()


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def first_sync(config: DatasyncConfig, instance) -> dict[str, Any]:
    report = run_first_sync(config, instance=instance)
    assert report.success, report.failure
    return {sync.name: sync for sync in report.syncs}


def incremental(config: DatasyncConfig, instance, *, reason: str = "change") -> dict[str, Any]:
    report = run_incremental(config, [sync.name for sync in config.syncs], instance=instance, reason=reason)
    assert report.success, report.failure
    return {sync.name: sync for sync in report.syncs}


# --- first sync ---------------------------------------------------------------------------------------------


def test_first_sync_links_contacts_by_email_ignoring_case_and_creates_the_rest_in_each_portal(world, instance):
    [ann_a, _, invalid_a] = world.a.seed("contacts", [{"email": "ann@example.com", "firstname": "Ann"},
                                                       {"email": "bob@example.com", "firstname": "Bob"},
                                                       {"email": "not-an-email", "firstname": "Nobody"}])
    [ann_b, _] = world.b.seed("contacts", [{"email": "Ann@EXAMPLE.com", "lastname": "Berg"}, {"email": "cy@example.com", "firstname": "Cy"}])
    config = world.config()

    run = first_sync(config, instance)["b_contacts"]

    assert run.value("matched", "datasync/matched") == 1
    assert run.value("hubspot_load", "datasync/created") == 1 and run.value("app_load", "datasync/created") == 1
    assert run.value("hubspot_load", "datasync/failed") == 0 and run.value("app_load", "datasync/failed") == 0
    a, b = world.a.contacts(), world.b.contacts()
    assert sorted(a) == ["ann@example.com", "bob@example.com", "cy@example.com", "not-an-email"]
    assert sorted(b) == ["ann@example.com", "bob@example.com", "cy@example.com"]  # the invalid address stays out
    assert a["ann@example.com"]["id"] == ann_a and b["ann@example.com"]["id"] == ann_b  # matched: updated, not duplicated
    assert (a["ann@example.com"]["lastname"], b["ann@example.com"]["firstname"]) == ("Berg", "Ann")  # empty sides filled
    assert b["bob@example.com"]["firstname"] == "Bob" and a["cy@example.com"]["firstname"] == "Cy"
    store = world.store()
    assert store.pair_count("b_contacts") == 3
    assert store.outcome_counts("b_contacts") == {"excluded/no unique identity": 1}
    assert invalid_a not in set(store.known_pairs("b_contacts")["hubspot_id"])  # the excluded record is the invalid one
    # Each record in portal B keeps its pair's HubSpot id (the origin property): a rerun links instead of creating.
    origins = world.b.records("contacts", ["email", DEFAULT_ORIGIN_PROPERTY])
    assert {p["email"].lower(): p[DEFAULT_ORIGIN_PROPERTY] for p in origins.values()} == {
        email: f"b_contacts:{a[email]['id']}" for email in b}

    # Both watermarks are moved past the run's own writes (nothing else changed): no run follows to read them again.
    marks = store.watermarks("b_contacts")
    assert all(echoes.count_after(store, "b_contacts", side, marks[side]) == 0 for side in ("hubspot", "app"))

    rerun = first_sync(config, instance)["b_contacts"]
    for step in ("hubspot_load", "app_load"):
        assert rerun.value(step, "datasync/created") == 0 and rerun.value(step, "datasync/updated") == 0
    assert world.a.contacts() == a and world.b.contacts() == b


@pytest.mark.parametrize("default_app", ["hubspot", "app"])
def test_a_field_both_portals_hold_differently_goes_to_the_default_app(world, instance, default_app):
    [ann_a] = world.a.seed("contacts", [{"email": "ann@example.com", "firstname": "Ann", "city": "Berlin"}])
    world.b.seed("contacts", [{"email": "ann@example.com", "firstname": "Anna", "phone": "+49 30 1"}])

    first_sync(world.config(default_app=default_app), instance)

    a, b = world.a.contacts()["ann@example.com"], world.b.contacts()["ann@example.com"]
    winner = "Ann" if default_app == "hubspot" else "Anna"
    assert a["firstname"] == b["firstname"] == winner
    assert a["city"] == b["city"] == "Berlin" and a["phone"] == b["phone"] == "+49 30 1"  # one side empty: filled either way
    conflicts = world.store().conflicts("b_contacts")
    assert conflicts[["hubspot_id", "field", "hubspot_value", "app_value", "winner"]].values.tolist() == [
        [ann_a, "firstname", "Ann", "Anna", default_app]]


@pytest.mark.parametrize("direction", ["two_way", "app_to_hubspot", "hubspot_to_app"])
def test_each_direction_writes_only_its_way(world, instance, direction):
    world.a.seed("contacts", [{"email": "ann@example.com", "firstname": "Ann"}, {"email": "only-a@example.com"}])
    world.b.seed("contacts", [{"email": "ann@example.com", "lastname": "Berg"}, {"email": "only-b@example.com"}])

    first_sync(world.config(direction=direction), instance)

    a, b = world.a.contacts(), world.b.contacts()
    to_a = direction in ("two_way", "app_to_hubspot")
    to_b = direction in ("two_way", "hubspot_to_app")
    assert ("only-b@example.com" in a, a["ann@example.com"]["lastname"]) == ((True, "Berg") if to_a else (False, None))
    assert ("only-a@example.com" in b, b["ann@example.com"]["firstname"]) == ((True, "Ann") if to_b else (False, None))


def test_custom_mappings_pair_a_property_with_a_differently_named_one_and_a_custom_property_on_both_portals(world, instance):
    world.a.create_property("contacts", "loyalty_tier")
    world.b.create_property("contacts", "loyalty_tier")
    world.b.create_property("contacts", "job_function")
    world.a.seed("contacts", [{"email": "ann@example.com", "jobtitle": "Engineer", "loyalty_tier": "gold"}])
    world.b.seed("contacts", [{"email": "ann@example.com"}, {"email": "bob@example.com", "job_function": "Chef", "loyalty_tier": "silver"}])
    config = world.config(mappings=[{"hubspot": "jobtitle", "app": "job_function"}, {"hubspot": "loyalty_tier", "app": "loyalty_tier"}])
    assert live_problems(config) == []

    first_sync(config, instance)

    a, b = world.a.contacts("loyalty_tier"), world.b.contacts("job_function", "loyalty_tier")
    assert (b["ann@example.com"]["job_function"], b["ann@example.com"]["loyalty_tier"]) == ("Engineer", "gold")
    assert b["ann@example.com"]["jobtitle"] is None  # the default property name is not written: the mapping renamed it
    assert (a["bob@example.com"]["jobtitle"], a["bob@example.com"]["loyalty_tier"]) == ("Chef", "silver")


def test_check_and_the_run_read_the_app_portals_property_definitions(world, instance):
    world.a.create_property("contacts", "loyalty_tier")
    world.a.create_property("contacts", "score", type="number", field_type="number")
    world.b.create_property("contacts", "score_text")
    world.b.seed("contacts", [{"email": "ann@example.com"}])
    config = world.config(mappings=[{"hubspot": "loyalty_tier", "app": "loyalty_tyer"}, {"hubspot": "score", "app": "score_text"},
                                    {"hubspot": "city", "app": "town"}],
                          filters={"app": [{"field": "contry", "operator": "eq", "value": "DE"}]})

    problems = {path: message for path, message in live_problems(config)}

    assert "loyalty_tyer" in problems[("syncs", 0, "mappings", 0)]
    assert "has no field" in problems[("syncs", 0, "mappings", 0)]
    assert "number" in problems[("syncs", 0, "mappings", 1)] and "string" in problems[("syncs", 0, "mappings", 1)]
    assert "town" in problems[("syncs", 0, "mappings", 2)]
    assert "contry" in problems[("syncs", 0, "filters", "app", 0, "field")] and "country" in problems[("syncs", 0, "filters", "app", 0, "field")]
    assert len(problems) == 4
    # A run stops at its first step with the same problems, before anything is written to either portal.
    report = run_first_sync(config, instance=instance)
    assert not report.success and "contacts of portal_b: 4 mapping(s) cannot work" in report.failure
    assert [p["email"] for p in world.b.records("contacts", ["email"]).values()] == ["ann@example.com"]
    assert world.a.records("contacts", ["email"]) == {}


def test_filters_on_both_portals_limit_the_first_sync_and_linked_records_keep_syncing(world, instance):
    world.a.seed("contacts", [{"email": "ann@example.com", "city": "Berlin"}, {"email": "bob@example.com", "city": "Hamburg"}])
    world.b.seed("contacts", [{"email": "cy@example.com", "country": "DE"}, {"email": "dee@example.com", "country": "AT"}])
    config = world.config(filters={"hubspot": [{"field": "city", "operator": "eq", "value": "Berlin"}],
                                   "app": [{"field": "country", "operator": "eq", "value": "DE"}]})

    run = first_sync(config, instance)["b_contacts"]

    assert sorted(world.b.contacts()) == ["ann@example.com", "cy@example.com", "dee@example.com"]
    assert sorted(world.a.contacts()) == ["ann@example.com", "bob@example.com", "cy@example.com"]
    assert world.store().outcome_counts("b_contacts") == {"excluded/outside filters": 2}
    assert run.value("app_load", "datasync/created") == 1 and run.value("hubspot_load", "datasync/created") == 1
    # Rule 7: once linked, a pair syncs whatever its values become.
    ann = world.a.contacts()["ann@example.com"]["id"]
    world.a.update("contacts", ann, city="Hamburg")
    incremental(config, instance)
    assert world.b.contacts()["ann@example.com"]["city"] == "Hamburg"


def test_companies_match_by_domain_or_name_and_the_primary_company_of_a_contact_is_kept_both_ways(world, instance):
    acme_a, alpen_a, only_a = world.a.seed("companies", [{"name": "Acme", "domain": "acme.io"}, {"name": "Alpen GmbH"}, {"name": "Only A"}])
    acme_b, alpen_b, only_b = world.b.seed("companies", [{"name": "ACME Inc.", "domain": "WWW.Acme.io"}, {"name": "alpen gmbh"},
                                                         {"name": "Only B", "domain": "onlyb.de"}])
    ann_a, bob_a = world.a.seed("contacts", [{"email": "ann@example.com"}, {"email": "bob@example.com"}])
    [cy_b, ann_b] = world.b.seed("contacts", [{"email": "cy@example.com"}, {"email": "ann@example.com"}])
    world.a.sandbox.associate("contacts", ann_a, "companies", acme_a, primary=True)
    world.a.sandbox.associate("contacts", bob_a, "companies", only_a, primary=True)
    world.b.sandbox.associate("contacts", cy_b, "companies", only_b, primary=True)
    config = world.config(companies=True, associations=True)

    runs = first_sync(config, instance)

    assert runs["b_companies"].value("matched", "datasync/matched") == 2
    companies = world.store().known_pairs("b_companies")
    pairs = dict(zip(companies["hubspot_id"], companies["app_id"]))
    assert pairs[acme_a] == acme_b and pairs[alpen_a] == alpen_b and len(pairs) == 4
    assert len(world.a.records("companies", ["name"])) == len(world.b.records("companies", ["name"])) == 4
    a, b = world.a.contacts(), world.b.contacts()
    assert world.b.primary_company([ann_b, b["bob@example.com"]["id"]]) == {ann_b: acme_b, b["bob@example.com"]["id"]: pairs[only_a]}
    only_b_in_a = next(h for h, app_id in pairs.items() if app_id == only_b)
    assert world.a.primary_company([a["cy@example.com"]["id"], ann_a]) == {a["cy@example.com"]["id"]: only_b_in_a, ann_a: acme_a}
    assert runs["b_contacts"].value("associations", "datasync/failed") == 0

    # A company changed in portal B (with an edit, or found by the reconciling run) follows to portal A.
    world.b.sandbox.associate("contacts", ann_b, "companies", alpen_b, primary=True)
    incremental(config, instance, reason="reconcile")
    assert world.a.primary_company([ann_a]) == {ann_a: alpen_a}
    # And a change in portal A follows to portal B.
    world.a.sandbox.associate("contacts", ann_a, "companies", only_b_in_a, primary=True)
    incremental(config, instance, reason="reconcile")
    assert world.b.primary_company([ann_b]) == {ann_b: only_b}


# --- ongoing sync -------------------------------------------------------------------------------------------


def sensor_tick(world: World, config: DatasyncConfig, instance) -> tuple[Any, dict]:
    """One evaluation of the change sensor, with each portal's own resource."""
    resources = {
        "connection_hubspot": HubSpotResource(sandbox_path=str(world.home / "sandbox.sqlite"), tier="unlimited"),
        "connection_portal_b": HubSpotResource(sandbox_path=str(world.home / "portal_b.sqlite"), tier="unlimited"),
        "state_store": StateStoreResource(url=f"sqlite:///{world.home}/state.sqlite"),
    }
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = build_change_sensor(config)(context)
        return result, json.loads(context.cursor)


def test_an_edit_in_each_portal_is_seen_by_the_change_sensor_and_synced_by_the_incremental_run(world, instance):
    world.a.seed("contacts", [{"email": "ann@example.com", "firstname": "Ann"}, {"email": "bob@example.com", "firstname": "Bob"}])
    world.b.seed("contacts", [{"email": "ann@example.com", "firstname": "Ann"}])
    config = world.config()
    first_sync(config, instance)
    idle, _ = sensor_tick(world, config, instance)
    assert isinstance(idle, dg.SkipReason), idle  # the first sync's own writes are no change

    a, b = world.a.contacts(), world.b.contacts()
    world.a.update("contacts", a["ann@example.com"]["id"], city="Bonn")
    world.b.update("contacts", b["bob@example.com"]["id"], lastname="Berg")
    world.b.seed("contacts", [{"email": "dee@example.com", "firstname": "Dee"}])
    result, cursor = sensor_tick(world, config, instance)

    [request] = result
    assert request.tags["datasync/sync"] == "b_contacts"
    assert cursor["syncs"]["b_contacts"]["hubspot"]["count"] == 1 and cursor["syncs"]["b_contacts"]["app"]["count"] == 2
    run = incremental(config, instance)["b_contacts"]
    assert run.value("app_load", "datasync/updated") == 1 and run.value("hubspot_load", "datasync/updated") == 1
    assert run.value("hubspot_load", "datasync/created") == 1 and run.value("app_load", "datasync/created") == 0
    a, b = world.a.contacts(), world.b.contacts()
    assert b["ann@example.com"]["city"] == "Bonn" and a["bob@example.com"]["lastname"] == "Berg"
    assert a["dee@example.com"]["firstname"] == "Dee"

    # The run's own writes come back as changes in both portals; the sensor knows them and skips.
    after, cursor = sensor_tick(world, config, instance)
    assert isinstance(after, dg.SkipReason), after
    again = incremental(config, instance)["b_contacts"]
    for step in ("hubspot_load", "app_load"):
        assert again.value(step, "datasync/created") == 0 and again.value(step, "datasync/updated") == 0


@pytest.fixture
def deleted(world, instance):
    """Ann archived in portal A, Ben archived in portal B, after both were synced."""
    world.a.seed("contacts", [{"email": "ann@example.com", "firstname": "Ann", "city": "Berlin"}, {"email": "ben@example.com", "firstname": "Ben"}])
    world.b.seed("contacts", [{"email": "ann@example.com", "lastname": "Alder"}, {"email": "ben@example.com", "phone": "+43 1"}])
    config = world.config()
    first_sync(config, instance)
    a, b = world.a.contacts(), world.b.contacts()
    world.a.archive("contacts", a["ann@example.com"]["id"])
    world.b.archive("contacts", b["ben@example.com"]["id"])
    return config, a, b


def test_a_record_archived_in_either_portal_marks_its_pair_deleted_and_the_survivor_stays(world, instance, deleted):
    config, a, b = deleted

    run = incremental(config, instance, reason="reconcile")["b_contacts"]

    assert run.value("checkpoint", "datasync/deleted_in_hubspot") == 1 and run.value("checkpoint", "datasync/deleted_in_app") == 1
    assert sorted(world.a.contacts()) == ["ben@example.com"] and sorted(world.b.contacts()) == ["ann@example.com"]  # survivors live
    store = world.store()
    assert store.outcome_counts("b_contacts") == {"failed/deleted_in_hubspot": 1, "failed/deleted_in_app": 1}
    assert set(store.known_pairs("b_contacts", status="deleted_in_hubspot")["hubspot_id"]) == {a["ann@example.com"]["id"]}
    assert set(store.known_pairs("b_contacts", status="deleted_in_app")["app_id"]) == {b["ben@example.com"]["id"]}
    # An edit of a survivor does not bring its deleted pair back.
    world.b.update("contacts", b["ann@example.com"]["id"], city="Graz")
    incremental(config, instance)
    assert sorted(world.a.contacts()) == ["ben@example.com"]


def test_a_change_run_finds_an_archive_in_the_app_portal_without_a_reconcile(world, instance, deleted):
    config, _, b = deleted

    run = incremental(config, instance)["b_contacts"]

    assert run.value("checkpoint", "datasync/deleted_in_app") == 1
    assert set(world.store().known_pairs("b_contacts", status="deleted_in_app")["app_id"]) == {b["ben@example.com"]["id"]}


def test_restore_recreates_a_record_archived_in_portal_a_and_repoints_portal_b(world, instance, deleted):
    config, a, b = deleted
    incremental(config, instance, reason="reconcile")

    preview = run_restore(config, "b_contacts", "hubspot", preview=True, instance=instance)
    assert preview.success and preview.records["hubspot_id"].tolist() == [a["ann@example.com"]["id"]]
    done = run_restore(config, "b_contacts", "hubspot", preview=False, instance=instance)

    assert done.success and done.metadata["datasync/restored"] == 1
    ann = world.a.contacts()["ann@example.com"]
    assert ann["id"] != a["ann@example.com"]["id"] and (ann["firstname"], ann["city"], ann["lastname"]) == ("Ann", "Berlin", "Alder")
    origin = world.b.records("contacts", [DEFAULT_ORIGIN_PROPERTY])[b["ann@example.com"]["id"]][DEFAULT_ORIGIN_PROPERTY]
    assert origin == f"b_contacts:{ann['id']}"  # portal B's record follows its pair to the new record
    assert world.store().outcome_counts("b_contacts") == {"failed/deleted_in_app": 1}
    world.b.update("contacts", b["ann@example.com"]["id"], city="Linz")
    incremental(config, instance)
    assert world.a.contacts()["ann@example.com"]["city"] == "Linz"
    assert run_restore(config, "b_contacts", "hubspot", preview=True, instance=instance).records.empty


def test_restore_recreates_a_record_archived_in_portal_b_and_relinks_it(world, instance, deleted):
    config, a, b = deleted
    incremental(config, instance, reason="reconcile")

    done = run_restore(config, "b_contacts", "app", preview=False, instance=instance)

    assert done.success and done.metadata["datasync/restored"] == 1
    ben = world.b.contacts(DEFAULT_ORIGIN_PROPERTY)["ben@example.com"]
    assert ben["id"] != b["ben@example.com"]["id"] and (ben["firstname"], ben["phone"]) == ("Ben", "+43 1")
    assert ben[DEFAULT_ORIGIN_PROPERTY] == f"b_contacts:{a['ben@example.com']['id']}"
    pairs = world.store().known_pairs("b_contacts", status="synced")
    assert dict(zip(pairs["hubspot_id"], pairs["app_id"]))[a["ben@example.com"]["id"]] == ben["id"]
    assert world.store().outcome_counts("b_contacts") == {"failed/deleted_in_hubspot": 1}
    world.a.update("contacts", a["ben@example.com"]["id"], city="Wels")
    incremental(config, instance)
    assert world.b.contacts()["ben@example.com"]["city"] == "Wels"
    assert run_restore(config, "b_contacts", "app", preview=True, instance=instance).records.empty


# --- crashes ------------------------------------------------------------------------------------------------


class SimulatedCrash(RuntimeError):
    pass


@pytest.mark.parametrize("dies_in", ["hubspot_load", "app_load"])
def test_a_run_killed_after_its_creates_reruns_without_duplicates(world, instance, monkeypatch, dies_in):
    world.a.seed("contacts", [{"email": f"a{i}@example.com", "firstname": f"A{i}"} for i in range(5)] + [{"email": "both@example.com"}])
    world.b.seed("contacts", [{"email": f"b{i}@example.com", "firstname": f"B{i}"} for i in range(5)] + [{"email": "BOTH@example.com"}])
    config = world.config()
    owner, name = (HubSpotClient, "batch_upsert") if dies_in == "hubspot_load" else (HubSpotSide, "create")
    real = getattr(owner, name)

    def writes_then_dies(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise SimulatedCrash(f"worker killed after the creates of {dies_in}")

    with monkeypatch.context() as patch:
        patch.setattr(owner, name, writes_then_dies)
        crashed = run_first_sync(config, instance=instance)
    assert not crashed.success
    assert len(world.a.contacts()) + len(world.b.contacts()) > 12  # the creates were written before the crash

    first_sync(config, instance)

    expected = sorted([f"a{i}@example.com" for i in range(5)] + [f"b{i}@example.com" for i in range(5)] + ["both@example.com"])
    assert sorted(world.a.contacts()) == sorted(world.b.contacts()) == expected  # contacts() fails on a duplicate
    assert world.store().pair_count("b_contacts") == 11
    rerun = incremental(config, instance)["b_contacts"]
    assert rerun.value("hubspot_load", "datasync/created") == 0 and rerun.value("app_load", "datasync/created") == 0


# --- health and accounts ------------------------------------------------------------------------------------


def test_health_and_sync_list_show_the_portal_to_portal_sync(world, instance, deleted):
    config, _, _ = deleted
    incremental(config, instance, reason="reconcile")
    config_file = str(world.home / "datasync.yaml")

    listed = CliRunner().invoke(cli_app, ["sync", "list", "--config", config_file, "--json"], env={"COLUMNS": "250"})
    health = CliRunner().invoke(cli_app, ["health", "--config", config_file, "--json"], env={"COLUMNS": "250"})

    assert listed.exit_code == 0, listed.output
    [sync] = json.loads(listed.output)
    assert {key: sync[key] for key in ("name", "object", "hubspot_connection", "app_connection", "app_table", "pairs",
                                       "deleted_in_hubspot", "deleted_in_app")} == {
        "name": "b_contacts", "object": "contacts", "hubspot_connection": "hubspot", "app_connection": "portal_b",
        "app_table": "portal_b.contacts", "pairs": 2, "deleted_in_hubspot": 1, "deleted_in_app": 1}
    assert sync["watermarks"]["hubspot"] and sync["watermarks"]["app"]
    assert health.exit_code == 1, health.output  # failing: a pair deleted on each side
    [view] = json.loads(health.output)
    assert {key: view[key] for key in ("sync", "total", "deleted_in_hubspot", "deleted_in_app")} == {
        "sync": "b_contacts", "total": 2, "deleted_in_hubspot": 1, "deleted_in_app": 1}


def test_each_portal_keeps_its_own_client_and_rate_budget(world):
    from datasync_pipeline.connectors.hubspot.rate_limit import SharedWindowLog
    from datasync_pipeline.connectors.hubspot.tiers import Tier
    from datasync_pipeline.definitions import build_definitions

    config = world.config(companies=True)
    config = config.model_copy(update={"connections": {name: connection.model_copy(update={"tier": Tier.STARTER})
                                                       for name, connection in config.connections.items()}})
    resources = build_definitions(config).resources
    portal_a, portal_b = resources["connection_hubspot"], resources["connection_portal_b"]
    assert (portal_a.sandbox_path, portal_b.sandbox_path) == (str(world.home / "sandbox.sqlite"), str(world.home / "portal_b.sqlite"))
    client_a, client_b = portal_a.client, portal_b.client
    try:
        transport_a, transport_b = client_a._transport, client_b._transport  # noqa: SLF001 - what the budget lives in
        assert client_a is not client_b and transport_a is not transport_b
        assert transport_a.crm_limiter is not transport_b.crm_limiter and transport_a.search_limiter is not transport_b.search_limiter
        # Both embedded portals answer to the same token: each still has a rate window of its own, as two accounts do.
        logs = [transport.crm_limiter.log for transport in (transport_a, transport_b)]
        assert all(isinstance(log, SharedWindowLog) for log in logs) and logs[0].budget_key != logs[1].budget_key
        client_b.get_properties("contacts")
        assert sum(client_a.call_counts.values()) == 0 and sum(client_b.call_counts.values()) == 1
        assert portal_a._sandbox is not portal_b._sandbox  # noqa: SLF001 - one embedded portal each
    finally:
        client_a.close()
        client_b.close()
