"""Issue 12, item 3: HubSpot association changes, merges and deletions reach the app through the webhooks journal.

The change sensor (``dg.build_sensor_context``) talks to the sandbox served on loopback, whose journal records the
API writes the test makes; the runs it requests are executed as the daemon would (the incremental job, the request's
selection, tags and run config) on the same sandbox file. Without the journal, the probe cannot see an association
change (HubSpot does not date it): only the hourly reconciling run finds it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from datasync_pipeline.config import parse_config
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.connectors.hubspot.resource import SANDBOX_JOURNAL_APP
from datasync_pipeline.definitions import build_definitions
from datasync_pipeline.defs.jobs import INCREMENTAL_SYNC_JOB
from datasync_pipeline.defs.launch import run_incremental
from datasync_pipeline.defs.resources import HubSpotResource, SqlAppResource, StateStoreResource
from datasync_pipeline.defs.sensors import build_change_sensor
from datasync_pipeline.demo.setup import create_demo_tables
from datasync_pipeline.sandbox import Sandbox, SandboxSettings, ServedSandbox, serve_in_thread
from datasync_pipeline.state import StateStore
from datasync_pipeline.state import journal as journal_state
from datasync_pipeline.vocabulary import JOURNAL_TAG, REASON_TAG
from datasync_pipeline_tests.defs.test_association_changes import point_app_company
from datasync_pipeline_tests.defs.test_associations_run import CONFIG, World, run_sync

APP_ID, APP_SECRET = SANDBOX_JOURNAL_APP


@dataclass
class JournalWorld(World):
    served: ServedSandbox | None = None
    instance: dg.DagsterInstance | None = None
    journal: bool = True
    journal_secret: str = APP_SECRET

    def tick(self) -> tuple[list[dg.RunRequest] | dg.SkipReason, dict]:
        """One sensor evaluation: its run requests (or skip reason) and its cursor."""
        resources = {
            "connection_hubspot": HubSpotResource(base_url=self.served.url, token=self.served.token, tier="unlimited", journal=self.journal,
                                                  journal_client_id=APP_ID, journal_client_secret=self.journal_secret),
            "connection_app": SqlAppResource(url=f"sqlite:///{self.home}/app.sqlite"),
            "state_store": StateStoreResource(url=f"sqlite:///{self.home}/state.sqlite"),
        }
        with dg.build_sensor_context(instance=self.instance, resources=resources) as context:
            result = build_change_sensor(self.config)(context)
            return result, json.loads(context.cursor)

    def execute(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        """The requested run, as the daemon launches it."""
        job = build_definitions(self.config).resolve_job_def(INCREMENTAL_SYNC_JOB)
        return job.execute_in_process(instance=self.instance, run_config=request.run_config, tags=request.tags,
                                      asset_selection=request.asset_selection, raise_on_error=False)

    def api(self) -> HubSpotClient:
        """A user's API writes (journaled, unlike the sandbox's seeding helpers)."""
        return HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited", transport=httpx.WSGITransport(app=self.sandbox.wsgi_app))

    def set_primary_company(self, contact: str, company: str) -> None:
        with self.api() as client:
            client.create_associations("contacts", "companies", [{"ref": contact, "from_id": contact, "to_id": company, "type_id": 1}])

    def remove_companies(self, contact: str, companies: list[str]) -> None:
        with self.api() as client:
            client.archive_associations("contacts", "companies", [(contact, company) for company in companies])

    def app_company(self, contact: str) -> str | None:
        value = self.rows("customers")[self.app_id_of("contacts", contact)]["company_id"]
        return None if value is None else str(value)

    def pending(self, sync: str = "contacts") -> journal_state.Pending:
        return journal_state.pending(StateStore(self.config.state.url).engine, sync)


@pytest.fixture
def make_world(tmp_path) -> Iterator:
    with ExitStack() as stack:
        def make(*, journal: bool = True) -> JournalWorld:
            text = CONFIG.format(home=tmp_path, direction="two_way", default_app="hubspot", companies_enabled="true", company_extra="", deals="")
            if journal:
                text = text.replace("tier: unlimited}", "tier: unlimited, journal: true}", 1)
            config = parse_config(text, source="test.yaml")
            create_demo_tables(config)
            sandbox = Sandbox(SandboxSettings(db_path=str(tmp_path / "sandbox.sqlite"), tier="unlimited", client_id=APP_ID, client_secret=APP_SECRET))
            stack.callback(sandbox.close)
            served = stack.enter_context(serve_in_thread(sandbox))
            instance = stack.enter_context(dg.instance_for_test())
            return JournalWorld(tmp_path, config, sandbox, served=served, instance=instance, journal=journal)

        yield make


def requests_of(result) -> list[dg.RunRequest]:
    assert isinstance(result, list), f"expected run requests, got {result!r}"
    return result


def linked(make_world, *, journal: bool = True) -> tuple[JournalWorld, str, dict[str, str]]:
    """Alpha and Beta on both sides, Ann (primary company Alpha) synced; the journal read once and its first full
    reconcile done, so the sync stands as it does every day."""
    world = make_world(journal=journal)
    alpha, beta = world.hubspot("companies", [{"name": "Alpha"}, {"name": "Beta"}])
    ann, bob = world.hubspot("contacts", [{"email": "ann@example.com", "firstname": "Ann"}, {"email": "bob@example.com", "firstname": "Bob"}])
    world.sandbox.associate("contacts", ann, "companies", alpha, primary=True)
    assert run_sync(world, world.instance).success
    if journal:
        result, cursor = world.tick()  # the first read: subscriptions made, nothing known before them
        assert isinstance(result, dg.SkipReason) and "first read of the journal" in cursor["journal"]["hubspot"]["message"]
        assert world.pending().full and not world.pending().named  # left to the reconciling run, not a run of its own
        report = run_incremental(world.config, ["contacts"], instance=world.instance, reason="reconcile")
        assert report.success and report.syncs[0].value("associations", "datasync/associations_read_in_full") is True
        assert not world.pending()
    return world, ann, {"alpha": alpha, "beta": beta, "bob": bob}


def test_association_added_and_removed_in_hubspot_reach_the_app_in_one_tick_with_the_journal(make_world):
    world, ann, ids = linked(make_world)
    world.set_primary_company(ann, ids["beta"])  # Beta becomes Ann's primary company; nothing dates the change

    result, cursor = world.tick()

    [request] = requests_of(result)
    assert request.tags[JOURNAL_TAG] == "1 record with changed associations" and request.tags[REASON_TAG] == "change"
    assert cursor["journal"]["hubspot"]["entries"] == 1 and cursor["journal"]["hubspot"]["targets"] == 1
    outcome = world.execute(request)
    assert outcome.success
    assert world.app_company(ann) == world.app_id_of("companies", ids["beta"])
    metadata = {m.step_materialization_data.materialization.asset_key.path[-1]: m.step_materialization_data.materialization.metadata
                for m in outcome.get_asset_materialization_events()}
    assert metadata["associations"]["datasync/associations_read_in_full"].value is False
    assert metadata["associations"]["datasync/journal_targets"].value == 1
    assert not world.pending()

    # Removed in HubSpot: every company link of Ann goes; the app's company is cleared by the next tick's run.
    world.remove_companies(ann, [ids["alpha"], ids["beta"]])
    [request] = requests_of(world.tick()[0])
    assert world.execute(request).success
    assert world.app_company(ann) is None

    # Nothing left to do: the next tick skips, and says it read the journal.
    result, _ = world.tick()
    assert isinstance(result, dg.SkipReason) and "webhooks journal of hubspot: 0 new entries" in result.skip_message


def test_without_the_journal_an_association_change_waits_for_the_reconciling_run(make_world):
    world, ann, ids = linked(make_world, journal=False)
    world.set_primary_company(ann, ids["beta"])

    result, cursor = world.tick()

    assert isinstance(result, dg.SkipReason), result  # the probe sees no change: association changes are not dated
    assert "journal" not in cursor or not cursor["journal"]
    assert world.app_company(ann) == world.app_id_of("companies", ids["alpha"])


def test_a_merge_seen_through_the_journal_follows_the_survivor_without_a_duplicate(make_world):
    world, ann, ids = linked(make_world)
    bob_row = world.app_id_of("contacts", ids["bob"])
    with httpx.Client(transport=httpx.WSGITransport(app=world.sandbox.wsgi_app), base_url="http://sandbox",
                      headers={"Authorization": "Bearer sandbox-token"}) as http:
        assert http.post("/crm/v3/objects/contacts/merge", json={"primaryObjectId": ann, "objectIdToMerge": ids["bob"]}).status_code == 200

    [request] = requests_of(world.tick()[0])

    assert request.tags[JOURNAL_TAG] == "2 deleted or merged records"
    assert world.execute(request).success
    pairs = StateStore(world.config.state.url).known_pairs("contacts")
    status = dict(zip(pairs["hubspot_id"], pairs["status"], strict=True))
    assert status == {ann: "synced", ids["bob"]: "deleted_in_hubspot"}  # Bob's pair stops, named, as rule 10 says
    assert len(world.rows("customers")) == 2 and bob_row in world.rows("customers")  # no row created, none deleted
    assert not world.pending()


def test_a_deletion_in_hubspot_is_marked_by_the_next_tick_with_the_journal(make_world):
    world, _ann, ids = linked(make_world)
    with world.api() as client:
        client.batch_archive("contacts", [ids["bob"]])

    [request] = requests_of(world.tick()[0])

    assert request.tags[JOURNAL_TAG] == "1 deleted or merged record"
    assert world.execute(request).success
    pairs = StateStore(world.config.state.url).known_pairs("contacts")
    assert dict(zip(pairs["hubspot_id"], pairs["status"], strict=True))[ids["bob"]] == "deleted_in_hubspot"


def test_an_expired_offset_falls_back_to_a_full_reconcile_and_reads_on_from_the_earliest_entry(make_world):
    world, ann, ids = linked(make_world)
    world.remove_companies(ann, [ids["alpha"]])
    [request] = requests_of(world.tick()[0])  # the offset is now this entry's
    assert world.execute(request).success and world.app_company(ann) is None
    world.sandbox.clock.advance(4 * 24 * 3600)  # four days without a tick: the entry and our offset are gone
    world.set_primary_company(ann, ids["beta"])

    result, cursor = world.tick()

    [request] = requests_of(result)
    assert "a full reconcile" in request.tags[JOURNAL_TAG] and "1 record with changed associations" in request.tags[JOURNAL_TAG]
    assert "expired" in cursor["journal"]["hubspot"]["message"] and "earliest entry kept" in cursor["journal"]["hubspot"]["message"]
    outcome = world.execute(request)
    assert outcome.success
    metadata = {m.step_materialization_data.materialization.asset_key.path[-1]: m.step_materialization_data.materialization.metadata
                for m in outcome.get_asset_materialization_events()}
    assert metadata["associations"]["datasync/associations_read_in_full"].value is True
    assert world.app_company(ann) == world.app_id_of("companies", ids["beta"])
    # The offset moved to the entry read after the expiry: the next tick has nothing new.
    result, cursor = world.tick()
    assert isinstance(result, dg.SkipReason) and cursor["journal"]["hubspot"]["entries"] == 0


def test_a_failed_run_loses_nothing_the_journal_said(make_world):
    world, ann, ids = linked(make_world)
    world.set_primary_company(ann, ids["beta"])
    [request] = requests_of(world.tick()[0])
    engine = sa.create_engine(f"sqlite:///{world.home}/app.sqlite")
    with engine.begin() as connection:  # the app database is broken while the run runs
        connection.execute(sa.text("ALTER TABLE customers RENAME TO customers_away"))
    assert not world.execute(request).success
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE customers_away RENAME TO customers"))
    engine.dispose()
    assert world.pending().associations == [ann]  # the journal's offset moved on, its work did not

    [retry] = requests_of(world.tick()[0])

    assert retry.run_key != request.run_key and retry.tags[JOURNAL_TAG] == "1 record with changed associations"
    assert world.execute(retry).success
    assert world.app_company(ann) == world.app_id_of("companies", ids["beta"])
    assert not world.pending()


def test_a_journal_that_cannot_be_read_leaves_the_associations_to_the_reconciling_run(make_world):
    world, ann, ids = linked(make_world)
    world.set_primary_company(ann, ids["beta"])
    world.journal_secret = "wrong-secret"  # e.g. the app's secret rotated and not updated here

    result, cursor = world.tick()

    assert isinstance(result, dg.SkipReason) and "could not read the webhooks journal of hubspot" in result.skip_message
    assert "BAD_CLIENT_ID" in cursor["journal"]["hubspot"]["error"]
    assert world.pending().full  # nothing vouches for the associations meanwhile
    report = run_incremental(world.config, ["contacts"], instance=world.instance, reason="reconcile")
    assert report.success and report.syncs[0].value("associations", "datasync/associations_read_in_full") is True
    assert world.app_company(ann) == world.app_id_of("companies", ids["beta"])


def test_the_syncs_own_association_writes_read_back_from_the_journal_launch_nothing(make_world):
    world, ann, ids = linked(make_world)
    beta_row = world.app_id_of("companies", ids["beta"])
    point_app_company(world, world.app_id_of("contacts", ann), beta_row)  # the app's user moves Ann to Beta
    [request] = requests_of(world.tick()[0])
    assert JOURNAL_TAG not in request.tags
    assert world.execute(request).success  # writes Beta as Ann's primary company in HubSpot (journaled)
    assert world.associated("contacts", "companies", [ann]) == {ann: [ids["beta"]]}

    result, cursor = world.tick()

    assert cursor["journal"]["hubspot"]["entries"] >= 1 and cursor["journal"]["hubspot"]["targets"] == 0
    assert isinstance(result, dg.SkipReason), result


@pytest.mark.parametrize("journal", [True, False])
def test_the_hourly_reconcile_rereads_every_association_only_without_the_journal(make_world, journal):
    world, _ann, _ids = linked(make_world, journal=journal)

    report = run_incremental(world.config, ["contacts"], instance=world.instance, reason="reconcile")

    assert report.success
    # With the journal, the pairs whose app row changed and those it named; the cost at scale: bench/association_changes.py.
    assert report.syncs[0].value("associations", "datasync/associations_read_in_full") is (not journal)
