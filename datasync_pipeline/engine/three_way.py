"""The three-way merge of ongoing sync (rules 2, 3, 9): each side against the values last synced.

For a linked pair and a field, with ``base`` the value that side held after the last sync:
- changed on one side only: the change flows to the other side (a cleared value clears it too);
- changed on both sides to different values: a conflict; the default app's value wins, and when
  the default app's value is empty the other side is left unchanged;
- changed nowhere: nothing is written, even if the sides differ (a one-way sync, or rule 3 leaving
  a side unchanged, keeps them different on purpose).
The direction decides which sides may be written at all. Every conflict is returned for the log.
"""

from __future__ import annotations

import pandas as pd

from datasync_pipeline.engine.normalize import blank_to_none, comparable
from datasync_pipeline.engine.plan import CONFLICT_COLUMNS, UPDATE_COLUMNS, flows
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.vocabulary import Direction, Side


def _differs(left: pd.Series, right: pd.Series) -> pd.Series:
    """None-aware inequality: None vs a value differs, None vs None does not."""
    both_missing = left.isna() & right.isna()
    return ~both_missing & ((left.isna() != right.isna()) | (left.fillna("") != right.fillna("")))


def merge_three_way(
    pairs: pd.DataFrame,
    mappings: list[ResolvedMapping],
    *,
    direction: Direction,
    default_app: Side,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Updates for HubSpot, updates for the app, and conflicts.

    ``pairs`` has hubspot_id, app_id and, per field, ``<field>__hubspot`` / ``<field>__app`` (current
    values) and ``<field>__hubspot_base`` / ``<field>__app_base`` (values after the last sync).
    """
    hubspot_updates, app_updates, conflicts = [], [], []
    for mapping in mappings:
        name = mapping.hubspot
        hubspot_now = comparable(pairs[f"{name}__hubspot"], mapping.value_type)
        app_now = comparable(pairs[f"{name}__app"], mapping.value_type)
        hubspot_changed = _differs(hubspot_now, comparable(pairs[f"{name}__hubspot_base"], mapping.value_type))
        app_changed = _differs(app_now, comparable(pairs[f"{name}__app_base"], mapping.value_type))
        sides_differ = _differs(hubspot_now, app_now)
        conflict = hubspot_changed & app_changed & sides_differ
        winner_value = hubspot_now if default_app is Side.HUBSPOT else app_now
        to_app = sides_differ & ((hubspot_changed & ~app_changed) | (conflict & (default_app is Side.HUBSPOT) & winner_value.notna()))
        to_hubspot = sides_differ & ((app_changed & ~hubspot_changed) | (conflict & (default_app is Side.APP) & winner_value.notna()))
        if flows(direction, Side.APP):
            app_updates.append(pd.DataFrame({
                "record_id": pairs.loc[to_app, "app_id"], "other_id": pairs.loc[to_app, "hubspot_id"],
                "field": name, "value": blank_to_none(pairs.loc[to_app, f"{name}__hubspot"]),
            }))
        if flows(direction, Side.HUBSPOT):
            hubspot_updates.append(pd.DataFrame({
                "record_id": pairs.loc[to_hubspot, "hubspot_id"], "other_id": pairs.loc[to_hubspot, "app_id"],
                "field": name, "value": blank_to_none(pairs.loc[to_hubspot, f"{name}__app"]),
            }))
        conflicts.append(pd.DataFrame({
            "hubspot_id": pairs.loc[conflict, "hubspot_id"], "app_id": pairs.loc[conflict, "app_id"], "field": name,
            "hubspot_value": blank_to_none(pairs.loc[conflict, f"{name}__hubspot"]),
            "app_value": blank_to_none(pairs.loc[conflict, f"{name}__app"]), "winner": default_app.value,
        }))
    return _concat(hubspot_updates, UPDATE_COLUMNS), _concat(app_updates, UPDATE_COLUMNS), _concat(conflicts, CONFLICT_COLUMNS)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(frames, ignore_index=True)[columns]


def pairs_with_values(
    pairs: pd.DataFrame, hubspot_now: pd.DataFrame, app_now: pd.DataFrame, fields: list[str]
) -> pd.DataFrame:
    """Lay current and base values side by side for ``merge_three_way``.

    ``pairs``: hubspot_id, app_id, hubspot_values, app_values (base dicts). A record missing from its
    ``*_now`` frame has not changed since the last sync: its current values are its base.
    """
    out = pairs[["hubspot_id", "app_id"]].reset_index(drop=True).copy()
    hubspot_base = pd.DataFrame(list(pairs["hubspot_values"]), columns=fields, dtype=object)
    app_base = pd.DataFrame(list(pairs["app_values"]), columns=fields, dtype=object)
    hubspot_current = hubspot_now.set_index("record_id")[fields].reindex(out["hubspot_id"]).reset_index(drop=True)
    app_current = app_now.set_index("record_id")[fields].reindex(out["app_id"]).reset_index(drop=True)
    hubspot_seen = out["hubspot_id"].isin(hubspot_now["record_id"])
    app_seen = out["app_id"].isin(app_now["record_id"])
    for name in fields:
        out[f"{name}__hubspot_base"] = hubspot_base[name]
        out[f"{name}__app_base"] = app_base[name]
        out[f"{name}__hubspot"] = hubspot_current[name].where(hubspot_seen, hubspot_base[name])
        out[f"{name}__app"] = app_current[name].where(app_seen, app_base[name])
    return out
