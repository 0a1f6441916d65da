"""The asset factory: for each configured sync, the chain

    <sync>/hubspot_records, <sync>/app_records -> <sync>/matched -> <sync>/merge_plan
        -> <sync>/hubspot_load, <sync>/app_load -> <sync>/checkpoint

grouped under the sync's name, so the lineage graph shows which step of which sync failed.
Every step runs in the mode and dry-run setting of its run (the ``datasync_run`` resource): "first"
compares both sides in full; "incremental" reads what changed since the watermarks; a dry run plans and
reports, and writes nothing anywhere. The checkpoint advances the
watermarks only after both loads have committed, so a failed run is redone from the old marks.
The assets only wire: the engine plans, the connectors read and write, the state store remembers.
"""

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from datasync_pipeline.apply import load_app, load_hubspot
from datasync_pipeline.apply.outcome import name_outcomes
from datasync_pipeline.apply.pairs import commit_pair_values
from datasync_pipeline.config.model import DatasyncConfig, SyncSpec
from datasync_pipeline.connectors.base import AppConnector
from datasync_pipeline.defs.jobs import REASON_TAG
from datasync_pipeline.sync.binding import app_label, app_name

FAILED_RECORDS_TAG = "datasync/failed_records"
from datasync_pipeline.defs.resources import STATE_STORE_KEY, SYNC_RUN_KEY, SyncRunResource, connection_resource_key
from datasync_pipeline.engine import frames
from datasync_pipeline.engine.filters import filter_fields
from datasync_pipeline.engine.incremental import MatchedRecords, plan_incremental, side_values
from datasync_pipeline.engine.plan import MergePlan, plan_first_sync
from datasync_pipeline.engine.preview import plan_preview, preview_markdown
from datasync_pipeline.health.records import identity_fields
from datasync_pipeline.objects.catalogue import OBJECT_TYPES, ResolvedMapping, resolve_mappings
from datasync_pipeline.objects.type_checks import (
    app_type_problems,
    hubspot_type_problems,
    missing_field_problems,
    raise_if_any,
    typed_by_hubspot,
)
from datasync_pipeline.ongoing import changes
from datasync_pipeline.ongoing.matching import match_changes, match_everything
from datasync_pipeline.ongoing.own_writes import APP, HUBSPOT, app_lister, hubspot_lister, settle_past_own_writes

