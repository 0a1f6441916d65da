"""The asset factory: for each configured sync, the chain

    <sync>/hubspot_records, <sync>/app_records -> <sync>/matched -> <sync>/merge_plan
        -> <sync>/hubspot_load, <sync>/app_load -> <sync>/checkpoint

grouped under the sync's name, so the lineage graph shows which step of which sync failed.
Every step runs in the mode and dry-run setting of its run (the ``datasync_run`` resource): "first"
compares both sides in full; "incremental" reads what changed since the watermarks; a dry run plans and
reports, and writes nothing anywhere. The checkpoint advances the
watermarks only after both loads have committed, so a failed run is redone from the old marks.
The assets only wire: each body is one call into ``sync/`` (extract, match, plan, load, checkpoint) with the step's
``Step``; the engine plans, the connectors read and write, the state store remembers.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from datasync_pipeline.config.model import DatasyncConfig, SyncSpec
from datasync_pipeline.defs.resources import STATE_STORE_KEY, SYNC_RUN_KEY, connection_resource_key
from datasync_pipeline.engine.incremental import MatchedRecords
from datasync_pipeline.engine.plan import MergePlan
from datasync_pipeline.objects.catalogue import OBJECT_TYPES, ResolvedMapping
from datasync_pipeline.objects.type_checks import typed_by_hubspot
from datasync_pipeline.settings import Settings
from datasync_pipeline.sync import checkpoint as checkpoint_step
from datasync_pipeline.sync import extract, load
from datasync_pipeline.sync import match as match_step
from datasync_pipeline.sync import plan as plan_step
from datasync_pipeline.sync.binding import app_label
from datasync_pipeline.sync.mappings import resolve_mappings
from datasync_pipeline.sync.step import Markdown, NoWatermarkYet, Step
from datasync_pipeline.sync.translate import Translation, translating
from datasync_pipeline.vocabulary import FAILED_RECORDS_TAG, REASON_TAG, RunReason, Side


def build_sync_assets(config: DatasyncConfig, sync: SyncSpec, settings: Settings | None = None) -> list[dg.AssetsDefinition]:
    settings = settings or Settings.from_environment()
    mappings = resolve_mappings(sync)
    object_type = OBJECT_TYPES[sync.object]
    hubspot_key = connection_resource_key(config.hubspot_connection_name(sync))
    app_key = connection_resource_key(sync.app)
    prefix = sync.name
    where_app = app_label(sync)
    app_kind = config.connections[sync.app].kind

    def key(name: str) -> dg.AssetKey:
        return dg.AssetKey([prefix, name])

    typed_in_run: dict[str, list[ResolvedMapping]] = {}

    def typed(context: dg.AssetExecutionContext) -> list[ResolvedMapping]:
        """The mappings with the types their HubSpot properties give (read once per run, only when some mapping needs it)."""
        run_id = context.run.run_id
        if run_id not in typed_in_run:
            client = getattr(context.resources, hubspot_key).client
            typed_in_run.clear()  # one run at a time in a process: keep only this one's
            typed_in_run[run_id] = typed_by_hubspot(mappings, lambda: client.get_properties(sync.object))
        return typed_in_run[run_id]

    translation_in_run: dict[str, Translation] = {}

    def translation(context: dg.AssetExecutionContext) -> Translation | None:
        """How the app's words become HubSpot's values (``sync/translate.py``), with the owners and pipelines its
        lookups need read once per run; None when no mapping translates."""
        if not any(m.translated for m in mappings):
            return None
        run_id = context.run.run_id
        if run_id not in translation_in_run:
            translation_in_run.clear()
            translation_in_run[run_id] = Translation.of(typed(context), sync.object, getattr(context.resources, hubspot_key).client)
        return translation_in_run[run_id]

    def step(context: dg.AssetExecutionContext) -> Step:
        return sync_step(context, sync, typed(context), hubspot_key=hubspot_key, app_key=app_key, settings=settings,
                         translation=translation(context))

    common: dict[str, Any] = {"group_name": prefix}
    run_keys = {STATE_STORE_KEY, SYNC_RUN_KEY}

    # Before the app's read (``dagster/priority``): the account's rate-limit window starts with the first request, so
    # the HubSpot read goes first and the app read falls in a wait of the HubSpot side, never before it.
    @dg.asset(key=key("hubspot_records"), kinds={"hubspot", "pandas"}, required_resource_keys={hubspot_key, *run_keys},
              op_tags={"dagster/priority": "1"},
              description=f"HubSpot {sync.object} with the mapped properties: all of them (first sync) or those changed since the watermark.", **common)
    def hubspot_records(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
        return output(*refused_as_failure(extract.read_hubspot, step(context)))

    @dg.asset(key=key("app_records"), kinds={app_kind, "pandas"}, required_resource_keys={app_key, hubspot_key, *run_keys},
              description=f"Records of the app ({where_app}) under HubSpot property names: all (first sync) or those changed since the watermark.", **common)
    def app_records(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
        return output(*refused_as_failure(extract.read_app, step(context)))

    @dg.asset(key=key("matched"), kinds={"pandas"}, required_resource_keys={hubspot_key, app_key, *run_keys},
              ins={"hubspot": dg.AssetIn(key("hubspot_records")), "app": dg.AssetIn(key("app_records"))},
              description=f"{sync.object} paired by their identity ({object_type.identity.value}) or their existing link; deletions found.", **common)
    def matched(context: dg.AssetExecutionContext, hubspot: pd.DataFrame, app: pd.DataFrame) -> dg.Output[MatchedRecords]:
        return output(*refused_as_failure(match_step.match, step(context), hubspot, app))

    @dg.asset(key=key("merge_plan"), kinds={"pandas"}, ins={"matched": dg.AssetIn(key("matched"))}, required_resource_keys={hubspot_key, *run_keys},
              description="What the loads will write on each side: creates, updates, conflicts, exclusions.", **common)
    def merge_plan(context: dg.AssetExecutionContext, matched: MatchedRecords) -> dg.Output[MergePlan]:
        return output(*plan_step.plan(step(context), matched))

    # One step writes both sides at once (``sync/load.py``): the app's writes hide in the HubSpot load's rate-limit
    # waits. The app load depends on the HubSpot load: the app rows it created records for get their new HubSpot ids.
    @dg.multi_asset(
        name=f"{prefix}__loads", required_resource_keys={hubspot_key, app_key, *run_keys}, ins={"plan": dg.AssetIn(key("merge_plan"))},
        can_subset=True,  # so that selecting one load alone reaches the refusal of a plan not computed in this run
        specs=[
            dg.AssetSpec(key("hubspot_load"), kinds={"hubspot"}, group_name=prefix, deps=[key("merge_plan")],
                         description=f"Creates and updates written to HubSpot {sync.object}; links kept in the state store."),
            dg.AssetSpec(key("app_load"), kinds={app_kind}, group_name=prefix, deps=[key("merge_plan"), key("hubspot_load")],
                         description=f"Creates and updates written to the app ({where_app}); links kept in the state store."),
        ],
    )
    def loads(context: dg.AssetExecutionContext, plan: MergePlan):
        written = load.load_step(step(context), plan)
        for side in Side:
            if side in written.metadata and key(f"{side.value}_load") in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=key(f"{side.value}_load"), metadata=dagster_metadata(written.metadata[side]))
        if written.error is not None:
            raise written.error

    @dg.asset(key=key("checkpoint"), kinds={"pandas"}, required_resource_keys={hubspot_key, app_key, *run_keys},
              ins={"hubspot": dg.AssetIn(key("hubspot_records")), "app": dg.AssetIn(key("app_records")), "matched": dg.AssetIn(key("matched")),
                   "plan": dg.AssetIn(key("merge_plan"))},
              deps=[key("hubspot_load"), key("app_load")],
              description="After both loads committed: deletions marked (rule 10), conflicts logged, watermarks advanced, freshness measured.", **common)
    def checkpoint(context: dg.AssetExecutionContext, hubspot: pd.DataFrame, app: pd.DataFrame,
                   matched: MatchedRecords, plan: MergePlan) -> dg.MaterializeResult:
        metadata, failed_in_run = checkpoint_step.checkpoint(step(context), hubspot, app, matched, plan)
        if failed_in_run:
            # The run did its job (a Success), but it is marked: the Runs list shows which runs left failures.
            context.instance.add_run_tags(context.run.run_id, {f"{FAILED_RECORDS_TAG}/{sync.name}": str(failed_in_run)})
        return dg.MaterializeResult(metadata=dagster_metadata(metadata))

    return [hubspot_records, app_records, matched, merge_plan, loads, checkpoint]


def sync_step(context: dg.AssetExecutionContext, sync: SyncSpec, mappings: list[ResolvedMapping], *, hubspot_key: str, app_key: str,
              settings: Settings, translation: Translation | None = None) -> Step:
    """This step of this sync's run, for the plain code of ``sync/``: the resources are opened when first used, the app
    side speaking HubSpot's values where the sync translates them."""
    run = getattr(context.resources, SYNC_RUN_KEY)
    hubspot = getattr(context.resources, hubspot_key)
    reason = context.run.tags.get(REASON_TAG)
    return Step(
        sync=sync, mappings=mappings, store=getattr(context.resources, STATE_STORE_KEY).store(), client=hubspot.client,
        app=lambda: translating(getattr(context.resources, app_key).side(sync, resolve_mappings(sync)), translation),
        hubspot=lambda: hubspot.primary_side(sync, resolve_mappings(sync)),
        mode=run.mode, dry_run=run.dry_run, run_id=context.run.run_id, started=run_started(context), settings=settings,
        log=context.log, reason=RunReason(reason) if reason in set(RunReason) else None, journal=bool(getattr(hubspot, "journal", False)),
        check_lease=run.check_lease,
    )


def run_started(context: dg.AssetExecutionContext) -> datetime:
    """When this run started (Dagster's record of it), else now: what the watermarks advance to, less the overlap."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    return datetime.fromtimestamp(record.start_time, UTC) if record and record.start_time else datetime.now(UTC)


def refused_as_failure(call, *args):
    """A sync that cannot run incrementally yet fails its step with the reason alone (no traceback to read)."""
    try:
        return call(*args)
    except NoWatermarkYet as refused:
        raise dg.Failure(str(refused), allow_retries=False) from None


def dagster_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Plain metadata as Dagster shows it: ``Markdown`` rendered, dicts as JSON."""
    shown = {}
    for name, value in metadata.items():
        if isinstance(value, Markdown):
            value = dg.MetadataValue.md(value.text)
        elif isinstance(value, dict):
            value = dg.MetadataValue.json(value)
        shown[name] = value
    return shown


def output(value: Any, metadata: dict[str, Any]) -> dg.Output:
    return dg.Output(value, metadata=dagster_metadata(metadata))
