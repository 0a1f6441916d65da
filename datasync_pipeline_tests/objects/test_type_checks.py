"""Rule 4 at run time: mappings are checked against HubSpot's properties and the app's column types."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.definitions import build_definitions
from datasync_pipeline.sync.mappings import resolve_mappings
from datasync_pipeline.connectors.sql.value_types import field_types, sql_value_type
from datasync_pipeline.objects.type_checks import app_type_problems, hubspot_type_problems
from datasync_pipeline_tests.defs.scenario import contacts_scenario


def test_sql_types_map_to_value_types():
    assert [sql_value_type(t) for t in (sa.Integer(), sa.Numeric(10, 2), sa.Text(), sa.DateTime(), sa.Date(), sa.Boolean())] == [
        "number", "number", "string", "datetime", "date", "bool"]


def test_rule4_number_column_for_a_text_property_is_named_with_why():
    sync = SyncSpec(name="deals", object="deals", app="a", table={"name": "deals"}, mappings=[{"hubspot": "dealname", "app": "code"}])
    table = sa.Table("deals", sa.MetaData(), sa.Column("code", sa.Integer), sa.Column("amount", sa.Numeric), sa.Column("close_date", sa.Text))
    problems = app_type_problems(resolve_mappings(sync), field_types(table), where=table.name)
    assert problems == [
        "dealname -> deals.code (INTEGER): a string property cannot be mapped to a number field: text values do not convert to number values without loss",
        "closedate -> deals.close_date (TEXT): a datetime property cannot be mapped to a string field: date values do not convert to text values without loss",
    ]


def test_rule4_missing_or_retyped_hubspot_property_is_named():
    sync = SyncSpec(name="c", object="contacts", app="a", table={"name": "t"}, use_default_mappings=False,
                    mappings=[{"hubspot": "email"}, {"hubspot": "score", "app": "score", "type": "number"}, {"hubspot": "tier", "app": "tier"}])
    definitions = [{"name": "email", "type": "string"}, {"name": "score", "type": "string"}]
    assert hubspot_type_problems(resolve_mappings(sync), "contacts", definitions) == [
        "score is a string property in HubSpot but mapped as number: a number property cannot be mapped to a string field: "
        "number values do not convert to text values without loss",
        "HubSpot contacts have no property 'tier': create it in HubSpot or fix the mapping",
    ]


def test_rule4_a_run_with_an_incompatible_app_column_fails_at_the_extract_and_writes_nothing(tmp_path):
    # The type is stated: without one, the HubSpot property (missing here) would decide it.
    scenario = contacts_scenario(tmp_path, extra="    mappings: [{hubspot: loyalty, app: loyalty_points, type: string}]")
    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE customers ADD COLUMN loyalty_points INTEGER"))
    engine.dispose()
    scenario.sandbox.seed("contacts", [{"email": "a@example.com"}])
    job = build_definitions(scenario.config).resolve_job_def("first_sync")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failures = {event.step_key: event.event_specific_data.error.cause.message
                for event in result.all_events if event.event_type_value == "STEP_FAILURE"}
    assert "loyalty -> customers.loyalty_points (INTEGER): a string property cannot be mapped to a number field" in failures["contacts__app_records"]
    assert "HubSpot contacts have no property 'loyalty'" in failures["contacts__hubspot_records"]
    assert scenario.customers() == []
