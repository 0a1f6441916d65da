"""Matching the records of both sides into pairs (rule 6), before anything is created.

Pairs come, in this order, from: links already known (the state store), origin ids written by an
earlier run (a HubSpot record carrying the app key in ``datasync_id``, an app row carrying the
HubSpot id in its external-id column; these make a rerun after a crash link instead of
duplicate), then the object's identity keys. Identity keys are tried one after another on what
is still unmatched: contacts by email; companies by domain, then name; products by SKU, then name.

Two records of one side with the same identity are a duplicate: the one with the lowest id
takes part, the others are excluded with the reason ``duplicate identity`` and reported, so a
match is never ambiguous and nothing is silently collapsed.

A first sync compares millions of records, so the work is done on row positions: each side keeps
boolean masks of the rows taking part and the rows already linked, and each identity key is
matched with one hash pass over the keys of both sides (``pandas.factorize``) instead of a merge
and sets of ids. Record ids are unique per side (they are the records' primary keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from datasync_pipeline.engine.filters import IN_FILTERS
from datasync_pipeline.engine.normalize import blank_to_none, email_key, object_array, valid_email_mask
from datasync_pipeline.objects.catalogue import Identity

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
    # Row positions of each pair's records in the frames given to match_records: lets the plan
    # find them without indexing a million ids again (it checks them against the ids first).
    pair_rows: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)


def _empty_excluded() -> pd.DataFrame:
    return pd.DataFrame({"side": pd.Series(dtype=object), "record_id": pd.Series(dtype=object),
                         "reason": pd.Series(dtype=object), "detail": pd.Series(dtype=object)})


def _excluded(side: str, record_ids: np.ndarray, reason: str, detail: object) -> pd.DataFrame:
    return pd.DataFrame({"side": side, "record_id": record_ids, "reason": reason, "detail": detail},
                        columns=["side", "record_id", "reason", "detail"], dtype=object)


def identity_keys(frame: pd.DataFrame, identity: Identity, *, domain_counts: bool = True) -> list[pd.Series]:
    """The identity keys of each record, in the order they are tried; None where a record has none."""
    if identity is Identity.EMAIL:
        return [email_key(frame["email"])] if "email" in frame else []
    if identity is Identity.NAME_OR_DOMAIN:
        keys = []
        if domain_counts and "domain" in frame:
            from datasync_pipeline.engine.domains import domain_key

            keys.append(domain_key(frame["domain"]))
        if "name" in frame:
            keys.append(_casefolded(frame["name"]))
        return keys
    if identity is Identity.SKU_OR_NAME:
        return [_casefolded(frame[c]) for c in ("hs_sku", "name") if c in frame]
    return []


def _casefolded(series: pd.Series) -> pd.Series:
    values = blank_to_none(series)
    casefolded = object_array([value if value is None else value.casefold() for value in values.to_numpy()])
    return pd.Series(casefolded, index=values.index, name=values.name, copy=False)


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
    hubspot, app = _with_text_ids(hubspot), _with_text_ids(app)
    hubspot_ids, app_ids = hubspot["record_id"].to_numpy(dtype=object), app["record_id"].to_numpy(dtype=object)

    # Rows taking part (a valid email where required, inside the filters unless linked).
    hubspot_part, app_part = np.ones(len(hubspot), dtype=bool), np.ones(len(app), dtype=bool)
    hubspot_cleared = app_cleared = None
    if identity is Identity.EMAIL:
        hubspot_codes, app_codes, addresses = _joint_codes(_email_keys(hubspot), _email_keys(app))
        # Each distinct address is checked once, whichever sides hold it.
        verdicts = valid_email_mask(pd.Series(addresses, dtype=object)).to_numpy()
        hubspot_valid, app_valid = _code_flags(verdicts, hubspot_codes), _code_flags(verdicts, app_codes)
        hubspot_part, hubspot_cleared, dropped = _require_valid_email(hubspot, "hubspot", hubspot_codes, hubspot_valid, allow_contacts_without_email)
        excluded.append(dropped)
        app_part, app_cleared, dropped = _require_valid_email(app, "app", app_codes, app_valid, allow_contacts_without_email)
        excluded.append(dropped)
        # An invalid address is no identity, even where the sync lets its contact take part.
        keys = [(np.where(hubspot_valid, hubspot_codes, -1), np.where(app_valid, app_codes, -1), addresses)]
        keys = keys if "email" in hubspot and "email" in app else []
    else:
        keys = [_joint_codes(hubspot_key, app_key)
                for hubspot_key, app_key in zip(identity_keys(hubspot, identity, domain_counts=domain_counts),
                                                identity_keys(app, identity, domain_counts=domain_counts))]

    pairs = [_origin_pairs(hubspot, app, hubspot_part, app_part, known_pairs)]
    rows = [(None, None)]  # row positions of each batch of pairs; unknown for the origin pairs
    # Rows paired so far, or excluded as duplicates: out of the next identity passes.
    hubspot_linked = _rows_with_ids(hubspot_ids, pairs[0]["hubspot_id"]) & hubspot_part
    app_linked = _rows_with_ids(app_ids, pairs[0]["app_id"]) & app_part
    # Filters act on the first sync only: linked records keep syncing whatever the filters say.
    hubspot_part, dropped = _outside_filters(hubspot, "hubspot", hubspot_part, hubspot_linked)
    excluded.append(dropped)
    app_part, dropped = _outside_filters(app, "app", app_part, app_linked)
    excluded.append(dropped)

    # Records linked by an earlier run keep their identity: an unlinked record sharing it is a duplicate
    # (without this, a duplicate excluded by the first run would be created by the second).
    hubspot_origin, app_origin = hubspot_linked.copy(), app_linked.copy()
    for hubspot_codes, app_codes, distinct_keys in keys:
        for side, ids, codes, part, linked, origin in (("hubspot", hubspot_ids, hubspot_codes, hubspot_part, hubspot_linked, hubspot_origin),
                                                         ("app", app_ids, app_codes, app_part, app_linked, app_origin)):
            dropped = _duplicates_of_linked(ids, codes, part & ~linked & (codes >= 0), origin & (codes >= 0), len(distinct_keys), side)
            excluded.append(dropped)
            linked[_rows_with_ids(ids, dropped["record_id"])] = True
        hubspot_free = np.flatnonzero(hubspot_part & ~hubspot_linked & (hubspot_codes >= 0))
        app_free = np.flatnonzero(app_part & ~app_linked & (app_codes >= 0))
        hubspot_keep, dropped = _first_of_duplicates(hubspot_ids[hubspot_free], hubspot_codes[hubspot_free], "hubspot")
        excluded.append(dropped)
        hubspot_linked[hubspot_free[~hubspot_keep]] = True
        app_keep, dropped = _first_of_duplicates(app_ids[app_free], app_codes[app_free], "app")
        excluded.append(dropped)
        app_linked[app_free[~app_keep]] = True

        hubspot_rows, app_rows = hubspot_free[hubspot_keep], app_free[app_keep]
        app_row_by_code = np.full(len(distinct_keys), -1, dtype=np.intp)
        app_row_by_code[app_codes[app_rows]] = app_rows
        partner = app_row_by_code[hubspot_codes[hubspot_rows]]
        hubspot_rows, app_rows = hubspot_rows[partner >= 0], partner[partner >= 0]
        # Pairs listed by HubSpot id, as the lowest-id rule orders records.
        order = _lowest_id_first(hubspot_ids[hubspot_rows])
        hubspot_rows, app_rows = hubspot_rows[order], app_rows[order]
        pairs.append(pd.DataFrame({"hubspot_id": hubspot_ids[hubspot_rows], "app_id": app_ids[app_rows], "matched_by": "identity"}))
        rows.append((hubspot_rows, app_rows))
        hubspot_linked[hubspot_rows] = True
        app_linked[app_rows] = True

    all_pairs = pd.concat(pairs, ignore_index=True)
    all_excluded = pd.concat(excluded, ignore_index=True)
    hubspot_only = _unlinked(hubspot, hubspot_part & ~hubspot_linked, hubspot_cleared)
    app_only = _unlinked(app, app_part & ~app_linked, app_cleared)
    counts = {
        "matched": len(all_pairs),
        "hubspot_only": len(hubspot_only),
        "app_only": len(app_only),
        **{f"excluded/{reason}": int(n) for reason, n in all_excluded["reason"].value_counts().items()},
    }
    pair_rows = None
    if not len(pairs[0]):
        pair_rows = tuple(np.concatenate([np.empty(0, dtype=np.intp), *(batch[side] for batch in rows[1:])]) for side in (0, 1))
    return MatchResult(all_pairs, hubspot_only, app_only, all_excluded, counts, pair_rows)


def _email_keys(frame: pd.DataFrame) -> pd.Series:
    return email_key(frame["email"]) if "email" in frame else pd.Series(None, index=frame.index, dtype=object)


def _joint_codes(hubspot_key: pd.Series, app_key: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sides' keys as codes from one hash pass: equal keys share a code, -1 where there is none.

    Returns the HubSpot codes, the app codes and the distinct keys (the code is the position).
    """
    codes, uniques = pd.factorize(np.concatenate([hubspot_key.to_numpy(dtype=object), app_key.to_numpy(dtype=object)]))
    return codes[: len(hubspot_key)], codes[len(hubspot_key):], np.asarray(uniques, dtype=object)


