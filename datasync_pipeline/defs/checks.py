"""Asset checks: sync health in the Dagster UI, down to the failed records.

Each sync's checkpoint carries the check ``no_failed_records``: it passes when every record of the sync
is synced or knowingly excluded. Otherwise it fails with the failing counts by error category, every
troubleshooting step of each, and a table of the first failed outcomes (side, id, identity, step, category,
message, what to do), read from the state store. ``datasync/failed`` counts records: one record failing in two
steps (its write and its associations) is one failing record, listed under both categories and in two lines
of the table, one per outcome. Its severity says how bad it is: ERROR when more than
``DATASYNC_FAILED_SHARE_ERROR`` (default 0.05, i.e. 5%) of the sync's records fail, WARN below.
"""


import dagster as dg
import sqlalchemy as sa

from datasync_pipeline.config.model import DatasyncConfig, SyncSpec
from datasync_pipeline.defs.resources import STATE_STORE_KEY
from datasync_pipeline.health.catalogue import guide_for
from datasync_pipeline.health.object_view import SyncHealth, sync_health
from datasync_pipeline.settings import current as current_settings
from datasync_pipeline.state.tables import record_status
from datasync_pipeline.vocabulary import Recorder

CHECK_NAME = "no_failed_records"
# The step that recorded an outcome (``Recorder``), as the check's table names it.
STEP_LABELS = {Recorder.HUBSPOT_LOAD: "HubSpot load", Recorder.APP_LOAD: "app load", Recorder.CHECKPOINT: "checkpoint",
               Recorder.VALIDATION: "validation", Recorder.ASSOCIATIONS: "associations"}
RECORDS_SHOWN = 50


def error_share() -> float:
    """The failed share at which the check is an error (``DATASYNC_FAILED_SHARE_ERROR``, ``settings.py``)."""
    return current_settings().failed_share_error


def build_health_checks(config: DatasyncConfig) -> list[dg.AssetChecksDefinition]:
    return [_no_failed_records(sync) for sync in config.syncs if sync.enabled]


def _no_failed_records(sync: SyncSpec) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey([sync.name, "checkpoint"]),
        name=CHECK_NAME,
        required_resource_keys={STATE_STORE_KEY},
        description=f"Every {sync.object} record of {sync.name} is synced or excluded for a reason: none failed, none deleted on one side.",
    )
    def no_failed_records(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        store = getattr(context.resources, STATE_STORE_KEY).store()
        health = sync_health(store.engine, sync)
        return health_check_result(health, failed_records_markdown(store.engine, sync.name))

    return no_failed_records


def health_check_result(health: SyncHealth, records_table: str | None = None) -> dg.AssetCheckResult:
    failing = health.failing
    failed_count = health.failing_records
    metadata: dict[str, object] = {
        "datasync/synced": health.synced,
        "datasync/failed": failed_count,
        "datasync/excluded": health.excluded_records,
        **{f"datasync/failed/{category}": count for category, count in sorted(failing.items())},
    }
    share = failed_count / max(health.synced + failed_count, 1)
    if failing:
        lines = ["| category | records | what to do |", "| --- | ---: | --- |"]  # a record under each of its categories
        for category, count in sorted(failing.items(), key=lambda item: -item[1]):
            guide = guide_for(category)
            steps = "<br>".join(f"{number}. {step.replace('|', '/')}" for number, step in enumerate(guide.steps_for(health.sync), 1))
            lines.append(f"| {guide.title} (`{category}`) | {count:,} | {steps} |")
        listing = getattr(health, "records_command", None) or f"datasync records --sync {health.sync} --status failed"
        lines.append(f"\nAll steps and every record: `datasync health --sync {health.sync}`, `{listing}`.")
        metadata["datasync/failing_by_category"] = dg.MetadataValue.md("\n".join(lines))
        metadata["datasync/failed_share"] = round(share, 4)
        if records_table:
            metadata["datasync/failed_records"] = dg.MetadataValue.md(records_table)
    severity = dg.AssetCheckSeverity.ERROR if failing and share > error_share() else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=not failing,
        severity=severity,
        metadata=metadata,
        description=(f"{failed_count:,} records failing ({share:.1%}) in {len(failing)} categories" if failing else "no failing records"),
    )


def failed_records_markdown(engine: sa.Engine, sync_name: str, *, limit: int = RECORDS_SHOWN) -> str | None:
    """The first failed outcomes of a sync as a markdown table: side, id, identity, step, category, message, what to do.

    One line per outcome: a record whose write and associations both failed has two lines, one per step."""
    query = (
        sa.select(record_status.c.side, record_status.c.record_id, record_status.c.identity, record_status.c.recorded_by,
                  record_status.c.category, record_status.c.message)
        .where(record_status.c.sync == sync_name, record_status.c.status == "failed")
        .order_by(record_status.c.recorded_at.desc(), record_status.c.record_id, record_status.c.recorded_by)
        .limit(limit + 1)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    if not rows:
        return None
    lines = ["| side | record | identity | step | category | message | what to do |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for side, record_id, identity_value, recorded_by, category, message in rows[:limit]:
        first_step = guide_for(category).steps_for(sync_name)[0]
        lines.append(f"| {'HubSpot' if side == 'hubspot' else 'app'} | {record_id} | {_cell(identity_value)} | {STEP_LABELS.get(recorded_by, recorded_by)} | "
                     f"`{category}` | "
                     f"{_cell(message, 240)} | {_cell(first_step, 120)} |")
    if len(rows) > limit:
        lines.append(f"\nThe first {limit} outcomes shown; every failed record: `datasync records --sync {sync_name} --status failed`.")
    return "\n".join(lines)


def _cell(value: object, width: int = 80) -> str:
    if value is None:
        return ""
    text = str(value).replace("|", "/").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"
