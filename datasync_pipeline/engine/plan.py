"""The merge plan of a first sync: what to create and update on each side (rules 2 and 3).

For every matched pair and field, with the sync's direction deciding which sides may be written:
- the source side has no value: nothing is written;
- the target has no value and the source has one: the target is filled;
- both have values that differ: the default app's value wins, so the target is written only when
  the source is the default app; every such difference is recorded as a conflict.
Unmatched records are created on the other side when the direction lets them flow there.

Pairs already linked in the state store with last synced values (a first sync run again) are not
compared but merged three ways against those values, as an incremental run merges them
(``three_way``): a change on one side since the last sync flows, only a change on both is a conflict.
The plan also lists the matched app rows whose external-id column does not hold their HubSpot id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from datasync_pipeline.engine.match import MatchResult
from datasync_pipeline.engine.normalize import blank_to_none, comparable_values, is_text, text_values
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.vocabulary import Direction, Side

UPDATE_COLUMNS = ["record_id", "other_id", "field", "value"]
EXTERNAL_ID_COLUMNS = ["record_id", "hubspot_id"]
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
    # Matched app rows (record_id: app id) whose external-id column is empty or holds another id.
    app_external_ids: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EXTERNAL_ID_COLUMNS, dtype=object))
    # Pairs whose app key another row holds now (hubspot id -> key): released before any link is written.
    released_app_keys: dict[str, str] = field(default_factory=dict)

    def creates_for(self, side: Side) -> pd.DataFrame:
        """The records to create on ``side`` (``ref``: the id of the record each comes from)."""
        return self.hubspot_creates if side is Side.HUBSPOT else self.app_creates

    def updates_for(self, side: Side) -> pd.DataFrame:
        """The field updates of records on ``side``."""
        return self.hubspot_updates if side is Side.HUBSPOT else self.app_updates


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
    base = getattr(matched, "base", None)
    merged = pairs["hubspot_id"].isin(base["hubspot_id"]).to_numpy() if base is not None and len(base) else np.zeros(len(pairs), dtype=bool)
    pair_rows = getattr(matched, "pair_rows", None)
    if merged.any():
        pair_rows = tuple(rows[~merged] for rows in pair_rows) if pair_rows is not None and len(pair_rows[0]) == len(pairs) else None
        joined = _Joined.of(pairs[~merged], pair_rows, hubspot, app, fields)
    else:
        joined = _Joined.of(pairs, pair_rows, hubspot, app, fields)
    hubspot_updates, app_updates, conflicts = [], [], []
    for mapping in mappings:
        compared = _compare(joined, mapping)
        differ, hubspot_has, app_has = compared.differ, compared.hubspot_has, compared.app_has
        conflicts.append(pd.DataFrame({
            "hubspot_id": joined.hubspot_ids[differ], "app_id": joined.app_ids[differ], "field": mapping.hubspot,
            "hubspot_value": compared.hubspot_text[differ], "app_value": compared.app_text[differ], "winner": default_app.value,
        }))
        if flows(direction, Side.HUBSPOT):
            write = (app_has & ~hubspot_has) | (differ & (default_app is Side.APP))
            hubspot_updates.append(_updates(write, joined.hubspot_ids, joined.app_ids, mapping.hubspot, compared.app_text))
        if flows(direction, Side.APP):
            write = (hubspot_has & ~app_has) | (differ & (default_app is Side.HUBSPOT))
            app_updates.append(_updates(write, joined.app_ids, joined.hubspot_ids, mapping.hubspot, compared.hubspot_text))
    if merged.any():
        from datasync_pipeline.engine.three_way import merge_three_way, pairs_with_values  # three_way builds on this module

        laid_out = pairs_with_values(base, hubspot, app, fields)
        to_hubspot, to_app, found = merge_three_way(laid_out, mappings, direction=direction, default_app=default_app)
        hubspot_updates.append(to_hubspot)
        app_updates.append(to_app)
        conflicts.append(found)

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
        app_external_ids=external_ids_to_fill(pairs, app, getattr(matched, "pair_rows", None)),
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


# Pairs compared per step. A pair's records lie anywhere in memory: a step fetches its values in
# one C-level pass, and the Python-level passes that follow find them still in the CPU cache.
CHUNK_PAIRS = 4096


@dataclass
class _Compared:
    """One field of every pair: each side's value (``blank_to_none``), whether it has one, whether they differ.

    Pairs whose raw values are the same text are left out of the normalising (their values and
    flags stay empty): the same text normalises the same way, so such a pair neither differs nor
    has a side to fill, and in a first sync that is most of them.
    """

    hubspot_text: np.ndarray
    app_text: np.ndarray
    hubspot_has: np.ndarray
    app_has: np.ndarray
    differ: np.ndarray


def _compare(joined: _Joined, mapping: ResolvedMapping) -> _Compared:
    size = len(joined.hubspot_ids)
    compared = _Compared(np.full(size, None, dtype=object), np.full(size, None, dtype=object),
                         np.zeros(size, dtype=bool), np.zeros(size, dtype=bool), np.zeros(size, dtype=bool))
    hubspot, app = joined.hubspot_field(mapping.hubspot), joined.app_field(mapping.hubspot)
    for start in range(0, size, CHUNK_PAIRS):
        # Pairs taken in the order of the HubSpot rows, so that at least one side is read in order.
        step = joined.in_row_order[start:start + CHUNK_PAIRS]
        hubspot_rows, app_rows = hubspot.rows[step], app.rows[step]
        if hubspot.is_text and app.is_text:
            hubspot_raw, app_raw = hubspot.values[hubspot_rows], app.values[app_rows]
            pending = np.flatnonzero(~_same_text(hubspot_raw, app_raw))
            hubspot_text, app_text = text_values(hubspot_raw[pending], known_text=True), text_values(app_raw[pending], known_text=True)
        else:
            pending = np.arange(len(hubspot_rows))
            hubspot_text, app_text = hubspot.text(hubspot_rows), app.text(app_rows)
        hubspot_value = comparable_values(hubspot_text, mapping.value_type)
        app_value = comparable_values(app_text, mapping.value_type)
        hubspot_has, app_has = pd.notna(hubspot_value), pd.notna(app_value)
        pairs = step[pending]
        compared.hubspot_text[pairs], compared.app_text[pairs] = hubspot_text, app_text
        compared.hubspot_has[pairs], compared.app_has[pairs] = hubspot_has, app_has
        compared.differ[pairs] = hubspot_has & app_has & (hubspot_value != app_value)
    return compared


def _same_text(hubspot_raw: np.ndarray, app_raw: np.ndarray) -> np.ndarray:
    """True where both raw values (of text columns) are the same ``str`` or both None."""
    try:
        return np.asarray(hubspot_raw == app_raw, dtype=bool)
    except TypeError:  # pd.NA has no truth value: leave it all to the normalising
        return np.zeros(len(hubspot_raw), dtype=bool)


@dataclass
class _PairedField:
    """One field of one side: the frame's column and where each pair's record is in it."""

    column: pd.Series
    rows: np.ndarray

    def __post_init__(self) -> None:
        self.values = self.column.to_numpy()
        # Checked on the whole column, in the order its values lie in memory (cheaper than in pair order).
        self.is_text = is_text(self.values)

    def text(self, rows: np.ndarray) -> np.ndarray:
        """``blank_to_none`` of the values at these rows (dtype-aware for columns that are not text)."""
        if self.values.dtype == object:
            return text_values(self.values[rows])
        return blank_to_none(self.column.take(rows)).to_numpy()


@dataclass
class _Joined:
    """Each pair's ids and where its records are on both sides.

    By row position in the frames when every pair's records are found once on their sides (record
    ids are primary keys, so always in practice); otherwise through a left merge on the ids, which
    is what a pair whose record is missing or repeated needs.
    """

    hubspot_ids: np.ndarray
    app_ids: np.ndarray
    hubspot_records: pd.DataFrame
    app_records: pd.DataFrame
    hubspot_rows: np.ndarray
    app_rows: np.ndarray

    def __post_init__(self) -> None:
        self.in_row_order = np.argsort(self.hubspot_rows, kind="stable")

    @classmethod
    def of(cls, pairs: pd.DataFrame, pair_rows: tuple[np.ndarray, np.ndarray] | None, hubspot: pd.DataFrame, app: pd.DataFrame,
           fields: list[str]) -> _Joined:
        hubspot_ids, app_ids = pairs["hubspot_id"].to_numpy(dtype=object), pairs["app_id"].to_numpy(dtype=object)
        hint = pair_rows or (None, None)
        hubspot_rows = _rows_of(hubspot["record_id"], hubspot_ids, hint[0])
        app_rows = _rows_of(app["record_id"], app_ids, hint[1]) if hubspot_rows is not None else None
        if hubspot_rows is not None and app_rows is not None:
            # The frames themselves (their fields are read column by column): ``frame[fields]`` would copy them.
            return cls(hubspot_ids, app_ids, hubspot, app, hubspot_rows, app_rows)
        joined = (
            pairs[["hubspot_id", "app_id"]]
            .merge(hubspot[["record_id", *fields]].rename(columns={"record_id": "hubspot_id"}), on="hubspot_id", how="left")
            .merge(app[["record_id", *fields]].rename(columns={"record_id": "app_id"}), on="app_id", how="left", suffixes=("_hubspot", "_app"))
        )
        rows = np.arange(len(joined))
        return cls(joined["hubspot_id"].to_numpy(dtype=object), joined["app_id"].to_numpy(dtype=object),
                   joined[[f"{name}_hubspot" for name in fields]].set_axis(fields, axis=1),
                   joined[[f"{name}_app" for name in fields]].set_axis(fields, axis=1), rows, rows)

    def hubspot_field(self, field_name: str) -> _PairedField:
        return _PairedField(self.hubspot_records[field_name], self.hubspot_rows)

    def app_field(self, field_name: str) -> _PairedField:
        return _PairedField(self.app_records[field_name], self.app_rows)


def _rows_of(record_ids: pd.Series, wanted: np.ndarray, hint: np.ndarray | None) -> np.ndarray | None:
    """Row position of each wanted id; None unless every one is found exactly once.

    ``hint`` is where matching found them; it is used when the ids there are the wanted ones.
    """
    ids = record_ids.to_numpy(dtype=object)
    if _found_at(ids, wanted, hint):
        return hint
    index = pd.Index(ids, dtype=object)
    if not index.is_unique:
        return None
    rows = index.get_indexer(wanted)
    return None if (rows < 0).any() else rows


def _found_at(ids: np.ndarray, wanted: np.ndarray, hint: np.ndarray | None) -> bool:
    """Whether ``hint`` gives, for each wanted id, a row holding it."""
    if hint is None or len(hint) != len(wanted) or (len(hint) and (hint.min() < 0 or hint.max() >= len(ids))):
        return False
    return np.array_equal(ids[hint], wanted)


def external_ids_to_fill(pairs: pd.DataFrame, app: pd.DataFrame, pair_rows: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Matched app rows whose external-id column does not hold their HubSpot id (empty, or another id).

    Left out: rows not in the frame (their column is not known here), and HubSpot ids another app row
    already holds (that row's reference is stale: writing the id twice would break a unique column).
    """
    if "_origin_hubspot_id" not in app or not len(pairs):
        return pd.DataFrame(columns=EXTERNAL_ID_COLUMNS, dtype=object)
    app_ids = pairs["app_id"].to_numpy(dtype=object)
    if (not app["_origin_hubspot_id"].notna().any() and pair_rows is not None
            and _found_at(app["record_id"].to_numpy(dtype=object), app_ids, pair_rows[1])):
        # A first sync: no app row holds a HubSpot id yet, and every pair's app row is where matching found it.
        return pd.DataFrame({"record_id": app_ids, "hubspot_id": pairs["hubspot_id"].to_numpy(dtype=object)})
    ids = pd.Index(app["record_id"].to_numpy(dtype=object), dtype=object)
    held = app["_origin_hubspot_id"].to_numpy(dtype=object)
    if not ids.is_unique:
        first = ~ids.duplicated()
        ids, held = ids[first], held[first]
    rows = ids.get_indexer(pairs["app_id"].to_numpy(dtype=object))
    hubspot_ids = pairs["hubspot_id"].to_numpy(dtype=object)
    current = np.where(rows >= 0, held[np.maximum(rows, 0)], None) if len(held) else np.full(len(rows), None, dtype=object)
    present = ~pd.isna(current)
    wrong = (rows >= 0) & (~present | (pd.Series(current).astype(str).to_numpy(dtype=object) != hubspot_ids))
    if not wrong.any():
        return pd.DataFrame(columns=EXTERNAL_ID_COLUMNS, dtype=object)
    taken = pd.Series(hubspot_ids).isin(pd.Series(held[~pd.isna(held)]).astype(str)).to_numpy()
    fill = wrong & ~taken
    return pd.DataFrame({"record_id": pairs["app_id"].to_numpy(dtype=object)[fill], "hubspot_id": hubspot_ids[fill]})


def _updates(write: np.ndarray, target_ids: np.ndarray, other_ids: np.ndarray, field_name: str, values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"record_id": target_ids[write], "other_id": other_ids[write], "field": field_name, "value": values[write]})


def _creates(records: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    # Numpy arrays, not Series: the frame is numbered from 0 whatever the records' index. Each array is the
    # frame's own (the ids copied, the fields new from ``blank_to_none``), so the frame takes them as they are
    # (``copy=False``: no copy into one block; pandas' ``.array`` wrappers cost six times as much again).
    columns = {"ref": records["record_id"].to_numpy(dtype=object, copy=True)}
    columns.update({name: blank_to_none(records[name]).to_numpy(dtype=object) for name in fields})
    return pd.DataFrame(columns, copy=False)


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
