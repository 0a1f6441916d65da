"""Issue 13, item 5: the sync uses HubSpot's reference data. An app holds pipeline and stage labels, an owner's
email and its own names for an enumeration's options; HubSpot holds ids and option values. Run through the real
jobs against the embedded sandbox and a SQLite app."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from datasync_pipeline.config import ConfigError, parse_config
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.defs.launch import run_first_sync, run_incremental
from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline.state import StateStore
from datasync_pipeline.state.tables import record_status

CONFIG = """
connections:
  hubspot: {{kind: hubspot, sandbox: {{path: "{home}/sandbox.sqlite"}}, tier: unlimited}}
  app: {{kind: sql, url: "sqlite:///{home}/app.sqlite"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - name: deals
    object: deals
    app: app
    table: {{name: deals}}
    default_app: app
    mappings:
      - {{hubspot: closedate, enabled: false}}
      - {{hubspot: pipeline, lookup: label}}
      - {{hubspot: dealstage, lookup: label}}
      - {{hubspot: hubspot_owner_id, app: owner, lookup: owner_email}}
      - {{hubspot: hs_priority, app: priority, values: {{Low: low, Normal: medium, Urgent: high}}}}
"""


class Deals:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.config = parse_config(CONFIG.format(home=home), source="test")
        self.sandbox = Sandbox(SandboxSettings(db_path=str(home / "sandbox.sqlite"), tier="unlimited"))
        self.engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                "CREATE TABLE deals (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, amount NUMERIC, pipeline TEXT, stage TEXT, "
                "owner TEXT, priority TEXT, hubspot_id TEXT, updated_at TIMESTAMP DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')))"))

    def client(self) -> HubSpotClient:
        return HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                             transport=httpx.WSGITransport(app=self.sandbox.wsgi_app))

    def insert(self, **row) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.text(f"INSERT INTO deals ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)

    def update(self, name: str, **values) -> None:
        with self.engine.begin() as connection:
            assignments = ", ".join(f"{k} = :{k}" for k in values)
            connection.execute(sa.text(f"UPDATE deals SET {assignments}, updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') "
                                       "WHERE name = :name"), {**values, "name": name})

    def rows(self) -> dict[str, dict]:
        with self.engine.connect() as connection:
            return {row["name"]: row for row in (dict(r._mapping) for r in connection.execute(sa.text("SELECT * FROM deals")))}

    def hubspot(self) -> dict[str, dict]:
        with self.client() as client:
            records = client.list_records("deals", properties=["dealname", "pipeline", "dealstage", "hubspot_owner_id", "hs_priority"])
            return {record["properties"]["dealname"]: record["properties"] for record in records}


def picked(properties: dict) -> dict:
    return {name: properties.get(name) for name in ("pipeline", "dealstage", "hubspot_owner_id", "hs_priority")}


def failed_outcomes(state_url: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(side, record id) -> (category, message) of the sync's failed records."""
    store = StateStore(state_url)
    query = sa.select(record_status.c.side, record_status.c.record_id, record_status.c.category, record_status.c.message).where(
        record_status.c.sync == "deals", record_status.c.status == "failed")
    with store.engine.connect() as connection:
        failed = {(side, record_id): (category, message) for side, record_id, category, message in connection.execute(query)}
    store.engine.dispose()
    return failed


@pytest.fixture
def deals(tmp_path):
    scenario = Deals(tmp_path)
    yield scenario
    scenario.engine.dispose()
    scenario.sandbox.close()


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_labels_emails_and_value_maps_become_hubspot_ids_and_back(deals, instance):
    sam = deals.sandbox.add_owner("sam.seller@example.com", "Sam", "Seller")
    rita = deals.sandbox.add_owner("rita@example.com", "Rita", "Renewals")
    renewals = deals.sandbox.pipelines.create("deals", {"label": "Renewals", "displayOrder": 1, "stages": [
        {"label": "Closed Won", "displayOrder": 0, "metadata": {"probability": "1.0"}},
        {"label": "Open", "displayOrder": 1, "metadata": {"probability": "0.5"}}]})
    renewal_won = next(stage["id"] for stage in renewals["stages"] if stage["label"] == "Closed Won")
    deals.insert(name="Acme", amount=100, pipeline="Sales Pipeline", stage="closed won", owner="SAM.SELLER@example.com", priority="Urgent")
    deals.insert(name="Birch", amount=200, pipeline="Renewals", stage="Closed Won", owner="rita renewals", priority="Low")  # by name
    deals.insert(name="Cedar", amount=300, pipeline="Sales Pipeline", stage="Signed", owner=None, priority="Normal")  # no such stage
    # The sandbox has another Sam Seller (sam.seller@sandbox.example): a name two owners share is not guessed.
    deals.insert(name="Hazel", amount=500, pipeline="Sales Pipeline", stage="Closed Won", owner="Sam Seller", priority="Low")
    deals.insert(name="Dune", amount=400, pipeline="Sales Pipeline", stage="Contract Sent", owner=None, priority="Someday")  # not in values
    deals.sandbox.seed("deals", [{"dealname": "Elm", "pipeline": "default", "dealstage": "qualifiedtobuy", "hubspot_owner_id": sam,
                                  "hs_priority": "medium"}])

    report = run_first_sync(deals.config, instance=instance)
    assert report.success

    hubspot = deals.hubspot()
    assert picked(hubspot["Acme"]) == {"pipeline": "default", "dealstage": "closedwon", "hubspot_owner_id": sam, "hs_priority": "high"}
    # Two pipelines both have a "Closed Won" stage: the label is looked up in the record's own pipeline.
    assert picked(hubspot["Birch"]) == {"pipeline": renewals["id"], "dealstage": renewal_won, "hubspot_owner_id": rita, "hs_priority": "low"}
    assert "Cedar" not in hubspot and "Dune" not in hubspot and "Hazel" not in hubspot  # failed, not guessed
    rows = deals.rows()
    # HubSpot's record came to the app in the app's words: labels, the owner's email, the app's option name.
    assert {k: rows["Elm"][k] for k in ("pipeline", "stage", "owner", "priority")} == {
        "pipeline": "Sales Pipeline", "stage": "Qualified To Buy", "owner": "sam.seller@example.com", "priority": "Normal"}

    failed = failed_outcomes(deals.config.state.url)
    assert failed[("app", str(rows["Cedar"]["id"]))] == ("unmapped_value", "stage 'Signed' has no HubSpot value for dealstage in the pipelines' labels")
    assert failed[("app", str(rows["Dune"]["id"]))] == ("unmapped_value", "priority 'Someday' has no HubSpot value for hs_priority in the mapping's `values`")
    assert failed[("app", str(rows["Hazel"]["id"]))] == (
        "unmapped_value", "owner 'Sam Seller' names more than one HubSpot owner: hold the owner's email instead")
    assert len(failed) == 3

    # A fixed record syncs on the next run; an edit of a label moves the HubSpot id.
    deals.update("Cedar", stage="Presentation Scheduled")
    deals.update("Acme", stage="Contract Sent")
    assert run_incremental(deals.config, ["deals"], instance=instance).success
    hubspot = deals.hubspot()
    assert hubspot["Cedar"]["dealstage"] == "presentationscheduled"
    assert hubspot["Acme"]["dealstage"] == "contractsent"


def test_a_hubspot_value_without_an_app_word_fails_that_record_only(deals, instance):
    deals.sandbox.seed("deals", [{"dealname": "Fir", "pipeline": "default", "dealstage": "closedwon", "hs_priority": "low"},
                                 {"dealname": "Gum", "pipeline": "default", "dealstage": "closedwon", "hs_priority": "medium"}])
    config = parse_config(CONFIG.format(home=deals.home).replace("Normal: medium, ", ""), source="test")
    assert run_first_sync(config, instance=instance).success
    rows = deals.rows()
    assert rows["Fir"]["priority"] == "Low" and "Gum" not in rows
    [(category, message)] = failed_outcomes(config.state.url).values()
    assert category == "unmapped_value"
    assert message == "HubSpot value 'medium' of hs_priority has no app value for priority in the mapping's `values`"


def test_lookups_are_refused_where_hubspot_holds_no_such_ids(tmp_path):
    text = CONFIG.format(home=tmp_path)
    with pytest.raises(ConfigError) as refused:
        parse_config(text.replace("{hubspot: hubspot_owner_id, app: owner, lookup: owner_email}",
                                  "{hubspot: hs_priority, app: owner, lookup: owner_email}"), source="datasync.yaml")
    assert "`lookup: owner_email` maps hubspot_owner_id (the record's owner), not hs_priority" in str(refused.value)
    with pytest.raises(ConfigError) as refused:
        parse_config(text.replace("{hubspot: dealstage, lookup: label}", "{hubspot: dealstage, lookup: label, values: {a: b}}"),
                     source="datasync.yaml")
    assert "translates its values by `values` or by `lookup`, not both" in str(refused.value)
    with pytest.raises(ConfigError) as refused:
        parse_config(text.replace("{hubspot: pipeline, lookup: label}", "{hubspot: amount, lookup: label}"), source="datasync.yaml")
    assert "`lookup: label` maps the pipeline and stage of deals (pipeline, dealstage), not deals.amount" in str(refused.value)
