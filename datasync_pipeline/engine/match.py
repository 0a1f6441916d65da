"""Matching the records of both sides into pairs (rule 6), before anything is created.

Pairs come, in this order, from: links already known (the state store), origin ids written by an
earlier run (a HubSpot record carrying the app key in ``datasync_id``, an app row carrying the
HubSpot id in its external-id column; these make a rerun after a crash link instead of
duplicate), then the object's identity keys. Identity keys are tried one after another on what
is still unmatched: contacts by email; companies by domain, then name; products by SKU, then by
name where at least one of the two has no SKU (two SKUs decide alone: "Bolt" B-1 is not "Bolt" B-2).

Links are evidence, identity is the rule. A link or origin id whose two records both have an
identity that disagrees is not trusted: both records are matched by identity like unlinked ones.
A stored link is kept when the disagreement is a change since the last sync (the records agreed
then, one of them has changed its identity since: an email edited on one side, not synced yet).
A record that an untrusted origin id still points at is not created on the other side (the create
would land on the record holding the id) and fails with ``link_contradicts_identity`` until the
reference is cleared. A linked record that lost its identity (its email became invalid) stays
linked: its pair is neither synced nor recreated, and the record fails with ``invalid_email``.

Two records of one side with the same identity are a duplicate: the one with the lowest id
takes part, the others are excluded with the reason ``duplicate identity`` and reported, so a
match is never ambiguous and nothing is silently collapsed.

A first sync compares millions of records, so the work is done on row positions: each side keeps
boolean masks of the rows taking part and the rows already linked, and each identity key is
matched with one hash pass over the keys of both sides (``pandas.factorize``; for email keys held as
Arrow text, ``dictionary_encode``) instead of a merge and sets of ids. Record ids are unique per side
(they are the records' primary keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import infer_dtype

from datasync_pipeline.engine.filters import IN_FILTERS
from datasync_pipeline.engine.normalize import blank_to_none, email_key, email_key_text, object_array, valid_email_mask, valid_emails
from datasync_pipeline.engine.text_kernels import POOL
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.objects.catalogue import Identity

NO_UNIQUE_IDENTITY = "no unique identity"
DUPLICATE_IDENTITY = "duplicate identity"
OUTSIDE_FILTERS = "outside filters"

FAILED_COLUMNS = ["side", "record_id", "category", "detail"]
BASE_COLUMNS = ["hubspot_id", "app_id", "hubspot_values", "app_values"]
# How two records' identities compare.
AGREE, UNKNOWN, CONTRADICT = 1, 0, -1


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
    # Records that cannot sync because of a link: side, record_id, category, detail.
    failed: pd.DataFrame = field(default_factory=lambda: _empty_failed())
    # Links and origin ids whose records' identities disagree (hubspot_id, app_id, matched_by, explained:
    # kept because the disagreement is a change since the last sync).
    contradicted: pd.DataFrame = field(default_factory=lambda: _empty_contradicted())
    # The last synced values of the pairs linked in the state store: merged three ways, not compared.
    base: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BASE_COLUMNS, dtype=object))


def _empty_excluded() -> pd.DataFrame:
    return pd.DataFrame({"side": pd.Series(dtype=object), "record_id": pd.Series(dtype=object),
                         "reason": pd.Series(dtype=object), "detail": pd.Series(dtype=object)})


def _empty_failed() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in FAILED_COLUMNS})


def _empty_contradicted() -> pd.DataFrame:
    return pd.DataFrame({"hubspot_id": pd.Series(dtype=object), "app_id": pd.Series(dtype=object),
                         "matched_by": pd.Series(dtype=object), "explained": pd.Series(dtype=bool)})


def _failed(side: str, record_ids: np.ndarray, category: ErrorCategory, detail: object) -> pd.DataFrame:
    return pd.DataFrame({"side": side, "record_id": record_ids, "category": str(category), "detail": detail},
                        columns=FAILED_COLUMNS, dtype=object)


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
    hubspot_has_email, app_has_email = np.zeros(len(hubspot), dtype=bool), np.zeros(len(app), dtype=bool)
    without_identity = [_empty_excluded(), _empty_excluded()]
    if identity is Identity.EMAIL:
        hubspot_codes, app_codes, addresses, verdicts = _email_codes(hubspot, app)
        hubspot_has_email, app_has_email = hubspot_codes >= 0, app_codes >= 0
        hubspot_valid, app_valid = _code_flags(verdicts, hubspot_codes), _code_flags(verdicts, app_codes)
        hubspot_part, hubspot_cleared, without_identity[0] = _require_valid_email(hubspot, "hubspot", hubspot_codes, hubspot_valid, allow_contacts_without_email)
        app_part, app_cleared, without_identity[1] = _require_valid_email(app, "app", app_codes, app_valid, allow_contacts_without_email)
        # An invalid address is no identity, even where the sync lets its contact take part.
        keys = [(np.where(hubspot_valid, hubspot_codes, -1), np.where(app_valid, app_codes, -1), addresses)]
        keys = keys if "email" in hubspot and "email" in app else []
    else:
        keys = [_joint_codes(hubspot_key, app_key)
                for hubspot_key, app_key in zip(identity_keys(hubspot, identity, domain_counts=domain_counts),
                                                identity_keys(app, identity, domain_counts=domain_counts))]
    passes, cross = _identity_passes(identity, keys)

    established = _established_pairs(hubspot, app, hubspot_ids, app_ids, hubspot_part, app_part, identity, keys, known_pairs,
                                     domain_counts=domain_counts)
    pairs = [established.pairs]
    rows = [established.rows]
    # A linked record that lost its identity fails (it is not excluded); its pair stays, unsynced.
    held_hubspot, held_app = established.held
    failed = [_lost_identity("hubspot", hubspot_ids, held_hubspot, app_ids[held_app], hubspot_part, hubspot_has_email, "app"),
              _lost_identity("app", app_ids, held_app, hubspot_ids[held_hubspot], app_part, app_has_email, "HubSpot")]
    for dropped, lost in zip(without_identity, failed):
        excluded.append(dropped[~dropped["record_id"].isin(lost["record_id"])] if len(lost) else dropped)
    # Rows paired so far, or excluded as duplicates: out of the next identity passes.
    hubspot_linked, app_linked = np.zeros(len(hubspot), dtype=bool), np.zeros(len(app), dtype=bool)
    hubspot_linked[np.concatenate([established.rows[0], held_hubspot])] = True
    app_linked[np.concatenate([established.rows[1], held_app])] = True
    # Filters act on the first sync only: linked records keep syncing whatever the filters say.
    hubspot_part, dropped = _outside_filters(hubspot, "hubspot", hubspot_part, hubspot_linked)
    excluded.append(dropped)
    app_part, dropped = _outside_filters(app, "app", app_part, app_linked)
    excluded.append(dropped)

    # Records linked by an earlier run keep their identity: an unlinked record sharing it is a duplicate
    # (without this, a duplicate excluded by the first run would be created by the second).
    hubspot_origin, app_origin = hubspot_linked.copy(), app_linked.copy()
    for hubspot_codes, app_codes, distinct_keys in passes:
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

    if cross is not None:
        # Products: a record with a SKU still matches by name one of the other side that has none.
        hubspot_names, app_names, hubspot_sku, app_sku, distinct = cross
        for hubspot_with_sku in (False, True):
            hubspot_rows, app_rows = _paired_by_code(
                hubspot_ids, np.flatnonzero(hubspot_part & ~hubspot_linked & (hubspot_names >= 0) & (hubspot_sku == hubspot_with_sku)), hubspot_names,
                app_ids, np.flatnonzero(app_part & ~app_linked & (app_names >= 0) & (app_sku != hubspot_with_sku)), app_names, len(distinct))
            pairs.append(pd.DataFrame({"hubspot_id": hubspot_ids[hubspot_rows], "app_id": app_ids[app_rows], "matched_by": "identity"}))
            rows.append((hubspot_rows, app_rows))
            hubspot_linked[hubspot_rows] = True
            app_linked[app_rows] = True

    # What is left would be created on the other side, unless a record there holds its origin id.
    hubspot_claimed, dropped = _claimed_by_other_record(
        "hubspot", hubspot_ids, hubspot_part & ~hubspot_linked, app_ids, app.get("_origin_hubspot_id"),
        "app record {holder} holds this record's id in its external-id column but is not its match "
        "(their identities differ, or it is linked to another record): creating this record in the app would overwrite it")
    failed.append(dropped)
    app_claimed, dropped = _claimed_by_other_record(
        "app", app_ids, app_part & ~app_linked, hubspot_ids, hubspot.get("_origin_app_id"),
        "HubSpot record {holder} carries this record's datasync_id but is not its match "
        "(their identities differ, or it is linked to another record): creating this record in HubSpot would overwrite it")
    failed.append(dropped)

    all_pairs = pd.concat(pairs, ignore_index=True)
    all_excluded = pd.concat(excluded, ignore_index=True)
    all_failed = pd.concat(failed, ignore_index=True)
    hubspot_only = _unlinked(hubspot, hubspot_part & ~hubspot_linked & ~hubspot_claimed, hubspot_cleared)
    app_only = _unlinked(app, app_part & ~app_linked & ~app_claimed, app_cleared)
    counts = {
        "matched": len(all_pairs),
        "hubspot_only": len(hubspot_only),
        "app_only": len(app_only),
        "contradicted_links": int((~established.contradicted["explained"]).sum()),
        **{f"excluded/{reason}": int(n) for reason, n in all_excluded["reason"].value_counts().items()},
        **{f"failed/{category}": int(n) for category, n in all_failed["category"].value_counts().items()},
    }
    pair_rows = tuple(np.concatenate([np.empty(0, dtype=np.intp), *(batch[side] for batch in rows)]) for side in (0, 1))
    return MatchResult(all_pairs, hubspot_only, app_only, all_excluded, counts, pair_rows,
                       failed=all_failed, contradicted=established.contradicted, base=established.base)


def _email_keys(frame: pd.DataFrame) -> pd.Series:
    return email_key(frame["email"]) if "email" in frame else pd.Series(None, index=frame.index, dtype=object)


def _email_codes(hubspot: pd.DataFrame, app: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, object, np.ndarray]:
    """``_joint_codes`` of both sides' email keys, and whether each distinct address is valid (checked once, whichever sides hold it).

    Text columns go through Arrow kernels (``email_key_text``; the distinct addresses stay Arrow text);
    anything else through ``email_key``.
    """
    hubspot_keys = email_key_text(hubspot["email"].to_numpy()) if "email" in hubspot else pa.nulls(len(hubspot), pa.string())
    app_keys = email_key_text(app["email"].to_numpy()) if "email" in app else pa.nulls(len(app), pa.string())
    if hubspot_keys is None or app_keys is None:
        hubspot_codes, app_codes, addresses = _joint_codes(_email_keys(hubspot), _email_keys(app))
        return hubspot_codes, app_codes, addresses, valid_email_mask(pd.Series(addresses, dtype=object)).to_numpy()
    encoded = pc.dictionary_encode(pa.concat_arrays([hubspot_keys, app_keys], memory_pool=POOL), memory_pool=POOL)
    codes = encoded.indices.fill_null(-1).to_numpy().astype(np.intp)
    return codes[:len(hubspot)], codes[len(hubspot):], encoded.dictionary, valid_emails(encoded.dictionary)


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
    # ``frame[rows]`` is a new frame already: renumbering it in place spares ``reset_index`` a deep copy.
    unlinked.index = pd.RangeIndex(len(unlinked))
    return unlinked


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


def _identity_passes(identity: Identity, keys: list) -> tuple[list, tuple | None]:
    """The identity passes over the joint key codes, and for products the name matches across SKU / no SKU.

    Products: the SKU pass, then the name pass among records without a SKU (records with SKUs are told
    apart by them: sharing a name makes them neither a match nor duplicates), then ``cross``: names
    matched between a record with a SKU and one without.
    """
    if identity is not Identity.SKU_OR_NAME or len(keys) < 2:
        return keys, None
    (hubspot_sku, app_sku, _), (hubspot_names, app_names, names) = keys
    name_pass = (np.where(hubspot_sku >= 0, -1, hubspot_names), np.where(app_sku >= 0, -1, app_names), names)
    return [keys[0], name_pass], (hubspot_names, app_names, hubspot_sku >= 0, app_sku >= 0, names)


def _verdicts(identity: Identity, left: list[np.ndarray], right: list[np.ndarray], size: int) -> np.ndarray:
    """Per pair of records, whether their identities agree, contradict, or cannot be compared (``UNKNOWN``).

    ``left`` / ``right``: per identity key, each record's key code (-1: none; equal keys, equal codes).
    Products: the first key both records have decides (the SKU when both have one, else the name).
    The others: a key both have and share agrees; keys both have, all different, contradict.
    """
    verdict = np.full(size, UNKNOWN, dtype=np.int8)
    for left_codes, right_codes in zip(left, right):
        both = (left_codes >= 0) & (right_codes >= 0)
        if identity is Identity.SKU_OR_NAME:
            both &= verdict == UNKNOWN
            verdict[both] = np.where(left_codes[both] == right_codes[both], AGREE, CONTRADICT)
        else:
            verdict[both & (verdict == UNKNOWN)] = CONTRADICT
            verdict[both & (left_codes == right_codes)] = AGREE
    return verdict


@dataclass
class _Established:
    """The links earlier runs left that identity does not refute."""

    pairs: pd.DataFrame  # hubspot_id, app_id, matched_by: both records take part
    rows: tuple[np.ndarray, np.ndarray]
    held: tuple[np.ndarray, np.ndarray]  # rows of the links whose record lost its identity
    contradicted: pd.DataFrame
    base: pd.DataFrame


def _established_pairs(hubspot: pd.DataFrame, app: pd.DataFrame, hubspot_ids: np.ndarray, app_ids: np.ndarray,
                       hubspot_part: np.ndarray, app_part: np.ndarray, identity: Identity, keys: list,
                       known_pairs: pd.DataFrame | None, *, domain_counts: bool) -> _Established:
    references = _references(hubspot, app, hubspot_ids, app_ids, known_pairs)
    hubspot_rows, app_rows = references["hubspot_row"].to_numpy(dtype=np.intp), references["app_row"].to_numpy(dtype=np.intp)
    verdict = _verdicts(identity, [k[0][hubspot_rows] for k in keys], [k[1][app_rows] for k in keys], len(references))
    contradicts = verdict == CONTRADICT
    explained = np.zeros(len(references), dtype=bool)
    stored = np.flatnonzero(contradicts & (references["matched_by"] == "state").to_numpy())
    stored = stored[_has_values(references.iloc[stored])]
    if len(stored):
        explained[stored] = _explained_by_one_side(
            identity, keys, hubspot, app, hubspot_rows[stored], app_rows[stored],
            references["hubspot_values"].to_numpy(dtype=object)[stored], references["app_values"].to_numpy(dtype=object)[stored],
            domain_counts=domain_counts)
    contradicted = references.loc[contradicts, ["hubspot_id", "app_id", "matched_by"]].assign(explained=explained[contradicts])
    # A record counts in one link only: stored links first, then HubSpot's origin ids, then the app's.
    kept = references[~contradicts | explained].drop_duplicates(subset=["hubspot_id"]).drop_duplicates(subset=["app_id"])
    hubspot_rows, app_rows = kept["hubspot_row"].to_numpy(dtype=np.intp), kept["app_row"].to_numpy(dtype=np.intp)
    taking_part = hubspot_part[hubspot_rows] & app_part[app_rows]
    synced = kept[taking_part]
    base = synced[(synced["matched_by"] == "state").to_numpy() & _has_values(synced)]
    return _Established(
        synced[["hubspot_id", "app_id", "matched_by"]].reset_index(drop=True), (hubspot_rows[taking_part], app_rows[taking_part]),
        (hubspot_rows[~taking_part], app_rows[~taking_part]), contradicted.reset_index(drop=True), base[BASE_COLUMNS].reset_index(drop=True))


def _references(hubspot: pd.DataFrame, app: pd.DataFrame, hubspot_ids: np.ndarray, app_ids: np.ndarray,
                known_pairs: pd.DataFrame | None) -> pd.DataFrame:
    """Every link earlier runs left whose two records are here: stored links, then HubSpot's origin ids, then the app's.

    Columns: hubspot_id, app_id, matched_by, hubspot_values, app_values (stored links that have them), and
    the rows of both records.
    """
    columns = ["hubspot_id", "app_id", "matched_by", "hubspot_values", "app_values"]
    found = [pd.DataFrame({c: pd.Series(dtype=object) for c in columns})]
    if known_pairs is not None and len(known_pairs):
        stored = pd.DataFrame({"hubspot_id": known_pairs["hubspot_id"].astype(str).to_numpy(dtype=object),
                               "app_id": known_pairs["app_id"].astype(str).to_numpy(dtype=object), "matched_by": "state"})
        for column in ("hubspot_values", "app_values"):
            stored[column] = known_pairs[column].to_numpy(dtype=object) if column in known_pairs else None
        found.append(stored)
    if "_origin_app_id" in hubspot:
        has = hubspot["_origin_app_id"].notna().to_numpy()
        found.append(pd.DataFrame({"hubspot_id": hubspot_ids[has], "app_id": hubspot["_origin_app_id"][has].astype(str).to_numpy(dtype=object),
                                   "matched_by": "origin"}))
    if "_origin_hubspot_id" in app:
        has = app["_origin_hubspot_id"].notna().to_numpy()
        found.append(pd.DataFrame({"hubspot_id": app["_origin_hubspot_id"][has].astype(str).to_numpy(dtype=object), "app_id": app_ids[has],
                                   "matched_by": "origin"}))
    references = pd.concat([f for f in found if len(f)] or found[:1], ignore_index=True).reindex(columns=columns)
    references["hubspot_row"] = _positions(hubspot_ids, references["hubspot_id"])
    references["app_row"] = _positions(app_ids, references["app_id"])
    present = (references["hubspot_row"] >= 0) & (references["app_row"] >= 0)
    return references[present].drop_duplicates(subset=["hubspot_id", "app_id"]).reset_index(drop=True)


def _positions(ids: np.ndarray, wanted: pd.Series) -> np.ndarray:
    """The row of each wanted id (its first, should ids repeat), -1 where it is not there."""
    wanted = wanted.to_numpy(dtype=object)
    if not len(wanted):  # a first sync has no links yet: no index of a million ids to build
        return np.empty(0, dtype=np.intp)
    index = pd.Index(ids, dtype=object)
    if index.is_unique:
        return index.get_indexer(wanted)
    first = np.flatnonzero(~index.duplicated())
    found = pd.Index(ids[first], dtype=object).get_indexer(wanted)
    return np.where(found >= 0, first[np.maximum(found, 0)], -1)


def _has_values(links: pd.DataFrame) -> np.ndarray:
    """Which links carry last synced values (a non-empty dict for either side)."""
    return np.fromiter(((isinstance(h, dict) and bool(h)) or (isinstance(a, dict) and bool(a))
                        for h, a in zip(links["hubspot_values"], links["app_values"])), dtype=bool, count=len(links))


def _explained_by_one_side(identity: Identity, keys: list, hubspot: pd.DataFrame, app: pd.DataFrame,
                           hubspot_rows: np.ndarray, app_rows: np.ndarray, hubspot_then: np.ndarray, app_then: np.ndarray,
                           *, domain_counts: bool) -> np.ndarray:
    """Whether a stored link's disagreement is a change since the last sync.

    It is when the two records agreed then, and one of them kept its identity while the other changed
    it (an email edited on one side, not synced yet): the three-way merge then carries the change over.
    """
    hubspot_base = _base_keys(hubspot_then, hubspot, identity, domain_counts=domain_counts)
    app_base = _base_keys(app_then, app, identity, domain_counts=domain_counts)
    hubspot_now, app_now, hubspot_before, app_before = [], [], [], []
    for (hubspot_codes, app_codes, distinct), hubspot_key, app_key in zip(keys, hubspot_base, app_base):
        # The keys then, coded like the keys now: the distinct keys come first, so their codes stay.
        codes, _ = pd.factorize(np.concatenate([np.asarray(distinct, dtype=object), hubspot_key, app_key]))
        hubspot_before.append(codes[len(distinct):len(distinct) + len(hubspot_key)])
        app_before.append(codes[len(distinct) + len(hubspot_key):])
        hubspot_now.append(hubspot_codes[hubspot_rows])
        app_now.append(app_codes[app_rows])
    size = len(hubspot_rows)
    agreed = _verdicts(identity, hubspot_before, app_before, size) == AGREE
    hubspot_kept = _verdicts(identity, hubspot_now, hubspot_before, size) == AGREE
    app_kept = _verdicts(identity, app_now, app_before, size) == AGREE
    return agreed & (hubspot_kept != app_kept)


def _base_keys(values: np.ndarray, frame: pd.DataFrame, identity: Identity, *, domain_counts: bool) -> list[np.ndarray]:
    """The identity keys of last synced values (dicts), as ``identity_keys`` gives them for the frame's records."""
    fields = [name for name in ("email", "domain", "name", "hs_sku") if name in frame]
    then = pd.DataFrame([v if isinstance(v, dict) else {} for v in values], columns=fields, dtype=object)
    keys = identity_keys(then, identity, domain_counts=domain_counts)
    if identity is Identity.EMAIL:
        keys = [key.where(valid_email_mask(key).to_numpy(), None) for key in keys]
    return [key.to_numpy(dtype=object) for key in keys]


