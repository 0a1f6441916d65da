"""HubSpot's built-in association type ids, per ordered pair of object types.

Every pair has an unlabeled type; the pairs that end at a company may also have a "Primary" type
(a contact, deal or ticket has at most one primary company). Knowing each pair's reverse lets the
sandbox store and answer both directions of every link, as HubSpot does.
"""

from __future__ import annotations

from dataclasses import dataclass

from datasync_pipeline.sandbox.object_types import OBJECT_TYPES

HUBSPOT_DEFINED = "HUBSPOT_DEFINED"
CATEGORIES = {HUBSPOT_DEFINED, "USER_DEFINED", "INTEGRATOR_DEFINED"}


@dataclass(frozen=True)
class AssociationPair:
    unlabeled: int
    primary: int | None = None


def _both_ways(table: dict, first: str, second: str, forward: AssociationPair, backward: AssociationPair) -> None:
    table[(first, second)] = forward
    table[(second, first)] = backward


PAIRS: dict[tuple[str, str], AssociationPair] = {}
_both_ways(PAIRS, "contacts", "companies", AssociationPair(279, 1), AssociationPair(280, 2))
_both_ways(PAIRS, "deals", "companies", AssociationPair(341, 5), AssociationPair(342, 6))
_both_ways(PAIRS, "tickets", "companies", AssociationPair(339, 26), AssociationPair(340, 25))
_both_ways(PAIRS, "contacts", "deals", AssociationPair(4), AssociationPair(3))
_both_ways(PAIRS, "contacts", "tickets", AssociationPair(15), AssociationPair(16))
_both_ways(PAIRS, "deals", "tickets", AssociationPair(27), AssociationPair(28))
_both_ways(PAIRS, "deals", "line_items", AssociationPair(19), AssociationPair(20))
_both_ways(PAIRS, "invoices", "contacts", AssociationPair(177), AssociationPair(178))
_both_ways(PAIRS, "invoices", "companies", AssociationPair(179), AssociationPair(180))
_both_ways(PAIRS, "invoices", "deals", AssociationPair(175), AssociationPair(176))
_both_ways(PAIRS, "invoices", "line_items", AssociationPair(409), AssociationPair(410))
# Activities: (to contact, to company, to deal, to ticket) and the reverse ids one below each.
for _activity, (_contact, _company, _deal, _ticket) in {
    "notes": (202, 190, 214, 228),
    "tasks": (204, 192, 216, 230),
    "calls": (194, 182, 206, 220),
    "emails": (198, 186, 210, 224),
    "meetings": (200, 188, 212, 226),
}.items():
    for _target, _type_id in (("contacts", _contact), ("companies", _company), ("deals", _deal), ("tickets", _ticket)):
        _both_ways(PAIRS, _activity, _target, AssociationPair(_type_id), AssociationPair(_type_id - 1))


def pair_for(from_type: str, to_type: str) -> AssociationPair | None:
    return PAIRS.get((from_type, to_type))


def reverse_type(from_type: str, to_type: str, category: str, type_id: int) -> int:
    """The type id of the same link seen from the other end."""
    if category != HUBSPOT_DEFINED:
        return type_id
    forward, backward = PAIRS.get((from_type, to_type)), PAIRS.get((to_type, from_type))
    if forward is None or backward is None:
        return type_id
    if type_id == forward.primary and backward.primary is not None:
        return backward.primary
    return backward.unlabeled


def is_primary(from_type: str, to_type: str, category: str, type_id: int) -> bool:
    pair = PAIRS.get((from_type, to_type))
    return category == HUBSPOT_DEFINED and pair is not None and pair.primary == type_id


def type_label(from_type: str, to_type: str, category: str, type_id: int, label: str | None) -> str | None:
    """HubSpot labels primary links "Primary" and leaves unlabeled ones null."""
    if is_primary(from_type, to_type, category, type_id):
        return "Primary"
    return label


def v3_type_name(from_type: str, to_type: str, category: str, type_id: int) -> str:
    """The ``type`` string of the v3 ``associations`` block on a record, e.g. ``contact_to_company_unlabeled``."""
    name = f"{OBJECT_TYPES[from_type].singular.lower()}_to_{OBJECT_TYPES[to_type].singular.lower()}"
    pair = PAIRS.get((from_type, to_type))
    if category == HUBSPOT_DEFINED and pair is not None and pair.primary is not None and type_id == pair.unlabeled:
        return f"{name}_unlabeled"
    if category != HUBSPOT_DEFINED:
        return str(type_id)
    return name


def is_known_type(from_type: str, to_type: str, category: str, type_id: int) -> bool:
    if category != HUBSPOT_DEFINED:
        return category in CATEGORIES
    pair = PAIRS.get((from_type, to_type))
    return pair is not None and type_id in {pair.unlabeled, pair.primary}
