"""The code location loads: on the embedded default and on a file with several syncs."""

from __future__ import annotations

import importlib

import dagster as dg

from datasync_pipeline.config import parse_config
from datasync_pipeline.definitions import build_definitions

CHAIN = ["hubspot_records", "app_records", "matched", "merge_plan", "hubspot_load", "app_load", "checkpoint"]


def test_embedded_default_definitions_load(tmp_path, monkeypatch):
    monkeypatch.delenv("DATASYNC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    module = importlib.reload(importlib.import_module("datasync_pipeline.definitions"))
    dg.Definitions.validate_loadable(module.defs)
    job = module.defs.resolve_job_def("first_sync")
    assert job.tags["datasync/mode"] == "first"
    assert module.defs.resolve_job_def("incremental_sync").tags["datasync/mode"] == "incremental"
    keys = {key.to_user_string() for key in module.defs.resolve_asset_graph().get_all_asset_keys()}
    for sync in module.load_config().syncs:
        assert {f"{sync.name}/{step}" for step in CHAIN} <= keys


def test_each_sync_gets_its_own_group_and_secrets_stay_environment_references(monkeypatch):
    config = parse_config(
        """
connections:
  hubspot: {kind: hubspot, token: "${HUBSPOT_TOKEN}"}
  erp_a: {kind: sql, url: "${ERP_A_URL}"}
  erp_b: {kind: sql, url: "sqlite:///b.sqlite"}
state: {url: "sqlite:///state.sqlite"}
syncs:
  - {name: contacts_a, object: contacts, app: erp_a, table: {name: customers}}
  - {name: contacts_b, object: contacts, app: erp_b, table: {name: customers}}
  - {name: deals_b, object: deals, app: erp_b, table: {name: deals}, enabled: false}
""",
        source="test.yaml",
    )
    defs = build_definitions(config)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups["contacts_a/matched"] == "contacts_a" and groups["contacts_b/app_load"] == "contacts_b"
    assert not any(key.startswith("deals_b/") for key in groups)  # disabled syncs build nothing
    assert graph.get(dg.AssetKey(["contacts_a", "merge_plan"])).parent_keys == {dg.AssetKey(["contacts_a", "matched"])}
    # The watermarks move only after both loads: the checkpoint depends on them.
    assert {dg.AssetKey(["contacts_a", "hubspot_load"]), dg.AssetKey(["contacts_a", "app_load"])} <= graph.get(dg.AssetKey(["contacts_a", "checkpoint"])).parent_keys
    resources = defs.resources
    assert isinstance(resources["connection_hubspot"].token, dg.EnvVar)
    assert isinstance(resources["connection_erp_a"].url, dg.EnvVar)
