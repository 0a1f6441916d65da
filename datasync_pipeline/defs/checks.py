"""Asset checks: sync health in the Dagster UI.

Each sync's checkpoint carries the check ``no_failed_records``: it passes when every record of the sync
is synced or knowingly excluded, and fails (as a warning: the run itself did its job) with the failing
counts by error category and the first troubleshooting step of each, read from the state store.
"""

import dagster as dg

from datasync_pipeline.config.model import DatasyncConfig, SyncSpec
from datasync_pipeline.defs.resources import STATE_STORE_KEY
from datasync_pipeline.health.catalogue import guide_for
from datasync_pipeline.health.object_view import SyncHealth, sync_health

CHECK_NAME = "no_failed_records"


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
        return health_check_result(health)

    return no_failed_records


def health_check_result(health: SyncHealth) -> dg.AssetCheckResult:
    failing = health.failing
    metadata: dict[str, object] = {
        "datasync/synced": health.synced,
        "datasync/failed": sum(failing.values()),
        "datasync/excluded": sum(health.excluded.values()),
        **{f"datasync/failed/{category}": count for category, count in sorted(failing.items())},
    }
    if failing:
        lines = ["| category | records | what to do |", "| --- | ---: | --- |"]
        for category, count in sorted(failing.items(), key=lambda item: -item[1]):
            guide = guide_for(category)
            lines.append(f"| {guide.title} (`{category}`) | {count:,} | {guide.steps_for(health.sync)[0].replace('|', '/')} |")
        lines.append(f"\nAll steps and the records: `datasync health --sync {health.sync}`, `datasync records --sync {health.sync} --status failed`.")
        metadata["datasync/failing_by_category"] = dg.MetadataValue.md("\n".join(lines))
    return dg.AssetCheckResult(
        passed=not failing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=(f"{sum(failing.values()):,} records failing in {len(failing)} categories" if failing else "no failing records"),
    )
