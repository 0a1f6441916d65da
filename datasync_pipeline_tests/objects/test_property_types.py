"""Rule 4: the HubSpot property definition decides the value type of a custom mapping that states none."""

from __future__ import annotations

from decimal import Decimal

import dagster as dg
import httpx
import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.config import parse_config
from datasync_pipeline.config.model import Direction, Side, SyncSpec
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.definitions import build_definitions
from datasync_pipeline.engine.match import match_records
from datasync_pipeline.engine.plan import plan_first_sync
from datasync_pipeline.connectors.sql.value_types import field_types
from datasync_pipeline.objects.catalogue import Identity, ValueType
from datasync_pipeline.sync.mappings import resolve_mappings
from datasync_pipeline.objects.type_checks import (
    app_type_problems, hubspot_type_problems, property_types, typed_by_hubspot, with_property_types,
)
from datasync_pipeline_tests.defs.scenario import contacts_scenario

SYNC = SyncSpec(name="c", object="contacts", app="a", table={"name": "customers"}, use_default_mappings=False,
                mappings=[{"hubspot": "email"}, {"hubspot": "score", "app": "score"}, {"hubspot": "tier", "app": "tier", "type": "string"}])
DEFINITIONS = [{"name": "email", "type": "string"}, {"name": "score", "type": "number"}, {"name": "tier", "type": "string"}]


def _table(score_type: sa.types.TypeEngine) -> sa.Table:
    return sa.Table("customers", sa.MetaData(), sa.Column("email", sa.Text), sa.Column("score", score_type), sa.Column("tier", sa.Text))


def test_a_number_property_maps_to_a_numeric_column_without_repeating_the_type():
    mappings = resolve_mappings(SYNC)
    assert hubspot_type_problems(mappings, "contacts", DEFINITIONS) == []
    typed = with_property_types(mappings, DEFINITIONS)
    assert app_type_problems(typed, field_types(_table(sa.Numeric(10, 2))), where="customers") == []
    score = next(m for m in typed if m.hubspot == "score")
    assert score.value_type is ValueType.NUMBER and score.type_declared
    assert typed == resolve_mappings(SYNC, property_types=property_types(DEFINITIONS))


def test_the_property_type_is_still_checked_against_the_app_column():
    typed = with_property_types(resolve_mappings(SYNC), DEFINITIONS)
    assert app_type_problems(typed, field_types(_table(sa.Text())), where="customers") == [
        "score -> customers.score (TEXT): a number property cannot be mapped to a string field: "
        "number values do not convert to text values without loss"]
    stated = SYNC.model_copy(update={"mappings": [*SYNC.mappings[:1], SYNC.mappings[1].model_copy(update={"type": ValueType.STRING})]})
    assert "mapped as string" in hubspot_type_problems(resolve_mappings(stated), "contacts", DEFINITIONS)[0]


def test_definitions_are_read_only_when_a_mapping_states_no_type():
    calls = []

    def definitions():
        calls.append(1)
        return DEFINITIONS

    declared = resolve_mappings(SYNC, property_types={"score": ValueType.NUMBER})
    assert typed_by_hubspot(declared, definitions) is declared and calls == []
    assert typed_by_hubspot(resolve_mappings(SYNC), definitions)[1].value_type is ValueType.NUMBER and calls == [1]


def test_values_are_compared_as_the_property_type_says():
    """12.50 in a NUMERIC column and 12.5 in HubSpot are the same number: no conflict, nothing rewritten."""
    hubspot = pd.DataFrame({"record_id": ["1"], "email": ["a@x.com"], "score": ["12.5"], "tier": [None]}, dtype=object)
    app = pd.DataFrame({"record_id": ["10"], "email": ["a@x.com"], "score": [Decimal("12.50")], "tier": [None]}, dtype=object)
    matched = match_records(hubspot, app, Identity.EMAIL)
    typed = with_property_types(resolve_mappings(SYNC), DEFINITIONS)
    merge = plan_first_sync(matched, hubspot, app, typed, direction=Direction.TWO_WAY, default_app=Side.APP)
    assert merge.conflicts.empty and merge.hubspot_updates.empty and merge.app_updates.empty
    untyped = plan_first_sync(matched, hubspot, app, resolve_mappings(SYNC), direction=Direction.TWO_WAY, default_app=Side.APP)
    assert untyped.conflicts["field"].tolist() == ["score"]  # what comparing them as text gave


def test_the_config_accepts_an_app_type_without_the_property_type():
    config = parse_config("""
connections:
  hubspot: {kind: hubspot, token: "${T}"}
  app: {kind: sql, url: "sqlite:///x.sqlite"}
state: {url: "sqlite:///s.sqlite"}
syncs:
  - {name: c, object: contacts, app: app, table: {name: customers}, mappings: [{hubspot: score, app: score, app_type: number}]}
""", source="test")
    assert resolve_mappings(config.syncs[0])[-1].type_declared is False


def test_a_first_sync_with_a_custom_number_mapping_without_type_runs(tmp_path):
    scenario = contacts_scenario(tmp_path, extra="    mappings: [{hubspot: loyalty, app: loyalty_points}]")
    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE customers ADD COLUMN loyalty_points NUMERIC"))
    engine.dispose()
    with HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                       transport=httpx.WSGITransport(app=scenario.sandbox.wsgi_app)) as client:
        client.create_property("contacts", {"name": "loyalty", "label": "Loyalty", "type": "number", "fieldType": "number",
                                            "groupName": "contactinformation"})
    scenario.seed_hubspot([{"email": "a@example.com", "loyalty": "12.5"}])
    with dg.instance_for_test() as instance:
        result = build_definitions(scenario.config).resolve_job_def("first_sync").execute_in_process(instance=instance, raise_on_error=False)
    assert result.success
    assert [(row["email"], float(row["loyalty_points"])) for row in scenario.customers()] == [("a@example.com", 12.5)]
