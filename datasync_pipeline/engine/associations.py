"""The association plan of one sync and one associated object (rule 8), in plain pandas.

An association is compared like a field, once both sides speak of the same associated record. The
app row holds the associated record's app key (e.g. ``company_id``), HubSpot holds the associated
record's HubSpot id; the partner sync's links (the sync of the associated object) translate one
into the other. Then, per linked pair and with the direction deciding which sides may be written:

- the source has no association: nothing is written;
- the target has none and the source has one: the target gets it;
- both have one and they differ: the default app's wins (a conflict, counted).

Companies count by their primary link only (a contact with several companies syncs its primary
company). HubSpot keeps one primary company per record and a new primary replaces the old one, so
replacing never needs a removal. For the other kinds HubSpot may hold several associated records
while the app column holds one: the app's record counts as equal when it is among HubSpot's, and
HubSpot's lowest id is the one written to the app. Links that HubSpot holds beyond the app's one
are left alone: an app column says nothing about them.

An associated record the partner sync has not linked (it failed, was excluded or is outside the
filters) cannot be translated; a write that needs it is not made and the record is reported as
failed with ``ASSOCIATION_FAILED``, while every other record goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from datasync_pipeline.config.model import Direction, Side
from datasync_pipeline.engine.plan import flows
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.objects.catalogue import AssociationKind

HUBSPOT_DEFINED = "HUBSPOT_DEFINED"
CREATE_COLUMNS = ["from_id", "to_id", "type_id"]
REMOVAL_COLUMNS = ["from_id", "to_id"]
APP_UPDATE_COLUMNS = ["app_id", "hubspot_id", "value"]
CONFLICT_COLUMNS = ["hubspot_id", "app_id", "hubspot_value", "app_value", "winner"]
FAILURE_COLUMNS = ["side", "record_id", "category", "message"]

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
) -> AssociationPlan:
    """Plan one association for every linked pair of a sync.

    ``pairs`` and ``partner_pairs`` are ``hubspot_id, app_id`` links of this sync and of the sync of
    the associated object; ``app_keys`` maps this sync's app ids to the associated record's app key
    (None or absent: no association, e.g. a row created by this run); ``hubspot_associations`` maps
    this sync's HubSpot ids to the associated HubSpot ids that count (see ``hubspot_targets``).
    """
    partner_app_of = _lookup(partner_pairs, "hubspot_id", "app_id")
    partner_hubspot_of = _lookup(partner_pairs, "app_id", "hubspot_id")
    app_keys = app_keys.to_dict() if isinstance(app_keys, pd.Series) else dict(app_keys)
    associated = _SINGULAR.get(kind.to_object, kind.to_object)
    by_sync = f" by the {partner_name} sync" if partner_name else ""
    write_hubspot, write_app = flows(direction, Side.HUBSPOT), flows(direction, Side.APP)

    creates, app_updates, conflicts, failures = [], [], [], []
    unchanged = 0
    for hubspot_id, app_id in pairs[["hubspot_id", "app_id"]].astype(str).itertuples(index=False):
        app_key = _text(app_keys.get(app_id))
        hubspot_list = sorted({str(t) for t in hubspot_associations.get(hubspot_id, ())}, key=_id_order)
        translated = [(t, partner_app_of[t]) for t in hubspot_list if t in partner_app_of]
        app_has, hubspot_has = app_key is not None, bool(hubspot_list)
        if (app_has and any(key == app_key for _, key in translated)) or not (app_has or hubspot_has):
            unchanged += 1
            continue
        differ = app_has and hubspot_has
        if differ:
            conflicts.append((hubspot_id, app_id, hubspot_list[0], app_key, default_app.value))
        to_hubspot = write_hubspot and (not hubspot_has or (differ and default_app is Side.APP))
        to_app = write_app and (not app_has or (differ and default_app is Side.HUBSPOT))
        if to_hubspot:
            target = partner_hubspot_of.get(app_key)
            if target is None:
                failures.append(("app", app_id, ErrorCategory.ASSOCIATION_FAILED.value,
                                 f"associated {associated} {app_key} (app key) of this record is not synced{by_sync}"))
            else:
                creates.append((hubspot_id, target, kind.type_id))
        elif to_app:
            if not translated:
                failures.append(("hubspot", hubspot_id, ErrorCategory.ASSOCIATION_FAILED.value,
                                 f"associated {associated} {hubspot_list[0]} (HubSpot id) of this record is not synced{by_sync}"))
            else:
                app_updates.append((app_id, hubspot_id, translated[0][1]))
        else:
            unchanged += 1  # the direction keeps this side as it is

    plan = AssociationPlan(
        kind=kind,
        hubspot_creates=_frame(creates, CREATE_COLUMNS),
        hubspot_removals=_frame([], REMOVAL_COLUMNS),
        app_updates=_frame(app_updates, APP_UPDATE_COLUMNS),
        conflicts=_frame(conflicts, CONFLICT_COLUMNS),
        failures=_frame(failures, FAILURE_COLUMNS),
    )
    plan.counts = {
        "pairs": len(pairs),
        "hubspot_creates": len(creates),
        "app_updates": len(app_updates),
        "conflicts": len(conflicts),
        "failed": len(failures),
        "unchanged": unchanged,
    }
    return plan


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
