"""The first-sync engine as it was before it was optimised, kept as the specification of its behaviour.

Straightforward pandas (merges, sets of ids, per-value ``map``): too slow for a million records,
but easy to read. ``test_engine_equivalence`` checks that the engine gives the same results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import pandas as pd
from email_validator import EmailNotValidError, validate_email

from datasync_pipeline.config.model import Direction, Side
from datasync_pipeline.engine.domains import domain_key  # its normalisation changed on purpose; tested on its own
from datasync_pipeline.engine.filters import IN_FILTERS
from datasync_pipeline.engine.plan import flows
from datasync_pipeline.objects.catalogue import Identity, ResolvedMapping, ValueType


def blank_to_none(series: pd.Series) -> pd.Series:
    """Strings stripped; empty strings, NaN and None all become None (a field without a value)."""
    as_text = series.astype("string").str.strip()
    present = (as_text.notna() & (as_text != "")).fillna(False).astype(bool)
    return as_text.astype(object).where(present, None)


def comparable(series: pd.Series, value_type: ValueType) -> pd.Series:
    """Values in a form where equal means equal: numbers by value, the rest as stripped text."""
    values = blank_to_none(series)
    if value_type is ValueType.EMAIL:
        return values.map(lambda v: v if v is None else v.lower())
    if value_type is ValueType.NUMBER:
        numbers = pd.to_numeric(values, errors="coerce")
        canonical = numbers.map(lambda n: None if pd.isna(n) else format(n, "g") if n != int(n) else str(int(n)))
        return canonical.where(numbers.notna(), values)
    return values


def email_key(series: pd.Series) -> pd.Series:
    """The contact identity: email lower-cased, surrounding space ignored (rule 6)."""
    return blank_to_none(series).map(lambda v: v if v is None else v.lower())


@lru_cache(maxsize=1_000_000)
def is_valid_email(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def valid_email_mask(keys: pd.Series) -> pd.Series:
    """True where the key is a syntactically valid address; each distinct address is checked once."""
    present = keys.dropna()
    verdicts = {address: is_valid_email(address) for address in present.unique()}
    return keys.map(lambda key: verdicts.get(key, False)).astype(bool)


NO_UNIQUE_IDENTITY = "no unique identity"
DUPLICATE_IDENTITY = "duplicate identity"
OUTSIDE_FILTERS = "outside filters"


@dataclass
class MatchResult:
    pairs: pd.DataFrame  # hubspot_id, app_id, matched_by
    hubspot_only: pd.DataFrame  # hubspot records to create in the app
    app_only: pd.DataFrame  # app records to create in HubSpot
    excluded: pd.DataFrame  # side, record_id, reason, detail
    counts: dict[str, int] = field(default_factory=dict)


def _empty_excluded() -> pd.DataFrame:
    return pd.DataFrame({"side": pd.Series(dtype=object), "record_id": pd.Series(dtype=object),
                         "reason": pd.Series(dtype=object), "detail": pd.Series(dtype=object)})


def identity_keys(frame: pd.DataFrame, identity: Identity, *, domain_counts: bool = True) -> list[pd.Series]:
    """The identity keys of each record, in the order they are tried; None where a record has none."""
    if identity is Identity.EMAIL:
        return [email_key(frame["email"])] if "email" in frame else []
    if identity is Identity.NAME_OR_DOMAIN:
        keys = []
        if domain_counts and "domain" in frame:
            keys.append(domain_key(frame["domain"]))
        if "name" in frame:
            keys.append(_casefolded(frame["name"]))
        return keys
    if identity is Identity.SKU_OR_NAME:
        return [_casefolded(frame[c]) for c in ("hs_sku", "name") if c in frame]
    return []


def _casefolded(series: pd.Series) -> pd.Series:
    return blank_to_none(series).map(lambda v: v if v is None else v.casefold())


def match_records(
    hubspot: pd.DataFrame,
    app: pd.DataFrame,
    identity: Identity,
    *,
    known_pairs: pd.DataFrame | None = None,
    allow_contacts_without_email: bool = False,
    domain_counts: bool = True,
) -> MatchResult:
    """Pair HubSpot records with app records; what is left unmatched is to be created on the other side."""
    excluded = [_empty_excluded()]
    hubspot = hubspot.assign(record_id=hubspot["record_id"].astype(str))
    app = app.assign(record_id=app["record_id"].astype(str))

    if identity is Identity.EMAIL:
        hubspot, dropped = _require_valid_email(hubspot, "hubspot", allow_contacts_without_email)
        excluded.append(dropped)
        app, dropped = _require_valid_email(app, "app", allow_contacts_without_email)
        excluded.append(dropped)

    pairs = [_origin_pairs(hubspot, app, known_pairs)]
    linked_hubspot = set(pairs[0]["hubspot_id"])
    linked_app = set(pairs[0]["app_id"])
    # Filters act on the first sync only: linked records keep syncing whatever the filters say.
    hubspot, dropped = _outside_filters(hubspot, "hubspot", linked_hubspot)
    excluded.append(dropped)
    app, dropped = _outside_filters(app, "app", linked_app)
    excluded.append(dropped)
    hubspot_keys = identity_keys(hubspot, identity, domain_counts=domain_counts)
    app_keys = identity_keys(app, identity, domain_counts=domain_counts)

    origin_hubspot, origin_app = set(linked_hubspot), set(linked_app)
    for hubspot_key, app_key in zip(hubspot_keys, app_keys):
        for side, frame, key, linked, origin in (("hubspot", hubspot, hubspot_key, linked_hubspot, origin_hubspot),
                                                  ("app", app, app_key, linked_app, origin_app)):
            keyed = frame[["record_id"]].assign(key=key).dropna(subset=["key"])
            holders = keyed[keyed["record_id"].isin(origin)].drop_duplicates("key", keep="last").set_index("key")["record_id"]
            taken = keyed[~keyed["record_id"].isin(linked) & keyed["key"].isin(holders.index)]
            excluded.append(pd.DataFrame({"side": side, "record_id": taken["record_id"], "reason": DUPLICATE_IDENTITY,
                                          "detail": "same identity as " + taken["key"].map(holders).astype(str)}))
            linked |= set(taken["record_id"])
        free_hubspot = hubspot.loc[~hubspot["record_id"].isin(linked_hubspot), ["record_id"]].assign(key=hubspot_key)
        free_app = app.loc[~app["record_id"].isin(linked_app), ["record_id"]].assign(key=app_key)
        free_hubspot, dropped = _first_of_duplicates(free_hubspot.dropna(subset=["key"]), "hubspot")
        excluded.append(dropped)
        linked_hubspot |= set(dropped["record_id"])
        free_app, dropped = _first_of_duplicates(free_app.dropna(subset=["key"]), "app")
        excluded.append(dropped)
        linked_app |= set(dropped["record_id"])
        joined = free_hubspot.merge(free_app, on="key", suffixes=("_hubspot", "_app"))
        found = pd.DataFrame({"hubspot_id": joined["record_id_hubspot"], "app_id": joined["record_id_app"], "matched_by": "identity"})
        pairs.append(found)
        linked_hubspot |= set(found["hubspot_id"])
        linked_app |= set(found["app_id"])

    all_pairs = pd.concat(pairs, ignore_index=True)
    all_excluded = pd.concat(excluded, ignore_index=True)
    hubspot_only = hubspot[~hubspot["record_id"].isin(linked_hubspot)].reset_index(drop=True)
    app_only = app[~app["record_id"].isin(linked_app)].reset_index(drop=True)
    counts = {
        "matched": len(all_pairs),
        "hubspot_only": len(hubspot_only),
        "app_only": len(app_only),
        **{f"excluded/{reason}": int(n) for reason, n in all_excluded["reason"].value_counts().items()},
    }
    return MatchResult(all_pairs, hubspot_only, app_only, all_excluded, counts)


def _outside_filters(frame: pd.DataFrame, side: str, linked: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    if IN_FILTERS not in frame:
        return frame, _empty_excluded()
    outside = ~frame[IN_FILTERS].astype(bool) & ~frame["record_id"].isin(linked)
    dropped = frame.loc[outside, ["record_id"]].assign(side=side, reason=OUTSIDE_FILTERS, detail=f"outside the {side} filters")
    return frame[~outside], dropped[["side", "record_id", "reason", "detail"]]


def _require_valid_email(frame: pd.DataFrame, side: str, allow_without: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contacts without a valid email take part only when the sync allows it (rule 5)."""
    keys = email_key(frame["email"]) if "email" in frame else pd.Series(None, index=frame.index, dtype=object)
    valid = valid_email_mask(keys)
    if allow_without:
        # They sync, but never match: their email is not an identity.
        frame = frame.assign(email=frame["email"].where(valid, None)) if "email" in frame else frame
        return frame, _empty_excluded()
    dropped = frame.loc[~valid, ["record_id"]].assign(
        side=side, reason=NO_UNIQUE_IDENTITY,
        detail=keys[~valid].map(lambda key: "no email" if key is None else "invalid email"),
    )
    return frame[valid], dropped[["side", "record_id", "reason", "detail"]]


