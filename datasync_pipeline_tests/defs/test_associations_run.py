"""Associations as their own asset (rule 8), run through Dagster on the sandbox and a SQLite app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from datasync_pipeline.config import DatasyncConfig, parse_config
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.definitions import build_definitions, build_resources
from datasync_pipeline.demo.setup import create_demo_tables
from datasync_pipeline.engine.associations import hubspot_targets
from datasync_pipeline.objects.catalogue import ASSOCIATIONS
from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline.state import StateStore

CONFIG = """
connections:
  hubspot: {{kind: hubspot, sandbox: {{path: "{home}/sandbox.sqlite"}}, tier: unlimited}}
  app: {{kind: sql, url: "sqlite:///{home}/app.sqlite"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - name: companies
    object: companies
    app: app
    table: {{name: companies}}
    enabled: {companies_enabled}
    {company_extra}
  - name: contacts
    object: contacts
    app: app
    table: {{name: customers}}
    direction: {direction}
    default_app: {default_app}
    associations: [{{object: companies, app_column: company_id}}]
{deals}
"""

DEALS = """
  - name: deals
    object: deals
    app: app
    table: {name: deals}
    mappings: [{hubspot: closedate, enabled: false}]
    associations: [{object: companies, app_column: company_id}, {object: contacts, app_column: contact_id}]
"""


@dataclass
class World:
    """The sandbox portal and the SQLite app of one test, with helpers to seed and inspect both."""

    home: Path
    config: DatasyncConfig
    sandbox: Sandbox

    def hubspot(self, object_type: str, records: list[dict]) -> list[str]:
        return self.sandbox.seed(object_type, records)

    def app(self, table: str, rows: list[dict]) -> list[str]:
        engine = sa.create_engine(f"sqlite:///{self.home}/app.sqlite")
        with engine.begin() as connection:
            target = sa.Table(table, sa.MetaData(), autoload_with=connection)
            keys = [connection.execute(sa.insert(target).returning(target.c.id), row).scalar_one() for row in rows]
        engine.dispose()
        return [str(key) for key in keys]

    def rows(self, table: str) -> dict[str, dict]:
        engine = sa.create_engine(f"sqlite:///{self.home}/app.sqlite")
        with engine.connect() as connection:
            target = sa.Table(table, sa.MetaData(), autoload_with=connection)
            rows = {str(r.id): dict(r._mapping) for r in connection.execute(sa.select(target))}
        engine.dispose()
        return rows

    def pairs(self, sync: str) -> dict[str, str]:
        """HubSpot id -> app id of a sync's links."""
        frame = StateStore(self.config.state.url).known_pairs(sync)
        return dict(zip(frame["hubspot_id"], frame["app_id"], strict=True))

    def app_id_of(self, sync: str, hubspot_id: str) -> str:
        return self.pairs(sync)[hubspot_id]

    def hubspot_id_of(self, sync: str, app_id: str) -> str:
        return {app: hubspot for hubspot, app in self.pairs(sync).items()}[app_id]

    def associated(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        """The associated HubSpot ids that count (the primary company only), per id."""
        with HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                           transport=httpx.WSGITransport(app=self.sandbox.wsgi_app)) as client:
            links = client.read_associations(from_type, to_type, ids)
        return hubspot_targets(links, ASSOCIATIONS[(from_type, to_type)])

    def all_links(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[dict]]:
        with HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                           transport=httpx.WSGITransport(app=self.sandbox.wsgi_app)) as client:
            return client.read_associations(from_type, to_type, ids)


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def make_world(tmp_path):
    sandboxes = []

    def make(*, direction="two_way", default_app="hubspot", companies_enabled=True, deals=False, company_extra="") -> World:
        text = CONFIG.format(home=tmp_path, direction=direction, default_app=default_app, companies_enabled=str(companies_enabled).lower(),
                             company_extra=company_extra, deals=DEALS if deals else "")
        config = parse_config(text, source="test.yaml")
        create_demo_tables(config)
        sandbox = Sandbox(SandboxSettings(db_path=str(tmp_path / "sandbox.sqlite"), tier="unlimited"))
        sandboxes.append(sandbox)
        return World(tmp_path, config, sandbox)

    yield make
    for sandbox in sandboxes:
        sandbox.close()


@dataclass
class Run:
    success: bool
    metadata: dict[str, dict[str, dict]]  # sync -> step -> metadata values


def run_sync(world: World, instance: dg.DagsterInstance, run_config: dict | None = None) -> Run:
    """Materialize every asset of the definitions (the first-sync job's selection), as one run."""
    defs = build_definitions(world.config)
    result = dg.materialize(list(defs.assets), resources=build_resources(world.config), instance=instance,
                            run_config=run_config or {}, raise_on_error=False)
    metadata: dict[str, dict[str, dict]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        sync, step = materialization.asset_key.path
        metadata.setdefault(sync, {})[step] = {key: value.value for key, value in materialization.metadata.items()}
    return Run(result.success, metadata)


def associations_metadata(run: Run, sync: str) -> dict:
    return run.metadata.get(sync, {}).get("associations", {})


def test_rule8_contact_primary_company_is_synced_both_ways(make_world, instance):
    world = make_world()
    [alpha] = world.hubspot("companies", [{"name": "Alpha"}])
    [ann] = world.hubspot("contacts", [{"email": "ann@example.com", "firstname": "Ann"}])
    world.sandbox.associate("contacts", ann, "companies", alpha, primary=True)
    [beta] = world.app("companies", [{"name": "Beta"}])
    [bob] = world.app("customers", [{"email": "bob@example.com", "first_name": "Bob", "company_id": int(beta)}])

    report = run_sync(world, instance)
    assert report.success
    metadata = associations_metadata(report, "contacts")
    assert metadata["datasync/associations_created_in_hubspot"] == 1 and metadata["datasync/associations_updated_in_app"] == 1

    # HubSpot's Ann came to the app with Alpha (created in the app by the companies sync) as company.
    ann_row = world.rows("customers")[world.app_id_of("contacts", ann)]
    assert str(ann_row["company_id"]) == world.app_id_of("companies", alpha)
    # The app's Bob came to HubSpot with Beta (created in HubSpot) as primary company.
    bob_in_hubspot, beta_in_hubspot = world.hubspot_id_of("contacts", bob), world.hubspot_id_of("companies", beta)
    assert world.associated("contacts", "companies", [bob_in_hubspot]) == {bob_in_hubspot: [beta_in_hubspot]}


def test_rule8_only_the_primary_of_several_companies_is_synced(make_world, instance):
    world = make_world()
    first, primary = world.hubspot("companies", [{"name": "First"}, {"name": "Main"}])
    [ann] = world.hubspot("contacts", [{"email": "ann@example.com"}])
    world.sandbox.associate("contacts", ann, "companies", first)
    world.sandbox.associate("contacts", ann, "companies", primary, primary=True)

    assert run_sync(world, instance).success
    ann_row = world.rows("customers")[world.app_id_of("contacts", ann)]
    assert str(ann_row["company_id"]) == world.app_id_of("companies", primary)
    # HubSpot keeps both companies: the app's single column says nothing about the unlabeled one.
    assert {link["toObjectId"] for link in world.all_links("contacts", "companies", [ann])[ann]} == {first, primary}


def test_rule8_deal_keeps_its_company_and_contact(make_world, instance):
    world = make_world(deals=True)
    [acme] = world.hubspot("companies", [{"name": "Acme"}])
    [ann] = world.hubspot("contacts", [{"email": "ann@example.com"}])
    [big_deal] = world.hubspot("deals", [{"dealname": "Big deal", "pipeline": "default", "dealstage": "qualifiedtobuy"}])
    world.sandbox.associate("deals", big_deal, "companies", acme, primary=True)
    world.sandbox.associate("deals", big_deal, "contacts", ann)
    [globex] = world.app("companies", [{"name": "Globex"}])
    [bob] = world.app("customers", [{"email": "bob@example.com", "company_id": int(globex)}])
    [small_deal] = world.app("deals", [{"name": "Small deal", "amount": 900, "company_id": int(globex), "contact_id": int(bob)}])

    report = run_sync(world, instance)
    assert report.success
    deal_row = world.rows("deals")[world.app_id_of("deals", big_deal)]
    assert str(deal_row["company_id"]) == world.app_id_of("companies", acme)
    assert str(deal_row["contact_id"]) == world.app_id_of("contacts", ann)
    small_in_hubspot = world.hubspot_id_of("deals", small_deal)
    assert world.associated("deals", "companies", [small_in_hubspot])[small_in_hubspot] == [world.hubspot_id_of("companies", globex)]
    assert world.associated("deals", "contacts", [small_in_hubspot])[small_in_hubspot] == [world.hubspot_id_of("contacts", bob)]
    by_object = associations_metadata(report, "deals")["datasync/associations_by_object"]
    assert by_object["companies"]["created_in_hubspot"] == 1 and by_object["contacts"]["updated_in_app"] == 1


@pytest.mark.parametrize("default_app", ["hubspot", "app"])
def test_rule3_default_app_wins_a_differing_association(make_world, instance, default_app):
    world = make_world(default_app=default_app)
    alpha, beta = world.hubspot("companies", [{"name": "Alpha"}, {"name": "Beta"}])
    [ann] = world.hubspot("contacts", [{"email": "ann@example.com"}])
    world.sandbox.associate("contacts", ann, "companies", alpha, primary=True)
    app_alpha, app_beta = world.app("companies", [{"name": "Alpha"}, {"name": "Beta"}])
    [ann_row] = world.app("customers", [{"email": "ANN@example.com", "company_id": int(app_beta)}])

    report = run_sync(world, instance)
    assert report.success
    assert associations_metadata(report, "contacts")["datasync/conflicts"] == 1
    if default_app == "hubspot":
        assert str(world.rows("customers")[ann_row]["company_id"]) == app_alpha
        assert world.associated("contacts", "companies", [ann]) == {ann: [alpha]}
    else:
        assert str(world.rows("customers")[ann_row]["company_id"]) == app_beta
        assert world.associated("contacts", "companies", [ann]) == {ann: [beta]}  # the new primary replaced the old


@pytest.mark.parametrize("direction", ["app_to_hubspot", "hubspot_to_app"])
def test_rule2_direction_decides_where_associations_are_written(make_world, instance, direction):
    world = make_world(direction=direction)
    [alpha] = world.hubspot("companies", [{"name": "Alpha"}])
    ann, bob = world.hubspot("contacts", [{"email": "ann@example.com"}, {"email": "bob@example.com"}])
    world.sandbox.associate("contacts", ann, "companies", alpha, primary=True)  # Ann: only HubSpot has a company
    [app_alpha] = world.app("companies", [{"name": "Alpha"}])
    ann_row, bob_row = world.app("customers", [{"email": "ann@example.com"}, {"email": "bob@example.com", "company_id": int(app_alpha)}])

    assert run_sync(world, instance).success
    app_ann_company = world.rows("customers")[ann_row]["company_id"]
    hubspot_bob_companies = world.associated("contacts", "companies", [bob])[bob]
    if direction == "app_to_hubspot":
        assert app_ann_company is None and hubspot_bob_companies == [alpha]
    else:
        assert str(app_ann_company) == app_alpha and hubspot_bob_companies == []


def test_rule8_association_to_a_record_the_partner_did_not_link_fails_and_the_rest_go_on(make_world, instance):
    world = make_world(company_extra="filters: {app: [{field: city, operator: eq, value: Berlin}]}")
    berlin, hamburg = world.app("companies", [{"name": "Spree", "city": "Berlin"}, {"name": "Alster", "city": "Hamburg"}])
    ann_row, bob_row = world.app("customers", [{"email": "ann@example.com", "company_id": int(hamburg)},
                                               {"email": "bob@example.com", "company_id": int(berlin)}])

    report = run_sync(world, instance)
    assert report.success
    metadata = associations_metadata(report, "contacts")
    assert metadata["datasync/failed/association_failed"] == 1 and metadata["datasync/associations_created_in_hubspot"] == 1
    ann, bob = world.hubspot_id_of("contacts", ann_row), world.hubspot_id_of("contacts", bob_row)
    assert world.associated("contacts", "companies", [ann, bob]) == {ann: [], bob: [world.hubspot_id_of("companies", berlin)]}
    store = StateStore(world.config.state.url)
    assert store.outcome_counts("contacts") == {"failed/association_failed": 1}
    # Both contacts themselves are synced: only Ann's association failed.
    assert store.pair_count("contacts") == 2


def test_rule8_association_is_not_kept_while_the_partner_sync_is_disabled(make_world, instance):
    world = make_world(companies_enabled=False)
    keys = {key.to_user_string() for key in build_definitions(world.config).resolve_asset_graph().get_all_asset_keys()}
    assert "contacts/associations" not in keys and "contacts/app_load" in keys
    [alpha] = world.hubspot("companies", [{"name": "Alpha"}])
    [ann] = world.hubspot("contacts", [{"email": "ann@example.com"}])
    world.sandbox.associate("contacts", ann, "companies", alpha, primary=True)

    report = run_sync(world, instance)
    assert report.success and "associations" not in report.metadata["contacts"]
    assert world.rows("customers")[world.app_id_of("contacts", ann)]["company_id"] is None


def test_rule8_a_rerun_creates_no_association_and_changes_no_row(make_world, instance):
    world = make_world(deals=True)
    [acme] = world.hubspot("companies", [{"name": "Acme"}])
    [ann] = world.hubspot("contacts", [{"email": "ann@example.com"}])
    world.sandbox.associate("contacts", ann, "companies", acme, primary=True)
    [deal] = world.hubspot("deals", [{"dealname": "Deal", "pipeline": "default", "dealstage": "qualifiedtobuy"}])
    world.sandbox.associate("deals", deal, "contacts", ann)
    [globex] = world.app("companies", [{"name": "Globex"}])
    [bob] = world.app("customers", [{"email": "bob@example.com", "company_id": int(globex)}])
    world.app("deals", [{"name": "Other deal", "company_id": int(globex), "contact_id": int(bob)}])

    first = run_sync(world, instance)
    assert first.success
    written = sum(associations_metadata(first, sync)["dagster/row_count"] for sync in ("contacts", "deals"))
    assert written == 5  # Ann's company in the app, Bob's in HubSpot; the deals' contact (app), company and contact (HubSpot)
    rows = {table: world.rows(table) for table in ("companies", "customers", "deals")}

    rerun = run_sync(world, instance)
    assert rerun.success
    for sync in ("contacts", "deals"):
        metadata = associations_metadata(rerun, sync)
        assert metadata["dagster/row_count"] == 0 and metadata["datasync/failed"] == 0
        assert metadata["datasync/api_calls_by_endpoint"].keys() == {"POST /crm/v4/associations/{from_type}/{to_type}/batch/read"}
    assert {table: world.rows(table) for table in rows} == rows


def test_associations_dry_run_plans_and_writes_nothing(make_world, instance):
    world = make_world()
    [alpha] = world.hubspot("companies", [{"name": "Alpha"}])
    [ann] = world.hubspot("contacts", [{"email": "ann@example.com"}])
    [app_alpha] = world.app("companies", [{"name": "Alpha"}])
    [ann_row] = world.app("customers", [{"email": "ann@example.com"}])
    assert run_sync(world, instance).success  # linked, no association yet
    world.sandbox.associate("contacts", ann, "companies", alpha, primary=True)

    # One switch for the whole run: every step of every sync previews.
    report = run_sync(world, instance, run_config={"resources": {"datasync_run": {"config": {"dry_run": True}}}})
    assert report.success
    metadata = associations_metadata(report, "contacts")
    assert metadata["datasync/dry_run"] is True and metadata["datasync/associations_updated_in_app"] == 1
    assert world.rows("customers")[ann_row]["company_id"] is None  # planned, not written
    assert world.app_id_of("companies", alpha) == app_alpha


def test_associations_asset_joins_its_sync_group_and_the_first_sync_job(make_world):
    world = make_world(deals=True)
    defs = build_definitions(world.config)
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey(["deals", "associations"]))
    assert node.group_name == "deals" and set(node.kinds) >= {"hubspot", "sql"}
    linking_steps = ("hubspot_load", "app_load", "checkpoint")
    assert node.parent_keys == {dg.AssetKey([sync, step]) for sync in ("deals", "companies", "contacts") for step in linking_steps} | {
        dg.AssetKey(["deals", "app_records"])}
    job = defs.resolve_job_def("first_sync")
    assert {"contacts__associations", "deals__associations"} <= set(job.graph.node_dict)
    assert not graph.has(dg.AssetKey(["companies", "associations"]))  # companies keep no association here
