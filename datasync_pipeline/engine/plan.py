"""The merge plan of a first sync: what to create and update on each side (rules 2 and 3).

For every matched pair and field, with the sync's direction deciding which sides may be written:
- the source side has no value: nothing is written;
- the target has no value and the source has one: the target is filled;
- both have values that differ: the default app's value wins, so the target is written only when
  the source is the default app; every such difference is recorded as a conflict.
Unmatched records are created on the other side when the direction lets them flow there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from datasync_pipeline.config.model import Direction, Side
from datasync_pipeline.engine.match import MatchResult
from datasync_pipeline.engine.normalize import blank_to_none, comparable
from datasync_pipeline.objects.catalogue import ResolvedMapping

UPDATE_COLUMNS = ["record_id", "other_id", "field", "value"]
CONFLICT_COLUMNS = ["hubspot_id", "app_id", "field", "hubspot_value", "app_value", "winner"]


@dataclass
class MergePlan:
    """Everything the load steps will write, and why; a dry run reports it and writes nothing."""

    pairs: pd.DataFrame  # hubspot_id, app_id, matched_by: links to keep in the state store
    hubspot_creates: pd.DataFrame  # ref (app id) + fields
    app_creates: pd.DataFrame  # ref (hubspot id) + fields
    hubspot_updates: pd.DataFrame  # record_id (hubspot id), other_id (app id), field, value
    app_updates: pd.DataFrame  # record_id (app id), other_id (hubspot id), field, value
    conflicts: pd.DataFrame
    excluded: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def flows(direction: Direction, to: Side) -> bool:
    """Whether the direction lets data be written to this side."""
    if direction is Direction.TWO_WAY:
        return True
    return (direction is Direction.APP_TO_HUBSPOT) == (to is Side.HUBSPOT)


def plan_first_sync(
    matched: MatchResult,
    hubspot: pd.DataFrame,
    app: pd.DataFrame,
    mappings: list[ResolvedMapping],
    *,
    direction: Direction,
    default_app: Side,
) -> MergePlan:
    fields = [m.hubspot for m in mappings]
    pairs = matched.pairs
    joined = (
        pairs[["hubspot_id", "app_id"]]
        .merge(hubspot[["record_id", *fields]].rename(columns={"record_id": "hubspot_id"}), on="hubspot_id", how="left")
        .merge(app[["record_id", *fields]].rename(columns={"record_id": "app_id"}), on="app_id", how="left", suffixes=("_hubspot", "_app"))
    )
    hubspot_updates, app_updates, conflicts = [], [], []
    for mapping in mappings:
        hubspot_raw, app_raw = joined[f"{mapping.hubspot}_hubspot"], joined[f"{mapping.hubspot}_app"]
        hubspot_value = comparable(hubspot_raw, mapping.value_type)
        app_value = comparable(app_raw, mapping.value_type)
        hubspot_has, app_has = hubspot_value.notna(), app_value.notna()
        differ = hubspot_has & app_has & (hubspot_value != app_value)
        winner = default_app.value
        conflicts.append(pd.DataFrame({
            "hubspot_id": joined.loc[differ, "hubspot_id"], "app_id": joined.loc[differ, "app_id"], "field": mapping.hubspot,
            "hubspot_value": blank_to_none(hubspot_raw[differ]), "app_value": blank_to_none(app_raw[differ]), "winner": winner,
        }))
        if flows(direction, Side.HUBSPOT):
            write = (app_has & ~hubspot_has) | (differ & (default_app is Side.APP))
            hubspot_updates.append(_updates(joined, write, "hubspot_id", "app_id", mapping.hubspot, blank_to_none(app_raw)))
        if flows(direction, Side.APP):
            write = (hubspot_has & ~app_has) | (differ & (default_app is Side.HUBSPOT))
            app_updates.append(_updates(joined, write, "app_id", "hubspot_id", mapping.hubspot, blank_to_none(hubspot_raw)))

    hubspot_creates = _creates(matched.app_only, fields) if flows(direction, Side.HUBSPOT) else _creates(matched.app_only.iloc[:0], fields)
    app_creates = _creates(matched.hubspot_only, fields) if flows(direction, Side.APP) else _creates(matched.hubspot_only.iloc[:0], fields)
    plan = MergePlan(
        pairs=pairs,
        hubspot_creates=hubspot_creates,
        app_creates=app_creates,
        hubspot_updates=_concat(hubspot_updates, UPDATE_COLUMNS),
        app_updates=_concat(app_updates, UPDATE_COLUMNS),
        conflicts=_concat(conflicts, CONFLICT_COLUMNS),
        excluded=matched.excluded,
    )
    plan.counts = {
        "matched": len(pairs),
        "hubspot_creates": len(plan.hubspot_creates),
        "app_creates": len(plan.app_creates),
        "hubspot_updates": plan.hubspot_updates["record_id"].nunique(),
        "app_updates": plan.app_updates["record_id"].nunique(),
        "conflicts": len(plan.conflicts),
        "excluded": len(plan.excluded),
    }
    return plan


def _updates(joined: pd.DataFrame, write: pd.Series, target: str, other: str, field_name: str, values: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"record_id": joined.loc[write, target], "other_id": joined.loc[write, other], "field": field_name, "value": values[write]})


def _creates(records: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    frame = records[["record_id", *fields]].rename(columns={"record_id": "ref"}).copy()
    for name in fields:
        frame[name] = blank_to_none(frame[name])
    return frame.reset_index(drop=True)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(frames, ignore_index=True)[columns]


def updates_by_record(updates: pd.DataFrame) -> dict[str, dict[str, str | None]]:
    """Long-format updates folded into one properties dict per record."""
    grouped: dict[str, dict[str, str | None]] = {}
    for record_id, field_name, value in updates[["record_id", "field", "value"]].itertuples(index=False):
        grouped.setdefault(str(record_id), {})[field_name] = value
    return grouped
