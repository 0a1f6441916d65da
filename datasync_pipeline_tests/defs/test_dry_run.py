"""The first sync's preview (dry run) writes nothing and reports what the real run then does."""

from __future__ import annotations

import dagster as dg
import pytest

from datasync_pipeline.defs.launch import run_first_sync
from datasync_pipeline.state import StateStore
from datasync_pipeline_tests.defs.scenario import contacts_scenario

COUNTS = [
    ("matched", "datasync/matched"),
    ("merge_plan", "datasync/conflicts"),
    ("hubspot_load", "datasync/created"), ("hubspot_load", "datasync/updated"), ("hubspot_load", "datasync/excluded"),
    ("app_load", "datasync/created"), ("app_load", "datasync/updated"), ("app_load", "datasync/excluded"),
    ("hubspot_load", "datasync/excluded/duplicate identity"), ("app_load", "datasync/excluded/no unique identity"),
]


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_dry_run_writes_nothing_and_agrees_with_the_real_run(tmp_path, instance):
    scenario = contacts_scenario(tmp_path)
    scenario.seed_hubspot([
        {"email": "ann@example.com", "firstname": "Ann"},
        {"email": "ben@example.com", "firstname": "Ben", "city": "Berlin"},
        {"email": None, "firstname": "Nomail"},
        {"email": "solo@example.com", "firstname": "Solo"},
    ])
    scenario.seed_app([
        {"email": "ANN@example.com", "first_name": "Anna", "last_name": "Berg"},
        {"email": "ben@example.com", "first_name": "Ben"},
        {"email": "new@example.com", "first_name": "Neu"},
        {"email": " new@EXAMPLE.com", "first_name": "Neu again"},
        {"email": "broken@", "first_name": "Broken"},
    ])
    before_hubspot, before_app = scenario.hubspot_contacts(), scenario.customers()

    preview = run_first_sync(scenario.config, dry_run=True, instance=instance)
    assert preview.success
    assert scenario.hubspot_contacts() == before_hubspot and scenario.customers() == before_app
    assert StateStore(scenario.config.state.url).pair_count("contacts") == 0
    assert instance.get_run_by_id(preview.run_id).tags["datasync/dry_run"] == "true"

    real = run_first_sync(scenario.config, instance=instance)
    [planned], [done] = preview.syncs, real.syncs
    for step, key in COUNTS:
        assert planned.value(step, key) == done.value(step, key), (step, key)
    assert done.value("matched", "datasync/matched") == 2
    assert done.value("hubspot_load", "datasync/created") == 1  # new@example.com, once: its duplicate is excluded
    assert done.value("app_load", "datasync/created") == 1  # solo@example.com
    assert done.value("hubspot_load", "datasync/excluded/duplicate identity") == 1
    assert done.value("app_load", "datasync/excluded/no unique identity") == 1  # the HubSpot contact without email
    assert done.value("hubspot_load", "datasync/excluded/no unique identity") == 1  # broken@


def test_invalid_rows_fail_with_a_category_and_the_rest_of_the_batch_goes_on(tmp_path, instance):
    scenario = contacts_scenario(tmp_path, extra="    mappings: [{hubspot: hs_score, app: score, type: number}]")
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE customers ADD COLUMN score NUMERIC"))
        connection.execute(sa.text("INSERT INTO customers (email, first_name, score) VALUES "
                                   "('ok@example.com', 'Ok', '12'), ('bad@example.com', 'Bad', 'twelve')"))
    engine.dispose()
    import httpx

    httpx.Client(transport=httpx.WSGITransport(app=scenario.sandbox.wsgi_app), base_url="http://sandbox").post(
        "/crm/v3/properties/contacts", json={"name": "hs_score", "label": "Score", "type": "number", "fieldType": "number", "groupName": "contactinformation"},
        headers={"Authorization": "Bearer sandbox-token"}).raise_for_status()
    report = run_first_sync(scenario.config, instance=instance)
    [run] = report.syncs
    assert run.value("checkpoint", "datasync/failed/invalid_property_value") == 1
    assert run.value("hubspot_load", "datasync/created") == 1
    store = StateStore(scenario.config.state.url)
    assert store.outcome_counts("contacts") == {"failed/invalid_property_value": 1}
    assert [p["email"] for p in scenario.hubspot_contacts().values()] == ["ok@example.com"]
