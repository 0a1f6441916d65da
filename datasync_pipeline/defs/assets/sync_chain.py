"""The asset factory: for each configured sync, the chain

    <sync>/hubspot_records, <sync>/app_records -> <sync>/matched -> <sync>/merge_plan
        -> <sync>/hubspot_load, <sync>/app_load

grouped under the sync's name, so the lineage graph shows which step of which sync failed.
The assets only wire: the engine plans, the connectors read and write, the state store remembers.
"""


from collections import Counter
from typing import Any

import dagster as dg
import pandas as pd

from datasync_pipeline.config.model import DatasyncConfig, SyncSpec
from datasync_pipeline.engine import frames
from datasync_pipeline.apply import load_app, load_hubspot
from datasync_pipeline.defs.resources import STATE_STORE_KEY, connection_resource_key
from datasync_pipeline.engine.filters import filter_fields
from datasync_pipeline.engine.match import MatchResult, match_records
from datasync_pipeline.engine.plan import MergePlan, plan_first_sync
from datasync_pipeline.objects.catalogue import OBJECT_TYPES, resolve_mappings
from datasync_pipeline.objects.type_checks import app_type_problems, hubspot_type_problems, raise_if_any


class LoadConfig(dg.Config):
    """Run-time switches of a load step."""

    dry_run: bool = False