def build_sync_assets(config: DatasyncConfig, sync: SyncSpec) -> list[dg.AssetsDefinition]:
    mappings = resolve_mappings(sync)
    fields = [m.hubspot for m in mappings]
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

    def app_side(context: dg.AssetExecutionContext) -> AppConnector:
        """The app side of this sync, opened once per run by its connection's resource."""
        return getattr(context.resources, app_key).side(sync, mappings)

    def run_of(context: dg.AssetExecutionContext) -> SyncRunResource:
        return getattr(context.resources, SYNC_RUN_KEY)

    def store_of(context: dg.AssetExecutionContext):
        return getattr(context.resources, STATE_STORE_KEY).store()

    def watermark(context: dg.AssetExecutionContext, side: str) -> datetime:
        marks = store_of(context).watermarks(sync.name)
        if side not in marks:
            raise dg.Failure(f"sync {sync.name!r} has no {side} watermark yet: run the first sync (job first_sync) before incremental runs")
        return marks[side]

    common: dict[str, Any] = {"group_name": prefix}
    run_keys = {STATE_STORE_KEY, SYNC_RUN_KEY}

    @dg.asset(key=key("hubspot_records"), kinds={"hubspot", "pandas"}, required_resource_keys={hubspot_key, *run_keys},
              description=f"HubSpot {sync.object} with the mapped properties: all of them (first sync) or those changed since the watermark.", **common)
    def hubspot_records(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
        client = getattr(context.resources, hubspot_key).client
        calls_before = Counter(client.call_counts)
        if run_of(context).incremental:
            frame = changes.read_hubspot_changes(client, store_of(context), sync, typed(context), watermark(context, "hubspot"))
        else:
            raise_if_any(hubspot_type_problems(typed(context), sync.object, client.get_properties(sync.object)), where=f"sync {sync.name!r}, HubSpot {sync.object}")
            frame = frames.hubspot_frame(client.list_records(sync.object, properties=changes.hubspot_properties(sync, typed(context))), typed(context), sync.name, sync.filters.hubspot)
        context.log.info(f"read {len(frame):,} HubSpot {sync.object} ({run_of(context).mode.value})")
        return dg.Output(frame, metadata={"dagster/row_count": len(frame), **api_call_metadata(client.call_counts, calls_before)})

    @dg.asset(key=key("app_records"), kinds={app_kind, "pandas"}, required_resource_keys={app_key, hubspot_key, *run_keys},
              description=f"Records of the app ({where_app}) under HubSpot property names: all (first sync) or those changed since the watermark.", **common)
    def app_records(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
        side = app_side(context)
        types = side.value_types()
        used = [*(m.app for m in typed(context)), *filter_fields(sync.filters.app)]
        raise_if_any(missing_field_problems(used, types, where=app_name(sync)) + app_type_problems(typed(context), types, where=app_name(sync)),
                     where=f"sync {sync.name!r}, {where_app}")
        if run_of(context).incremental:
            frame = changes.read_app_changes(side, store_of(context), sync, watermark(context, "app"))
        else:
            frame = side.read_all()
        context.log.info(f"read {len(frame):,} records of {where_app} ({run_of(context).mode.value})")
        return dg.Output(frame, metadata={"dagster/row_count": len(frame)})

    @dg.asset(key=key("matched"), kinds={"pandas"}, required_resource_keys={hubspot_key, app_key, *run_keys},
              ins={"hubspot": dg.AssetIn(key("hubspot_records")), "app": dg.AssetIn(key("app_records"))},
              description=f"{sync.object} paired by their identity ({object_type.identity.value}) or their existing link; deletions found.", **common)
    def matched(context: dg.AssetExecutionContext, hubspot: pd.DataFrame, app: pd.DataFrame) -> dg.Output[MatchedRecords]:
        store = store_of(context)
        if run_of(context).incremental:
            client = getattr(context.resources, hubspot_key).client
            calls_before = Counter(client.call_counts)
            result = match_changes(sync, typed(context), hubspot, app, store=store, client=client, connector=app_side(context),
                                   app_watermark=watermark(context, "app"),
                                   check_every_link=context.run.tags.get(REASON_TAG) == "reconcile")
            extra = api_call_metadata(client.call_counts, calls_before)
        else:
            result, extra = match_everything(sync, typed(context), hubspot, app, store=store, keeps_origins=app_side(context).keeps_origins), {}
        return dg.Output(result, metadata={"dagster/row_count": len(result.new.pairs) + len(result.changed_pairs), **prefixed(result.counts), **extra})

    @dg.asset(key=key("merge_plan"), kinds={"pandas"}, ins={"matched": dg.AssetIn(key("matched"))}, required_resource_keys={hubspot_key, *run_keys},
              description="What the loads will write on each side: creates, updates, conflicts, exclusions.", **common)
    def merge_plan(context: dg.AssetExecutionContext, matched: MatchedRecords) -> dg.Output[MergePlan]:
        if run_of(context).incremental:
            plan = plan_incremental(matched, typed(context), direction=sync.direction, default_app=sync.default_app)
        else:
            plan = plan_first_sync(matched.new, matched.hubspot, matched.app, typed(context), direction=sync.direction, default_app=sync.default_app)
        plan.released_app_keys = dict(matched.deletions.reused_app_keys)
        base = matched.changed_pairs.set_index("hubspot_id") if len(matched.changed_pairs) else None
        plan.pairs = plan.pairs.reset_index(drop=True)
        for side, id_column in (("hubspot", "hubspot_id"), ("app", "app_id")):
            base_values = plan.pairs["hubspot_id"].map(base[f"{side}_values"]) if base is not None else None
            plan.pairs[f"{side}_values"] = side_values(plan.pairs, getattr(matched, side), id_column, fields, base_values)
        written = sum(plan.counts[k] for k in ("hubspot_creates", "app_creates", "hubspot_updates", "app_updates"))
        hint = f"The whole plan: `datasync first-sync --sync {sync.name} --dry-run --output plan.csv`."
        return dg.Output(plan, metadata={"dagster/row_count": written, **prefixed(plan.counts),
                                         "datasync/planned_writes": dg.MetadataValue.md(preview_markdown(plan_preview(plan, sync.name), more_hint=hint))})

    @dg.asset(key=key("hubspot_load"), kinds={"hubspot"}, required_resource_keys={hubspot_key, *run_keys},
              ins={"plan": dg.AssetIn(key("merge_plan"))},
              description=f"Creates and updates written to HubSpot {sync.object}; links kept in the state store.", **common)
    def hubspot_load(context: dg.AssetExecutionContext, plan: MergePlan) -> dg.MaterializeResult:
        client = getattr(context.resources, hubspot_key).client
        calls_before = Counter(client.call_counts)
        run = run_of(context)
        logged = 0
        if not run.dry_run:
            run.check_lease(sync.name)
            # Logged before either side is written, so a crash between the loads and the checkpoint cannot lose
            # them (a rerun finds the pair converged and sees no conflict any more).
            logged = store_of(context).record_conflicts(sync.name, plan.conflicts, run_id=context.run.run_id)
        outcome = load_hubspot(client, store_of(context), sync, typed(context), plan, dry_run=run.dry_run, run_id=context.run.run_id, log=context.log)
        return dg.MaterializeResult(metadata={**outcome.metadata(), "datasync/conflicts_logged": logged,
                                              **api_call_metadata(client.call_counts, calls_before)})

    # After the HubSpot load: the app rows it created records for get their new HubSpot ids in the same run.
    @dg.asset(key=key("app_load"), kinds={app_kind}, required_resource_keys={app_key, hubspot_key, *run_keys},
              ins={"plan": dg.AssetIn(key("merge_plan"))}, deps=[key("hubspot_load")],
              description=f"Creates and updates written to the app ({where_app}); links kept in the state store.", **common)
    def app_load(context: dg.AssetExecutionContext, plan: MergePlan) -> dg.MaterializeResult:
        run = run_of(context)
        if not run.dry_run:
            run.check_lease(sync.name)
        outcome = load_app(app_side(context), store_of(context), sync, typed(context), plan, dry_run=run.dry_run, run_id=context.run.run_id, log=context.log)
        return dg.MaterializeResult(metadata=outcome.metadata())

    @dg.asset(key=key("checkpoint"), kinds={"pandas"}, required_resource_keys={hubspot_key, app_key, *run_keys},
              ins={"hubspot": dg.AssetIn(key("hubspot_records")), "app": dg.AssetIn(key("app_records")), "matched": dg.AssetIn(key("matched")),
                   "plan": dg.AssetIn(key("merge_plan"))},
              deps=[key("hubspot_load"), key("app_load")],
              description="After both loads committed: deletions marked (rule 10), conflicts logged, watermarks advanced, freshness measured.", **common)
    def checkpoint(context: dg.AssetExecutionContext, hubspot: pd.DataFrame, app: pd.DataFrame,
                   matched: MatchedRecords, plan: MergePlan) -> dg.MaterializeResult:
        run = run_of(context)
        metadata: dict[str, Any] = {"datasync/dry_run": run.dry_run, **freshness_metadata(plan, hubspot, app),
                                    **{f"datasync/failed/{category}": int(count) for category, count in matched.invalid["category"].value_counts().items()}}
        if run.dry_run:
            return dg.MaterializeResult(metadata=metadata)
        run.check_lease(sync.name)
        store = store_of(context)
        run_id = context.run.run_id
        record_deletions(store, sync, matched, run_id=run_id)
        record_validation(store, sync, matched, run_id=run_id)
        failed = store.failed_records(sync.name, run_id=run_id)
        committed = commit_pair_values(store, sync.name, plan, failed=failed)
        marks = next_watermarks(context, hubspot, app, newest_app_deletion=matched.deletions.newest_app_deletion)
        store.advance_watermarks(sync.name, marks, run_id=run_id)
        # Past this run's own writes when nothing else changed: no run follows that finds only them.
        settle_past_own_writes(store, sync.name, HUBSPOT, hubspot_lister(getattr(context.resources, hubspot_key).client, sync.object),
                               run_id=run_id)
        settle_past_own_writes(store, sync.name, APP, app_lister(app_side(context)), run_id=run_id)
        current = store.watermarks(sync.name)
        name_outcomes(store, sync.name, identity_fields(sync), {"hubspot": hubspot, "app": app}, run_id=run_id)
        failed_in_run = len(store.failed_records(sync.name, run_id=run_id))
        if failed_in_run:
            # The run did its job (a Success), but it is marked: the Runs list shows which runs left failures.
            context.instance.add_run_tags(run_id, {f"{FAILED_RECORDS_TAG}/{sync.name}": str(failed_in_run)})
        metadata.update({
            "datasync/failed_in_run": failed_in_run,
            "datasync/pairs_committed": committed,
            "datasync/deleted_in_hubspot": len(matched.deletions.in_hubspot),
            "datasync/deleted_in_app": len(matched.deletions.in_app),
            **{f"datasync/watermark/{side}": mark.isoformat() for side, mark in current.items()},
        })
        return dg.MaterializeResult(metadata=metadata)

    return [hubspot_records, app_records, matched, merge_plan, hubspot_load, app_load, checkpoint]


def record_deletions(store, sync: SyncSpec, matched: MatchedRecords, *, run_id: str) -> None:
    """Rule 10: a record deleted on one side is not deleted on the other; its pair shows as failing."""
    from datasync_pipeline.errors import ErrorCategory

    deletions = matched.deletions
    rows = []
    for hubspot_ids, deleted_in, survivor_side, category in (
        (deletions.in_hubspot, "hubspot", "app", ErrorCategory.DELETED_IN_HUBSPOT),
        (deletions.in_app, "app", "hubspot", ErrorCategory.DELETED_IN_APP),
    ):
        if not hubspot_ids:
            continue
        store.mark_deleted(sync.name, hubspot_ids, deleted_in=deleted_in)
        pairs = store.last_values(sync.name, hubspot_ids=hubspot_ids)
        for hubspot_id, app_id in pairs[["hubspot_id", "app_id"]].itertuples(index=False):
            survivor = app_id if survivor_side == "app" else hubspot_id
            where = "HubSpot" if deleted_in == "hubspot" else f"the app ({app_label(sync)})"
            rows.append((survivor_side, survivor, "failed", str(category), f"its linked record was deleted in {where}"))
    if rows:
        store.record_outcomes(sync.name, pd.DataFrame(rows, columns=["side", "record_id", "status", "category", "message"]),
                              recorded_by="checkpoint", run_id=run_id)


def next_watermarks(context: dg.AssetExecutionContext, hubspot: pd.DataFrame, app: pd.DataFrame, *,
                    newest_app_deletion: datetime | None = None) -> dict[str, datetime]:
    """Where the next run reads from: everything changed before this run started, less the read overlap, was read.

    Not only the newest change read: after a bulk change sharing one timestamp, that alone would make every
    later run read the whole bulk again through the overlap. Soft-deleted app rows are read apart from the
    changes; the newest of them counts as read too, or the change probe would report it again forever.
    """
    record = context.instance.get_run_record_by_id(context.run.run_id)
    started = datetime.fromtimestamp(record.start_time, UTC) if record and record.start_time else datetime.now(UTC)
    marks = {}
    for side, frame, overlap in (("hubspot", hubspot, changes.HUBSPOT_OVERLAP), ("app", app, changes.APP_OVERLAP)):
        read = frame[frames.MODIFIED_AT].dropna() if frames.MODIFIED_AT in frame else pd.Series(dtype="datetime64[ns, UTC]")
        newest_read = read.max().to_pydatetime() if len(read) else None
        # Like a change read, but only if stamped before the run started: the changes read after that were
        # not all read yet when the deletions were (a later run counts them).
        deleted = newest_app_deletion if side == "app" and newest_app_deletion and newest_app_deletion <= started else None
        marks[side] = max(filter(None, [newest_read, deleted, started - overlap]))
    return marks


def record_validation(store, sync: SyncSpec, matched: MatchedRecords, *, run_id: str) -> None:
    """Invalid rows are failed records (their category names the problem); rows valid again are cleared."""
    invalid = matched.invalid
    for side, frame in (("hubspot", matched.hubspot), ("app", matched.app)):
        store.clear_outcomes(sync.name, side, frame["record_id"], recorded_by="validation")
    if len(invalid):
        store.record_outcomes(sync.name, invalid.assign(status="failed").rename(columns={"detail": "message"}),
                              recorded_by="validation", run_id=run_id)


def freshness_metadata(plan: MergePlan, hubspot: pd.DataFrame, app: pd.DataFrame) -> dict[str, float]:
    """Lag from a change on the source to now (its write is committed), p50 and p95 in seconds."""
    now = pd.Timestamp.now(tz="UTC")
    lags = []
    for frame, written in ((hubspot, set(plan.app_updates["other_id"]) | set(plan.app_creates["ref"])),
                           (app, set(plan.hubspot_updates["other_id"]) | set(plan.hubspot_creates["ref"]))):
        if frames.MODIFIED_AT in frame and written:
            changed = frame.loc[frame["record_id"].isin(written), frames.MODIFIED_AT].dropna()
            lags.extend((now - changed).dt.total_seconds().tolist())
    if not lags:
        return {}
    series = pd.Series(lags)
    return {"datasync/freshness_p50_seconds": round(float(series.quantile(0.5)), 3),
            "datasync/freshness_p95_seconds": round(float(series.quantile(0.95)), 3),
            "datasync/records_with_freshness": len(lags)}


def prefixed(counts: dict[str, int]) -> dict[str, int]:
    return {f"datasync/{name}": int(value) for name, value in counts.items()}


def api_call_metadata(after: Counter, before: Counter) -> dict[str, Any]:
    made = Counter(after)
    made.subtract(before)
    made = Counter({endpoint: n for endpoint, n in made.items() if n > 0})
    return {"datasync/api_calls": sum(made.values()), "datasync/api_calls_by_endpoint": dg.MetadataValue.json(dict(made))}
