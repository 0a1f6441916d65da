"""The association plan of one sync and one associated object (rule 8), in plain pandas.

An association is compared like a field, once both sides speak of the same associated record. The
app row holds the associated record's app key (e.g. ``company_id``), HubSpot holds the associated
record's HubSpot id; the partner sync's links (the sync of the associated object) translate one
into the other. Like a field (``three_way.py``), each side is compared with the association it held
after the last sync (the base, kept per pair in the state store), with the direction deciding which
sides may be written:

- the sides agree: nothing is written;
- changed on one side only: the change flows to the other (a cleared association clears it too);
- changed on both sides to different records: a conflict; the default app's wins, and when the
  default app has none the other side is left unchanged;
- changed nowhere although the sides differ (a one-way sync, or rule 3 leaving a side as it was):
  nothing is written.

A pair without a base (never synced, e.g. at the first sync) has a base of "none on either side": a
side holding an association changed, so the side without one gets it and two different ones are a
conflict. A record the caller did not read (absent from ``app_keys`` or ``hubspot_associations``) is
taken to hold its base. ``plan.synced`` holds what both sides hold once the plan is written: the next base.

Companies count by their primary link only (a contact with several companies syncs its primary
company). HubSpot keeps one primary company per record and a new primary replaces the old one, so
replacing never needs a removal; an app column cleared since the last sync removes HubSpot's link to
the record it held. For the other kinds HubSpot may hold several associated records while the app
column holds one: the app's record counts as equal when it is among HubSpot's, and HubSpot's lowest
id is the one written to the app. Links that HubSpot holds beyond the app's one are left alone: an
app column says nothing about them.

An associated record the partner sync has not linked (it failed, was excluded or is outside the
filters) cannot be translated; a write that needs it is not made and the record is reported as
failed with ``ASSOCIATION_FAILED``, while every other record goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from datasync_pipeline.engine.plan import flows
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.objects.catalogue import AssociationKind
from datasync_pipeline.vocabulary import Direction, Side

HUBSPOT_DEFINED = "HUBSPOT_DEFINED"
CREATE_COLUMNS = ["from_id", "to_id", "type_id"]
REMOVAL_COLUMNS = ["from_id", "to_id"]
APP_UPDATE_COLUMNS = ["app_id", "hubspot_id", "value"]
CONFLICT_COLUMNS = ["hubspot_id", "app_id", "hubspot_value", "app_value", "winner"]
FAILURE_COLUMNS = ["side", "record_id", "category", "message"]
BASE_COLUMNS = ["hubspot_id", "app_id", "hubspot_value", "app_value"]

_SINGULAR = {"companies": "company", "contacts": "contact", "deals": "deal", "tickets": "ticket", "invoices": "invoice"}


@dataclass
class AssociationPlan:
    """What one association of one sync writes on each side, and what could not be carried over."""

    kind: AssociationKind
    hubspot_creates: pd.DataFrame  # from_id (this sync's HubSpot id), to_id (associated HubSpot id), type_id
    hubspot_removals: pd.DataFrame  # from_id, to_id: links to archive first (none: a new primary replaces the old)
    app_updates: pd.DataFrame  # app_id, hubspot_id, value: the associated record's app key for the app column
    conflicts: pd.DataFrame  # hubspot_id, app_id, hubspot_value (HubSpot id), app_value (app key), winner
    failures: pd.DataFrame  # side, record_id, category, message
    counts: dict[str, int] = field(default_factory=dict)
    # hubspot_id, app_id, hubspot_value, app_value: what each side holds once this plan is written (the
    # next base), for every pair without a failure
    synced: pd.DataFrame = field(default_factory=lambda: _frame([], BASE_COLUMNS))


def hubspot_targets(links: Mapping[str, Sequence[Mapping[str, Any]]], kind: AssociationKind) -> dict[str, list[str]]:
    """Per HubSpot id, the associated HubSpot ids that count for this kind, lowest first.

    ``links`` is what the client's ``read_associations`` returns. For a primary kind only the link
    carrying the kind's (HubSpot-defined) type id counts; otherwise every associated record does.
    """
    targets: dict[str, list[str]] = {}
    for from_id, associated in links.items():
        chosen = [
            str(link["toObjectId"]) for link in associated
            if not kind.primary or any(
                int(t.get("typeId", -1)) == kind.type_id and (t.get("category") or HUBSPOT_DEFINED) == HUBSPOT_DEFINED
                for t in link.get("associationTypes") or []
            )
        ]
        targets[str(from_id)] = sorted(dict.fromkeys(chosen), key=_id_order)
    return targets


def plan_associations(
    pairs: pd.DataFrame,
    partner_pairs: pd.DataFrame,
    app_keys: Mapping[str, str | None] | pd.Series,
    hubspot_associations: Mapping[str, Sequence[str]],
    *,
    kind: AssociationKind,
    direction: Direction,
    default_app: Side,
    partner_name: str = "",
    base: pd.DataFrame | None = None,
) -> AssociationPlan:
    """Plan one association for every linked pair of a sync.

    ``pairs`` and ``partner_pairs`` are ``hubspot_id, app_id`` links of this sync and of the sync of
    the associated object; ``app_keys`` maps this sync's app ids to the associated record's app key
    (None: no association; absent: not read, so as it was); ``hubspot_associations`` maps
    this sync's HubSpot ids to the associated HubSpot ids that count (see ``hubspot_targets``);
    ``base`` (``hubspot_id, app_id, hubspot_value, app_value``) what each side held after the last sync.
    """
    partner_app_of = _lookup(partner_pairs, "hubspot_id", "app_id")
    partner_hubspot_of = _lookup(partner_pairs, "app_id", "hubspot_id")
    app_keys = app_keys.to_dict() if isinstance(app_keys, pd.Series) else dict(app_keys)
    associated = _SINGULAR.get(kind.to_object, kind.to_object)
    by_sync = f" by the {partner_name} sync" if partner_name else ""
    write_hubspot, write_app = flows(direction, Side.HUBSPOT), flows(direction, Side.APP)

    bases = _bases(base)
    creates, removals, app_updates, conflicts, failures, synced = [], [], [], [], [], []
    unchanged = 0
    for hubspot_id, app_id in pairs[["hubspot_id", "app_id"]].astype(str).itertuples(index=False):
        base_hubspot, base_app = bases.get((hubspot_id, app_id), (None, None))
        app_key = _text(app_keys[app_id]) if app_id in app_keys else base_app
        if hubspot_id in hubspot_associations:
            hubspot_list = sorted({str(t) for t in hubspot_associations[hubspot_id]}, key=_id_order)
        else:
            hubspot_list = [base_hubspot] if base_hubspot is not None else []
        translated = [(t, partner_app_of[t]) for t in hubspot_list if t in partner_app_of]
        agreeing = next((t for t, key in translated if app_key is not None and key == app_key), None)
        if agreeing is not None or not (app_key is not None or hubspot_list):
            unchanged += 1
            synced.append((hubspot_id, app_id, agreeing, app_key))
            continue
        # HubSpot's association: the base while HubSpot still holds it, else the lowest it can translate.
        if base_hubspot in hubspot_list:
            hubspot_now = base_hubspot
        else:
            hubspot_now = translated[0][0] if translated else (hubspot_list[0] if hubspot_list else None)
        hubspot_changed, app_changed = hubspot_now != base_hubspot, app_key != base_app
        conflict = hubspot_changed and app_changed
        if conflict:
            conflicts.append((hubspot_id, app_id, hubspot_now, app_key, default_app.value))
        winner_value = hubspot_now if default_app is Side.HUBSPOT else app_key
        to_hubspot = write_hubspot and ((app_changed and not hubspot_changed) or (conflict and default_app is Side.APP and winner_value is not None))
        to_app = write_app and ((hubspot_changed and not app_changed) or (conflict and default_app is Side.HUBSPOT and winner_value is not None))
        hubspot_after, app_after = hubspot_now, app_key
        if to_hubspot and app_key is None:
            removals.append((hubspot_id, hubspot_now))  # cleared in the app: HubSpot drops the link too
            hubspot_after = next((t for t in hubspot_list if t != hubspot_now), None) if not kind.primary else None
        elif to_hubspot:
            target = partner_hubspot_of.get(app_key)
            if target is None:
                failures.append(("app", app_id, ErrorCategory.ASSOCIATION_FAILED.value,
                                 f"associated {associated} {app_key} (app key) of this record is not synced{by_sync}"))
                continue
            creates.append((hubspot_id, target, kind.type_id))
            hubspot_after = target
        elif to_app and hubspot_now is None:
            app_updates.append((app_id, hubspot_id, None))  # cleared in HubSpot: the app column is cleared too
            app_after = None
        elif to_app:
            if hubspot_now not in partner_app_of:
                failures.append(("hubspot", hubspot_id, ErrorCategory.ASSOCIATION_FAILED.value,
                                 f"associated {associated} {hubspot_now} (HubSpot id) of this record is not synced{by_sync}"))
                continue
            app_updates.append((app_id, hubspot_id, partner_app_of[hubspot_now]))
            app_after = partner_app_of[hubspot_now]
        else:
            unchanged += 1  # the direction (or rule 3) keeps the sides as they are
        synced.append((hubspot_id, app_id, hubspot_after, app_after))

    plan = AssociationPlan(
        kind=kind,
        hubspot_creates=_frame(creates, CREATE_COLUMNS),
        hubspot_removals=_frame(removals, REMOVAL_COLUMNS),
        app_updates=_frame(app_updates, APP_UPDATE_COLUMNS),
        conflicts=_frame(conflicts, CONFLICT_COLUMNS),
        failures=_frame(failures, FAILURE_COLUMNS),
        synced=_frame(synced, BASE_COLUMNS),
    )
    plan.counts = {
        "pairs": len(pairs),
        "hubspot_creates": len(creates),
        "hubspot_removals": len(removals),
        "app_updates": len(app_updates),
        "conflicts": len(conflicts),
        "failed": len(failures),
        "unchanged": unchanged,
    }
    return plan


def _bases(base: pd.DataFrame | None) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    """(hubspot_id, app_id) -> (HubSpot's associated id, the app's associated key) after the last sync."""
    if base is None or base.empty:
        return {}
    return {
        (str(hubspot_id), str(app_id)): (_text(hubspot_value), _text(app_value))
        for hubspot_id, app_id, hubspot_value, app_value in base[BASE_COLUMNS].itertuples(index=False)
    }


def _lookup(pairs: pd.DataFrame, key: str, value: str) -> dict[str, str]:
    if pairs.empty:
        return {}
    return dict(zip(pairs[key].astype(str), pairs[value].astype(str), strict=True))


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _id_order(record_id: str) -> tuple[int, int | str]:
    return (0, int(record_id)) if record_id.isdigit() else (1, record_id)


def _frame(rows: Iterable[tuple], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=columns, dtype=object)