def _first_of_duplicates(frame: pd.DataFrame, side: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the record with the lowest id per key; exclude the rest, naming the one kept."""
    ordered = frame.assign(_order=pd.to_numeric(frame["record_id"], errors="coerce")).sort_values(["_order", "record_id"])
    duplicated = ordered.duplicated(subset=["key"], keep="first")
    kept = ordered[~duplicated].drop(columns="_order")
    first_by_key = kept.set_index("key")["record_id"]
    dropped = ordered[duplicated]
    excluded = pd.DataFrame({
        "side": side,
        "record_id": dropped["record_id"],
        "reason": DUPLICATE_IDENTITY,
        "detail": "same identity as " + dropped["key"].map(first_by_key).astype(str),
    })
    return kept, excluded


def _origin_pairs(hubspot: pd.DataFrame, app: pd.DataFrame, known_pairs: pd.DataFrame | None) -> pd.DataFrame:
    """Pairs already established: from the state store and from the origin ids earlier runs wrote."""
    found = []
    if known_pairs is not None and len(known_pairs):
        found.append(known_pairs[["hubspot_id", "app_id"]].astype(str).assign(matched_by="state"))
    if "_origin_app_id" in hubspot:
        origin = hubspot[["record_id", "_origin_app_id"]].dropna()
        found.append(pd.DataFrame({"hubspot_id": origin["record_id"], "app_id": origin["_origin_app_id"].astype(str), "matched_by": "origin"}))
    if "_origin_hubspot_id" in app:
        origin = app[["record_id", "_origin_hubspot_id"]].dropna()
        found.append(pd.DataFrame({"hubspot_id": origin["_origin_hubspot_id"].astype(str), "app_id": origin["record_id"], "matched_by": "origin"}))
    if not found:
        return pd.DataFrame({"hubspot_id": pd.Series(dtype=object), "app_id": pd.Series(dtype=object), "matched_by": pd.Series(dtype=object)})
    pairs = pd.concat(found, ignore_index=True)
    # A pair counts once, and only when both records still exist on their sides.
    pairs = pairs[pairs["hubspot_id"].isin(hubspot["record_id"]) & pairs["app_id"].isin(app["record_id"])]
    pairs = pairs.drop_duplicates(subset=["hubspot_id"]).drop_duplicates(subset=["app_id"])
    return pairs.reset_index(drop=True)


UPDATE_COLUMNS = ["record_id", "other_id", "field", "value"]
CONFLICT_COLUMNS = ["hubspot_id", "app_id", "field", "hubspot_value", "app_value", "winner"]


@dataclass
class MergePlan:
    pairs: pd.DataFrame
    hubspot_creates: pd.DataFrame
    app_creates: pd.DataFrame
    hubspot_updates: pd.DataFrame
    app_updates: pd.DataFrame
    conflicts: pd.DataFrame
    excluded: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


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
