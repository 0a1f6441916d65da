"""The plan step: what the loads will write on each side (``engine``'s complete plan), with its preview."""

from __future__ import annotations

from typing import Any

from datasync_pipeline.engine.incremental import MatchedRecords, plan_matched
from datasync_pipeline.engine.plan import MergePlan
from datasync_pipeline.engine.preview import plan_preview, preview_markdown
from datasync_pipeline.sync.step import Markdown, Step, prefixed

WRITES = ("hubspot_creates", "app_creates", "hubspot_updates", "app_updates")


def plan(step: Step, matched: MatchedRecords) -> tuple[MergePlan, dict[str, Any]]:
    """``<sync>/merge_plan``: creates, updates, conflicts and exclusions of both sides, and a preview of the writes."""
    sync = step.sync
    merge_plan = plan_matched(matched, step.mappings, direction=sync.direction, default_app=sync.default_app)
    written = sum(merge_plan.counts[name] for name in WRITES)
    hint = f"The whole plan: `datasync first-sync --sync {sync.name} --dry-run --output plan.csv`."
    return merge_plan, {"dagster/row_count": written, **prefixed(merge_plan.counts),
                        "datasync/planned_writes": Markdown(preview_markdown(plan_preview(merge_plan, sync.name), more_hint=hint))}
