"""A merge plan as one row per planned write: what a dry run reports, and what `--output plan.csv` exports.

Each row is one action on one record: ``create`` (a record new on the target side, its fields in
``value`` as ``field=value; ...``), ``update`` (one field set on an existing record) or ``conflict``
(both sides held different values; ``winner`` is the default app, whose value is the one written).
"""

from __future__ import annotations

import pandas as pd

from datasync_pipeline.engine.plan import MergePlan

PREVIEW_COLUMNS = ["sync", "action", "target", "record_id", "other_id", "field", "value", "hubspot_value", "app_value", "winner"]
SIDE_NAMES = {"hubspot": "HubSpot", "app": "app"}


def plan_preview(plan: MergePlan, sync_name: str) -> pd.DataFrame:
    """Every create, update and conflict of the plan, in that order."""
    frames = []
    for target, creates in (("hubspot", plan.hubspot_creates), ("app", plan.app_creates)):
        if len(creates):
            fields = [c for c in creates.columns if c != "ref"]
            summary = creates[fields].apply(
                lambda row: "; ".join(f"{name}={value}" for name, value in row.items() if value is not None and not pd.isna(value)), axis=1)
            frames.append(pd.DataFrame({"action": "create", "target": target, "record_id": None, "other_id": creates["ref"].astype(str),
                                        "field": None, "value": summary}))
    for target, updates in (("hubspot", plan.hubspot_updates), ("app", plan.app_updates)):
        if len(updates):
            frames.append(pd.DataFrame({"action": "update", "target": target, "record_id": updates["record_id"].astype(str),
                                        "other_id": updates["other_id"].astype(str), "field": updates["field"], "value": updates["value"]}))
    if len(plan.conflicts):
        conflicts = plan.conflicts
        frames.append(pd.DataFrame({
            "action": "conflict", "target": None, "record_id": conflicts["hubspot_id"].astype(str), "other_id": conflicts["app_id"].astype(str),
            "field": conflicts["field"], "hubspot_value": conflicts["hubspot_value"], "app_value": conflicts["app_value"],
            "winner": conflicts["winner"],
        }))
    if not frames:
        return pd.DataFrame(columns=PREVIEW_COLUMNS)
    return pd.concat(frames, ignore_index=True).assign(sync=sync_name).reindex(columns=PREVIEW_COLUMNS)


def preview_markdown(preview: pd.DataFrame, *, limit: int = 50, more_hint: str = "") -> str:
    """The first rows of a preview as a markdown table (for the UI), with how many are left out."""
    if preview.empty:
        return "Nothing to write: both sides agree."
    lines = ["| action | target | record | other side | field | value / HubSpot ↔ app | winner |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in preview.head(limit).itertuples(index=False):
        if row.action == "conflict":
            shown = f"{_cell(row.hubspot_value)} ↔ {_cell(row.app_value)}"
        else:
            shown = _cell(row.value)
        target = SIDE_NAMES.get(row.target, "") if isinstance(row.target, str) else ""
        lines.append(f"| {row.action} | {target} | {_cell(row.record_id)} | {_cell(row.other_id)} | {_cell(row.field)} | {shown} | "
                     f"{_cell(row.winner)} |")
    if len(preview) > limit:
        lines.append(f"\n{len(preview) - limit:,} more rows. {more_hint}".rstrip())
    return "\n".join(lines)


def _cell(value: object, width: int = 60) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    text = str(value).replace("|", "/").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"
