"""Matching the records of both sides into pairs (rule 6), before anything is created.

Pairs come, in this order, from: links already known (the state store), origin ids written by an
earlier run (a HubSpot record carrying the app key in ``datasync_id``, an app row carrying the
HubSpot id in its external-id column; these make a rerun after a crash link instead of
duplicate), then the object's identity keys. Identity keys are tried one after another on what
is still unmatched: contacts by email; companies by domain, then name; products by SKU, then name.

Two records of one side with the same identity are a duplicate: the one with the lowest id
takes part, the others are excluded with the reason ``duplicate identity`` and reported, so a
match is never ambiguous and nothing is silently collapsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from datasync_pipeline.engine.filters import IN_FILTERS
from datasync_pipeline.engine.normalize import blank_to_none, email_key, valid_email_mask
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
            from datasync_pipeline.engine.domains import domain_key

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

    for hubspot_key, app_key in zip(hubspot_keys, app_keys):
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