def build_sync_assets(config: DatasyncConfig, sync: SyncSpec) -> list[dg.AssetsDefinition]:
    mappings = resolve_mappings(sync)
    object_type = OBJECT_TYPES[sync.object]
    hubspot_key = connection_resource_key(config.hubspot_connection_name(sync))
    app_key = connection_resource_key(sync.app)
    prefix = sync.name
    associations = [a for a in sync.associations if a.enabled]
    app_columns = list(dict.fromkeys([m.app for m in mappings] + filter_fields(sync.filters.app) + [a.app_column for a in associations]))

    def key(name: str) -> dg.AssetKey:
        return dg.AssetKey([prefix, name])

    common: dict[str, Any] = {"group_name": prefix}

    @dg.asset(key=key("hubspot_records"), kinds={"hubspot", "pandas"}, required_resource_keys={hubspot_key},
              description=f"Every HubSpot {sync.object} record, with the mapped properties.", **common)
    def hubspot_records(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
        client = getattr(context.resources, hubspot_key).client
        calls_before = Counter(client.call_counts)
        problems = hubspot_type_problems(mappings, sync.object, client.get_properties(sync.object))
        raise_if_any(problems, where=f"sync {sync.name!r}, HubSpot {sync.object}")
        properties = list(dict.fromkeys([m.hubspot for m in mappings] + filter_fields(sync.filters.hubspot) + [frames.ORIGIN_PROPERTY]))
        frame = frames.hubspot_frame(client.list_records(sync.object, properties=properties), mappings, sync.name, sync.filters.hubspot)
        context.log.info(f"read {len(frame):,} HubSpot {sync.object}")
        return dg.Output(frame, metadata={"dagster/row_count": len(frame), **api_call_metadata(client.call_counts, calls_before)})

    @dg.asset(key=key("app_records"), kinds={"sql", "pandas"}, required_resource_keys={app_key},
              description=f"Every row of the app table {sync.table.name!r}, renamed to HubSpot property names.", **common)
    def app_records(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
        with getattr(context.resources, app_key).connector(sync.table, app_columns) as connector:
            raise_if_any(app_type_problems(mappings, connector.app_table.table), where=f"sync {sync.name!r}, app table {sync.table.name!r}")
            frame = frames.app_frame(connector.read_all(), mappings, sync.table, sync.filters.app, associations)
        context.log.info(f"read {len(frame):,} rows of {sync.table.name}")
        return dg.Output(frame, metadata={"dagster/row_count": len(frame)})

    @dg.asset(key=key("matched"), kinds={"pandas"}, required_resource_keys={STATE_STORE_KEY},
              ins={"hubspot": dg.AssetIn(key("hubspot_records")), "app": dg.AssetIn(key("app_records"))},
              description=f"HubSpot and app {sync.object} paired by their identity ({object_type.identity.value}).", **common)
    def matched(context: dg.AssetExecutionContext, hubspot: pd.DataFrame, app: pd.DataFrame) -> dg.Output[MatchResult]:
        known = getattr(context.resources, STATE_STORE_KEY).store().known_pairs(sync.name)
        domain_counts = any(m.hubspot == "domain" and m.is_default for m in mappings)
        result = match_records(
            hubspot, app, object_type.identity, known_pairs=known,
            allow_contacts_without_email=sync.sync_contacts_without_email, domain_counts=domain_counts,
        )
        return dg.Output(result, metadata={"dagster/row_count": len(result.pairs), **prefixed(result.counts)})

    @dg.asset(key=key("merge_plan"), kinds={"pandas"},
              ins={"matched": dg.AssetIn(key("matched")), "hubspot": dg.AssetIn(key("hubspot_records")), "app": dg.AssetIn(key("app_records"))},
              description="What the loads will write on each side: creates, updates, conflicts, exclusions.", **common)
    def merge_plan(context: dg.AssetExecutionContext, matched: MatchResult, hubspot: pd.DataFrame, app: pd.DataFrame) -> dg.Output[MergePlan]:
        plan = plan_first_sync(matched, hubspot, app, mappings, direction=sync.direction, default_app=sync.default_app)
        return dg.Output(plan, metadata={"dagster/row_count": sum(plan.counts[k] for k in ("hubspot_creates", "app_creates", "hubspot_updates", "app_updates")),
                                         **prefixed(plan.counts)})

    @dg.asset(key=key("hubspot_load"), kinds={"hubspot"}, required_resource_keys={hubspot_key, STATE_STORE_KEY},
              ins={"plan": dg.AssetIn(key("merge_plan")), "hubspot": dg.AssetIn(key("hubspot_records"))},
              description=f"Creates and updates written to HubSpot {sync.object}; links kept in the state store.", **common)
    def hubspot_load(context: dg.AssetExecutionContext, config: LoadConfig, plan: MergePlan, hubspot: pd.DataFrame) -> dg.MaterializeResult:
        client = getattr(context.resources, hubspot_key).client
        calls_before = Counter(client.call_counts)
        store = getattr(context.resources, STATE_STORE_KEY).store()
        outcome = load_hubspot(client, store, sync, mappings, plan, hubspot, dry_run=config.dry_run, run_id=context.run.run_id, log=context.log)
        return dg.MaterializeResult(metadata={**outcome.metadata(), **api_call_metadata(client.call_counts, calls_before)})

    @dg.asset(key=key("app_load"), kinds={"sql"}, required_resource_keys={app_key, STATE_STORE_KEY},
              ins={"plan": dg.AssetIn(key("merge_plan")), "app": dg.AssetIn(key("app_records"))},
              description=f"Creates and updates written to the app table {sync.table.name!r}; links kept in the state store.", **common)
    def app_load(context: dg.AssetExecutionContext, config: LoadConfig, plan: MergePlan, app: pd.DataFrame) -> dg.MaterializeResult:
        store = getattr(context.resources, STATE_STORE_KEY).store()
        with getattr(context.resources, app_key).connector(sync.table, app_columns) as connector:
            outcome = load_app(connector, store, sync, mappings, plan, app, dry_run=config.dry_run, run_id=context.run.run_id, log=context.log)
        return dg.MaterializeResult(metadata=outcome.metadata())

    return [hubspot_records, app_records, matched, merge_plan, hubspot_load, app_load]


def prefixed(counts: dict[str, int]) -> dict[str, int]:
    return {f"datasync/{name}": int(value) for name, value in counts.items()}


def api_call_metadata(after: Counter, before: Counter) -> dict[str, Any]:
    made = Counter(after)
    made.subtract(before)
    made = Counter({endpoint: n for endpoint, n in made.items() if n > 0})
    return {"datasync/api_calls": sum(made.values()), "datasync/api_calls_by_endpoint": dg.MetadataValue.json(dict(made))}
