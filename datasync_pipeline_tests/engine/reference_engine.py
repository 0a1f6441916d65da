"""The first-sync engine as it was before it was optimised, kept as the specification of its behaviour.

Straightforward pandas (merges, sets of ids, per-value ``map``): too slow for a million records,
but easy to read. ``test_engine_equivalence`` checks that the engine gives the same results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

import pandas as pd
from email_validator import EmailNotValidError, validate_email

from datasync_pipeline.vocabulary import Direction, Side
from datasync_pipeline.engine.domains import domain_key  # its normalisation changed on purpose; tested on its own
from datasync_pipeline.engine.filters import IN_FILTERS
from datasync_pipeline.engine.plan import flows
from datasync_pipeline.engine.three_way import merge_three_way, pairs_with_values  # tested on its own
from datasync_pipeline.errors import ErrorCategory
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
        canonical = pd.Series([None if pd.isna(n) else _number_text(float(n), text) for n, text in zip(numbers, values)],
                              index=values.index, name=values.name, dtype=object)
        return canonical.where(numbers.notna(), values)
    return values


def _number_text(number: float, text: str) -> str:
    """Infinities as %g; other non-integers as the shortest text of their double; integers exactly."""
    if not math.isfinite(number):
        return format(number, "g")
    if number != int(number):
        return repr(number)
    if abs(number) >= 2**53:  # doubles skip integers from here on: the text says which integer it is
        exact = Decimal(text)
        if exact == exact.to_integral_value():
            return str(int(exact))
    return str(int(number))


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
    failed: pd.DataFrame | None = None  # side, record_id, category, detail
    contradicted: pd.DataFrame | None = None  # hubspot_id, app_id, matched_by, explained
    base: pd.DataFrame | None = None  # hubspot_id, app_id, hubspot_values, app_values


FAILED_COLUMNS = ["side", "record_id", "category", "detail"]


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

    present_hubspot, present_app = hubspot, app
    without_identity = [_empty_excluded(), _empty_excluded()]
    if identity is Identity.EMAIL:
        hubspot, without_identity[0] = _require_valid_email(hubspot, "hubspot", allow_contacts_without_email)
        app, without_identity[1] = _require_valid_email(app, "app", allow_contacts_without_email)
        if allow_contacts_without_email:
            present_hubspot, present_app = hubspot, app  # invalid emails cleared: no identity

    # Links are evidence, identity is the rule.
    kept, contradicted = _established(present_hubspot, present_app, identity, known_pairs, domain_counts)
    taking_part = kept["hubspot_id"].isin(hubspot["record_id"]) & kept["app_id"].isin(app["record_id"])
    base = _base(kept[taking_part])
    pairs = [kept.loc[taking_part, ["hubspot_id", "app_id", "matched_by"]]]
    held = kept[~taking_part]
    failed = [_lost_identity(present_hubspot, hubspot, held, "hubspot", "app"), _lost_identity(present_app, app, held, "app", "HubSpot")]
    for dropped, lost in zip(without_identity, failed):
        excluded.append(dropped[~dropped["record_id"].isin(lost["record_id"])])
    linked_hubspot = set(kept["hubspot_id"])
    linked_app = set(kept["app_id"])
    # Filters act on the first sync only: linked records keep syncing whatever the filters say.
    hubspot, dropped = _outside_filters(hubspot, "hubspot", linked_hubspot)
    excluded.append(dropped)
    app, dropped = _outside_filters(app, "app", linked_app)
    excluded.append(dropped)
    hubspot_keys = identity_keys(hubspot, identity, domain_counts=domain_counts)
    app_keys = identity_keys(app, identity, domain_counts=domain_counts)
    cross = None
    if identity is Identity.SKU_OR_NAME and len(hubspot_keys) == 2 and len(app_keys) == 2:
        # Two SKUs decide alone: the name pass is among records without one, then across (SKU, no SKU).
        cross = (hubspot_keys[1], app_keys[1], hubspot_keys[0].notna(), app_keys[0].notna())
        hubspot_keys = [hubspot_keys[0], hubspot_keys[1].where(hubspot_keys[0].isna(), None)]
        app_keys = [app_keys[0], app_keys[1].where(app_keys[0].isna(), None)]

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

    if cross is not None:
        hubspot_names, app_names, hubspot_sku, app_sku = cross
        for hubspot_with_sku in (False, True):
            hubspot_free = ~hubspot["record_id"].isin(linked_hubspot) & (hubspot_sku == hubspot_with_sku)
            app_free = ~app["record_id"].isin(linked_app) & (app_sku != hubspot_with_sku)
            free_hubspot = _lowest_per_key(hubspot.loc[hubspot_free, ["record_id"]].assign(key=hubspot_names[hubspot_free]).dropna(subset=["key"]))
            free_app = _lowest_per_key(app.loc[app_free, ["record_id"]].assign(key=app_names[app_free]).dropna(subset=["key"]))
            joined = free_hubspot.merge(free_app, on="key", suffixes=("_hubspot", "_app"))
            found = pd.DataFrame({"hubspot_id": joined["record_id_hubspot"], "app_id": joined["record_id_app"], "matched_by": "identity"})
            pairs.append(found)
            linked_hubspot |= set(found["hubspot_id"])
            linked_app |= set(found["app_id"])

    all_pairs = pd.concat(pairs, ignore_index=True)
    all_excluded = pd.concat(excluded, ignore_index=True)
    hubspot_only, claimed = _claimed(hubspot[~hubspot["record_id"].isin(linked_hubspot)], "hubspot", present_app, "_origin_hubspot_id",
                                     "app record {holder} holds this record's id in its external-id column but is not its match "
                                     "(their identities differ, or it is linked to another record): creating this record in the app would overwrite it")
    failed.append(claimed)
    app_only, claimed = _claimed(app[~app["record_id"].isin(linked_app)], "app", present_hubspot, "_origin_app_id",
                                 "HubSpot record {holder} carries this record's datasync_id but is not its match "
                                 "(their identities differ, or it is linked to another record): creating this record in HubSpot would overwrite it")
    failed.append(claimed)
    all_failed = pd.concat(failed, ignore_index=True)
    hubspot_only, app_only = hubspot_only.reset_index(drop=True), app_only.reset_index(drop=True)
    counts = {
        "matched": len(all_pairs),
        "hubspot_only": len(hubspot_only),
        "app_only": len(app_only),
        "contradicted_links": int((~contradicted["explained"]).sum()),
        **{f"excluded/{reason}": int(n) for reason, n in all_excluded["reason"].value_counts().items()},
        **{f"failed/{category}": int(n) for category, n in all_failed["category"].value_counts().items()},
    }
    return MatchResult(all_pairs, hubspot_only, app_only, all_excluded, counts, all_failed, contradicted, base)


def _lowest_per_key(frame: pd.DataFrame) -> pd.DataFrame:
    ordered = frame.assign(_order=pd.to_numeric(frame["record_id"], errors="coerce")).sort_values(["_order", "record_id"])
    return ordered.drop_duplicates("key").drop(columns="_order")


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


def _identity(values: dict, fields: list[str], identity: Identity, domain_counts: bool) -> tuple:
    """A record's identity keys (None where it has none; an invalid email is none)."""
    frame = pd.DataFrame([values], columns=fields, dtype=object)
    keys = identity_keys(frame, identity, domain_counts=domain_counts)
    if identity is Identity.EMAIL:
        keys = [key.where(valid_email_mask(key), None) for key in keys]
    return tuple(key.iloc[0] for key in keys)