def _lost_identity(side: str, ids: np.ndarray, rows: np.ndarray, partner_ids: np.ndarray, part: np.ndarray,
                   has_email: np.ndarray, other_side: str) -> pd.DataFrame:
    """The records of kept links that no longer take part (their email became invalid or empty), in row order."""
    lost = ~part[rows]
    if not lost.any():
        return _empty_failed()
    order = np.argsort(rows[lost], kind="stable")
    lost_rows, partners = rows[lost][order], partner_ids[lost][order]
    detail = object_array([f"linked to {other_side} record {partner}, but {'its email is not valid' if has_email[row] else 'it has no email'}: "
                           "the pair is kept and does not sync until the record has a valid email"
                           for row, partner in zip(lost_rows, partners)])
    return _failed(side, ids[lost_rows], ErrorCategory.INVALID_EMAIL, detail)


def _paired_by_code(hubspot_ids: np.ndarray, hubspot_rows: np.ndarray, hubspot_codes: np.ndarray,
                    app_ids: np.ndarray, app_rows: np.ndarray, app_codes: np.ndarray, distinct: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of these rows with equal codes, listed by HubSpot id; where several of a side share a code, the lowest id."""
    hubspot_rows, app_rows = _lowest_per_code(hubspot_ids, hubspot_rows, hubspot_codes), _lowest_per_code(app_ids, app_rows, app_codes)
    app_row_by_code = np.full(distinct, -1, dtype=np.intp)
    app_row_by_code[app_codes[app_rows]] = app_rows
    partner = app_row_by_code[hubspot_codes[hubspot_rows]]
    hubspot_rows, app_rows = hubspot_rows[partner >= 0], partner[partner >= 0]
    order = _lowest_id_first(hubspot_ids[hubspot_rows])
    return hubspot_rows[order], app_rows[order]


def _lowest_per_code(ids: np.ndarray, rows: np.ndarray, codes: np.ndarray) -> np.ndarray:
    if not len(rows):
        return rows
    ordered = rows[_lowest_id_first(ids[rows])]
    return ordered[~pd.Series(codes[ordered]).duplicated().to_numpy()]


def _claimed_by_other_record(side: str, ids: np.ndarray, free: np.ndarray, holder_ids: np.ndarray, references: pd.Series | None,
                             message: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Free records that a record of the other side refers to (its origin id) without being their pair.

    Creating them would land on that record (a HubSpot create upserts on ``datasync_id``, an app create
    on the external-id column), so they fail until the stale reference is cleared.
    """
    claimed = np.zeros(len(ids), dtype=bool)
    present = references.notna().to_numpy() if references is not None else claimed[:0]
    if not free.any() or not present.any():
        return claimed, _empty_failed()
    holder_by_id = pd.Series(holder_ids[present], index=references[present].astype(str).to_numpy(dtype=object), dtype=object)
    holder_by_id = holder_by_id[~holder_by_id.index.duplicated()]
    claimed = free & pd.Series(ids, dtype=object).isin(holder_by_id.index).to_numpy()
    detail = object_array([message.format(holder=holder) for holder in holder_by_id.reindex(ids[claimed]).to_numpy()])
    return claimed, _failed(side, ids[claimed], ErrorCategory.LINK_CONTRADICTS_IDENTITY, detail)