def _code_flags(flags: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each row's flag by its code; False where it has no code."""
    return np.where(codes >= 0, flags[np.maximum(codes, 0)], False) if len(flags) else np.zeros(len(codes), dtype=bool)


def _with_text_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Record ids as ``str``; the frame itself when they already are (no copy of a million rows)."""
    ids = frame["record_id"]
    if ids.dtype == object and infer_dtype(ids, skipna=False) == "string":
        return frame
    return frame.assign(record_id=ids.astype(str))


def _rows_with_ids(ids: np.ndarray, wanted: pd.Series) -> np.ndarray:
    if not len(wanted):
        return np.zeros(len(ids), dtype=bool)
    return pd.Series(ids, dtype=object).isin(wanted).to_numpy()


def _unlinked(frame: pd.DataFrame, rows: np.ndarray, cleared: np.ndarray | None) -> pd.DataFrame:
    """The records left to create on the other side; ``cleared`` rows lose their (invalid) email."""
    unlinked = frame[rows]
    if cleared is not None:
        unlinked = unlinked.assign(email=unlinked["email"].where(~cleared[rows], None))
    return unlinked.reset_index(drop=True)


def _outside_filters(frame: pd.DataFrame, side: str, part: np.ndarray, linked: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    if IN_FILTERS not in frame:
        return part, _empty_excluded()
    outside = part & ~frame[IN_FILTERS].astype(bool).to_numpy() & ~linked
    dropped = _excluded(side, frame["record_id"].to_numpy(dtype=object)[outside], OUTSIDE_FILTERS, f"outside the {side} filters")
    return part & ~outside, dropped


def _require_valid_email(frame: pd.DataFrame, side: str, codes: np.ndarray, valid: np.ndarray,
                         allow_without: bool) -> tuple[np.ndarray, np.ndarray | None, pd.DataFrame]:
    """Contacts without a valid email take part only when the sync allows it (rule 5).

    Returns the rows taking part, the rows whose (invalid) email is to be cleared when the sync
    lets them take part without one, and the exclusions.
    """
    if allow_without:
        # They sync, but never match: their email is not an identity.
        return np.ones(len(frame), dtype=bool), (~valid if "email" in frame else None), _empty_excluded()
    detail = np.where(codes[~valid] >= 0, "invalid email", "no email").astype(object)
    dropped = _excluded(side, frame["record_id"].to_numpy(dtype=object)[~valid], NO_UNIQUE_IDENTITY, detail)
    return valid, None, dropped


def _duplicates_of_linked(ids: np.ndarray, codes: np.ndarray, free: np.ndarray, linked: np.ndarray, distinct: int, side: str) -> pd.DataFrame:
    """Free records whose identity a linked record of the same side already holds, excluded as duplicates."""
    if not linked.any() or not free.any():
        return _empty_excluded()
    holder = np.full(distinct, -1, dtype=np.intp)
    holder[codes[linked]] = np.flatnonzero(linked)
    taken = free.copy()
    taken[free] = holder[codes[free]] >= 0
    if not taken.any():
        return _empty_excluded()
    detail = np.array(["same identity as " + str(ids[h]) for h in holder[codes[taken]]], dtype=object)
    return _excluded(side, ids[taken], DUPLICATE_IDENTITY, detail)


def _first_of_duplicates(ids: np.ndarray, codes: np.ndarray, side: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Keep the record with the lowest id per key; exclude the rest, naming the one kept.

    Returns which of the given records are kept. Only records sharing a key need ordering, so
    only those few are sorted.
    """
    keep = np.ones(len(ids), dtype=bool)
    shared = np.flatnonzero(np.bincount(codes)[codes] > 1) if len(codes) else codes
    if not len(shared):
        return keep, _empty_excluded()
    group = pd.DataFrame({"record_id": ids[shared], "key": codes[shared], "_position": shared})
    ordered = group.iloc[_lowest_id_first(group["record_id"].to_numpy())]
    duplicated = ordered.duplicated(subset=["key"], keep="first")
    first_by_key = ordered[~duplicated].set_index("key")["record_id"]
    dropped = ordered[duplicated]
    keep[dropped["_position"].to_numpy()] = False
    detail = ("same identity as " + dropped["key"].map(first_by_key).astype(str)).to_numpy()
    return keep, _excluded(side, dropped["record_id"].to_numpy(), DUPLICATE_IDENTITY, detail)


def _lowest_id_first(ids: np.ndarray) -> np.ndarray:
    """Positions that order record ids by their numeric value, then as text (ids that are no number last)."""
    numbers = _numeric_ids(ids)
    if numbers.dtype.kind in "iuf":
        order = np.argsort(numbers, kind="stable")
        ranked = numbers[order]
        if not np.isnan(ranked.astype(np.float64)).any() and (ranked[1:] != ranked[:-1]).all():
            return order  # every id a distinct number: the text never decides
    frame = pd.DataFrame({"_order": numbers, "record_id": ids})
    return frame.sort_values(["_order", "record_id"]).index.to_numpy()


def _numeric_ids(ids: np.ndarray) -> np.ndarray:
    """``pandas.to_numeric(ids, errors="coerce")`` of ``str`` ids, with a fast path for plain decimal ids."""
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    text = "".join(ids)
    if len(ids) and text.isascii() and text.isdigit() and lengths.min() > 0 and lengths.max() <= 18:
        return np.fromiter(map(int, ids), dtype=np.int64, count=len(ids))
    return pd.to_numeric(pd.Series(ids, dtype=object), errors="coerce").to_numpy()


def _origin_pairs(hubspot: pd.DataFrame, app: pd.DataFrame, hubspot_part: np.ndarray, app_part: np.ndarray,
                  known_pairs: pd.DataFrame | None) -> pd.DataFrame:
    """Pairs already established: from the state store and from the origin ids earlier runs wrote."""
    found = []
    if known_pairs is not None and len(known_pairs):
        found.append(known_pairs[["hubspot_id", "app_id"]].astype(str).assign(matched_by="state"))
    if "_origin_app_id" in hubspot:
        origin = hubspot.loc[hubspot_part & hubspot["_origin_app_id"].notna().to_numpy(), ["record_id", "_origin_app_id"]].dropna()
        found.append(pd.DataFrame({"hubspot_id": origin["record_id"], "app_id": origin["_origin_app_id"].astype(str), "matched_by": "origin"}))
    if "_origin_hubspot_id" in app:
        origin = app.loc[app_part & app["_origin_hubspot_id"].notna().to_numpy(), ["record_id", "_origin_hubspot_id"]].dropna()
        found.append(pd.DataFrame({"hubspot_id": origin["_origin_hubspot_id"].astype(str), "app_id": origin["record_id"], "matched_by": "origin"}))
    found = [pairs for pairs in found if len(pairs)]
    if not found:
        return pd.DataFrame({"hubspot_id": pd.Series(dtype=object), "app_id": pd.Series(dtype=object), "matched_by": pd.Series(dtype=object)})
    pairs = pd.concat(found, ignore_index=True)
    # A pair counts once, and only when both records still exist on their sides.
    pairs = pairs[pairs["hubspot_id"].isin(hubspot["record_id"][hubspot_part]) & pairs["app_id"].isin(app["record_id"][app_part])]
    pairs = pairs.drop_duplicates(subset=["hubspot_id"]).drop_duplicates(subset=["app_id"])
    return pairs.reset_index(drop=True)