def _identity_fields(frame: pd.DataFrame) -> list[str]:
    return [name for name in ("email", "domain", "name", "hs_sku") if name in frame]


def _verdict(identity: Identity, left: tuple, right: tuple) -> int:
    """1: the identities agree; -1: they contradict; 0: nothing to compare. Products: the first key both have decides."""
    both = [(a, b) for a, b in zip(left, right) if a is not None and b is not None]
    if not both:
        return 0
    if identity is Identity.SKU_OR_NAME:
        return 1 if both[0][0] == both[0][1] else -1
    return 1 if any(a == b for a, b in both) else -1


def _has_values(hubspot_values, app_values) -> bool:
    return (isinstance(hubspot_values, dict) and bool(hubspot_values)) or (isinstance(app_values, dict) and bool(app_values))


def _established(hubspot: pd.DataFrame, app: pd.DataFrame, identity: Identity, known_pairs: pd.DataFrame | None,
                 domain_counts: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Links from the state store and the origin ids that identity does not refute, and the refuted ones."""
    found = []
    if known_pairs is not None and len(known_pairs):
        stored = known_pairs[["hubspot_id", "app_id"]].astype(str).assign(matched_by="state").reset_index(drop=True)
        for column in ("hubspot_values", "app_values"):
            stored[column] = known_pairs[column].to_numpy(dtype=object) if column in known_pairs else None
        found.append(stored)
    if "_origin_app_id" in hubspot:
        origin = hubspot[["record_id", "_origin_app_id"]].dropna()
        found.append(pd.DataFrame({"hubspot_id": origin["record_id"], "app_id": origin["_origin_app_id"].astype(str), "matched_by": "origin"}))
    if "_origin_hubspot_id" in app:
        origin = app[["record_id", "_origin_hubspot_id"]].dropna()
        found.append(pd.DataFrame({"hubspot_id": origin["_origin_hubspot_id"].astype(str), "app_id": origin["record_id"], "matched_by": "origin"}))
    columns = ["hubspot_id", "app_id", "matched_by", "hubspot_values", "app_values"]
    links = pd.concat(found, ignore_index=True).reindex(columns=columns) if found else pd.DataFrame(columns=columns, dtype=object)
    links = links[links["hubspot_id"].isin(hubspot["record_id"]) & links["app_id"].isin(app["record_id"])]
    links = links.drop_duplicates(subset=["hubspot_id", "app_id"]).reset_index(drop=True)

    hubspot_fields, app_fields = _identity_fields(hubspot), _identity_fields(app)
    hubspot_records = hubspot.set_index("record_id")
    app_records = app.set_index("record_id")
    verdicts, explained = [], []
    for hubspot_id, app_id, matched_by, hubspot_values, app_values in links.itertuples(index=False):
        hubspot_now = _identity(hubspot_records.loc[hubspot_id, hubspot_fields].to_dict(), hubspot_fields, identity, domain_counts)
        app_now = _identity(app_records.loc[app_id, app_fields].to_dict(), app_fields, identity, domain_counts)
        verdict = _verdict(identity, hubspot_now, app_now)
        verdicts.append(verdict)
        changed_on_one_side = False
        if verdict == -1 and matched_by == "state" and _has_values(hubspot_values, app_values):
            # The records agreed at the last sync, and one of them has changed its identity since.
            hubspot_then = _identity(hubspot_values if isinstance(hubspot_values, dict) else {}, hubspot_fields, identity, domain_counts)
            app_then = _identity(app_values if isinstance(app_values, dict) else {}, app_fields, identity, domain_counts)
            changed_on_one_side = (_verdict(identity, hubspot_then, app_then) == 1
                                   and (_verdict(identity, hubspot_now, hubspot_then) == 1) != (_verdict(identity, app_now, app_then) == 1))
        explained.append(changed_on_one_side)
    contradicts = pd.Series([v == -1 for v in verdicts], index=links.index, dtype=bool)
    explained = pd.Series(explained, index=links.index, dtype=bool)
    contradicted = links.loc[contradicts, ["hubspot_id", "app_id", "matched_by"]].assign(explained=explained[contradicts]).reset_index(drop=True)
    kept = links[~contradicts | explained].drop_duplicates(subset=["hubspot_id"]).drop_duplicates(subset=["app_id"])
    return kept.reset_index(drop=True), contradicted


def _base(pairs: pd.DataFrame) -> pd.DataFrame:
    """The stored links among the pairs that carry last synced values."""
    with_values = pd.Series([_has_values(h, a) for h, a in zip(pairs["hubspot_values"], pairs["app_values"])], index=pairs.index, dtype=bool)
    base = pairs[(pairs["matched_by"] == "state") & with_values]
    return base[["hubspot_id", "app_id", "hubspot_values", "app_values"]].reset_index(drop=True)


def _lost_identity(present: pd.DataFrame, taking_part: pd.DataFrame, held: pd.DataFrame, side: str, other_side: str) -> pd.DataFrame:
    """Records of kept links that no longer take part (their email became invalid or empty): failed, in row order."""
    id_column, partner_column = f"{side}_id", ("app_id" if side == "hubspot" else "hubspot_id")
    lost = held[~held[id_column].isin(taking_part["record_id"])]
    row = pd.Series(range(len(present)), index=present["record_id"].to_numpy())
    lost = lost.assign(_row=lost[id_column].map(row)).sort_values("_row")
    emails = email_key(present["email"]) if "email" in present else pd.Series(None, index=present.index, dtype=object)
    has_email = pd.Series(emails.notna().to_numpy(), index=present["record_id"].to_numpy())
    detail = [f"linked to {other_side} record {partner}, but {'its email is not valid' if has_email[record_id] else 'it has no email'}: "
              "the pair is kept and does not sync until the record has a valid email"
              for record_id, partner in zip(lost[id_column], lost[partner_column])]
    return pd.DataFrame({"side": side, "record_id": lost[id_column].to_numpy(dtype=object), "category": str(ErrorCategory.INVALID_EMAIL),
                         "detail": pd.Series(detail, dtype=object).to_numpy()}, columns=FAILED_COLUMNS, dtype=object)


def _claimed(only: pd.DataFrame, side: str, other: pd.DataFrame, column: str, message: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records to create that a record of the other side refers to without being their pair: failed, not created."""
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in FAILED_COLUMNS})
    if column not in other:
        return only, empty
    holders = other[["record_id", column]].dropna()
    holder_by_id = pd.Series(holders["record_id"].to_numpy(), index=holders[column].astype(str).to_numpy(), dtype=object)
    holder_by_id = holder_by_id[~holder_by_id.index.duplicated()]
    claimed = only["record_id"].isin(holder_by_id.index)
    failed = pd.DataFrame({"side": side, "record_id": only.loc[claimed, "record_id"].to_numpy(dtype=object),
                           "category": str(ErrorCategory.LINK_CONTRADICTS_IDENTITY),
                           "detail": pd.Series([message.format(holder=holder_by_id[r]) for r in only.loc[claimed, "record_id"]], dtype=object).to_numpy()},
                          columns=FAILED_COLUMNS, dtype=object)
    return only[~claimed], failed if len(failed) else empty


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
    base = getattr(matched, "base", None)
    # Pairs with last synced values are merged three ways, the others compared.
    merged = pairs["hubspot_id"].isin(base["hubspot_id"]) if base is not None and len(base) else pd.Series(False, index=pairs.index)
    joined = (
        pairs.loc[~merged, ["hubspot_id", "app_id"]]
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
    if merged.any():
        to_hubspot, to_app, found = merge_three_way(pairs_with_values(base, hubspot, app, fields), mappings,
                                                    direction=direction, default_app=default_app)
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
