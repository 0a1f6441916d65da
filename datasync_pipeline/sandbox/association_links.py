"""Storing association links: both directions at once, and the one-primary-company rule.

A contact's primary company is mirrored in its ``associatedcompanyid`` property; HubSpot does not move a
record's last-modified date when its associations change, so neither does this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.association_types import (
    HUBSPOT_DEFINED,
    is_primary,
    pair_for,
    reverse_type,
)

associations = store.associations


@dataclass(frozen=True)
class Link:
    from_type: str
    from_id: int
    to_type: str
    to_id: int
    category: str
    type_id: int
    label: str | None = None
    reverse_type_id: int | None = None  # the portal's own types: the reverse direction's type id and label
    reverse_label: str | None = None


def add_link(connection: Connection, link: Link, *, mirror_source: bool = True) -> None:
    """Store a link and its reverse; a primary company link replaces the previous primary.

    ``mirror_source=False`` leaves the source contact's ``associatedcompanyid`` to a caller that holds
    that record in memory and writes it itself.
    """
    if is_primary(link.from_type, link.to_type, link.category, link.type_id):
        _make_primary(
            connection, owner_type=link.from_type, owner_id=link.from_id, company_id=link.to_id, mirror=mirror_source
        )
        return
    reverse_id = link.reverse_type_id
    if reverse_id is None:
        reverse_id = reverse_type(link.from_type, link.to_type, link.category, link.type_id)
    if is_primary(link.to_type, link.from_type, link.category, reverse_id):
        _make_primary(connection, owner_type=link.to_type, owner_id=link.to_id, company_id=link.from_id)
        return
    _insert_both_ways(connection, link, reverse_id)


def _insert_both_ways(connection: Connection, link: Link, reverse_id: int) -> None:
    rows = [
        {"from_id": link.from_id, "to_id": link.to_id, "category": link.category, "type_id": link.type_id,
         "from_type": link.from_type, "to_type": link.to_type, "label": link.label},
        {"from_id": link.to_id, "to_id": link.from_id, "category": link.category, "type_id": reverse_id,
         "from_type": link.to_type, "to_type": link.from_type,
         "label": link.reverse_label if link.reverse_type_id is not None else link.label},
    ]
    connection.execute(sa.insert(associations).prefix_with("OR IGNORE"), rows)


def _make_primary(
    connection: Connection, *, owner_type: str, owner_id: int, company_id: int, mirror: bool = True
) -> None:
    pair = pair_for(owner_type, "companies")
    assert pair is not None and pair.primary is not None
    reverse_primary = reverse_type(owner_type, "companies", HUBSPOT_DEFINED, pair.primary)
    previous = connection.execute(
        sa.select(associations.c.to_id).where(
            associations.c.from_id == owner_id,
            associations.c.to_type == "companies",
            associations.c.category == HUBSPOT_DEFINED,
            associations.c.type_id == pair.primary,
        )
    ).scalars().all()
    for previous_company in previous:
        connection.execute(sa.delete(associations).where(
            associations.c.from_id == owner_id, associations.c.to_id == previous_company,
            associations.c.category == HUBSPOT_DEFINED, associations.c.type_id == pair.primary,
        ))
        connection.execute(sa.delete(associations).where(
            associations.c.from_id == previous_company, associations.c.to_id == owner_id,
            associations.c.category == HUBSPOT_DEFINED, associations.c.type_id == reverse_primary,
        ))
    unlabeled = Link(owner_type, owner_id, "companies", company_id, HUBSPOT_DEFINED, pair.unlabeled)
    _insert_both_ways(connection, unlabeled, reverse_type(owner_type, "companies", HUBSPOT_DEFINED, pair.unlabeled))
    primary = Link(owner_type, owner_id, "companies", company_id, HUBSPOT_DEFINED, pair.primary)
    _insert_both_ways(connection, primary, reverse_primary)
    if owner_type == "contacts" and mirror:
        _set_associated_company(connection, owner_id, str(company_id))


def _set_associated_company(connection: Connection, contact_id: int, company_id: str | None) -> None:
    contact = store.fetch_records(connection, "contacts", [contact_id], archived=None).get(contact_id)
    if contact is None:
        return
    if company_id is None:
        contact.properties.pop("associatedcompanyid", None)
    else:
        contact.properties["associatedcompanyid"] = company_id
    store.update_record(connection, contact, touch=False)


def set_primary_company(
    connection: Connection, contact_id: int, company_id: int | None, *, mirror: bool = True
) -> None:
    """Follow a write of ``associatedcompanyid``: link the company as primary, or drop the primary link.

    ``mirror=False`` leaves the contact's ``associatedcompanyid`` to a caller holding the contact in memory.
    """
    if company_id is None:
        _remove_primary(connection, "contacts", contact_id)
        return
    _make_primary(connection, owner_type="contacts", owner_id=contact_id, company_id=company_id, mirror=mirror)


def _remove_primary(connection: Connection, owner_type: str, owner_id: int) -> None:
    pair = pair_for(owner_type, "companies")
    assert pair is not None and pair.primary is not None
    reverse_primary = reverse_type(owner_type, "companies", HUBSPOT_DEFINED, pair.primary)
    connection.execute(sa.delete(associations).where(
        associations.c.from_id == owner_id, associations.c.type_id == pair.primary,
        associations.c.to_type == "companies", associations.c.category == HUBSPOT_DEFINED,
    ))
    connection.execute(sa.delete(associations).where(
        associations.c.to_id == owner_id, associations.c.type_id == reverse_primary,
        associations.c.from_type == "companies", associations.c.category == HUBSPOT_DEFINED,
    ))


def remove_links(connection: Connection, from_type: str, from_id: int, to_type: str, to_ids: Iterable[int]) -> None:
    """Remove every link (all types, both directions) between one record and some others."""
    targets = list(to_ids)
    if not targets:
        return
    had_primary = from_type == "contacts" and to_type == "companies" and connection.execute(
        sa.select(associations.c.to_id).where(
            associations.c.from_id == from_id, associations.c.to_id.in_(targets),
            associations.c.type_id == 1, associations.c.category == HUBSPOT_DEFINED,
        )
    ).first() is not None
    connection.execute(sa.delete(associations).where(
        associations.c.from_id == from_id, associations.c.to_id.in_(targets), associations.c.to_type == to_type
    ))
    connection.execute(sa.delete(associations).where(
        associations.c.to_id == from_id, associations.c.from_id.in_(targets), associations.c.from_type == to_type
    ))
    if had_primary:
        _set_associated_company(connection, from_id, None)
    if from_type == "companies" and to_type == "contacts":
        for contact_id in targets:
            contact = store.fetch_records(connection, "contacts", [contact_id], archived=None).get(contact_id)
            if contact is not None and contact.properties.get("associatedcompanyid") == str(from_id):
                _set_associated_company(connection, contact_id, None)


def links_from(
    connection: Connection, from_ids: Iterable[int], to_type: str, *, after_to_id: int = 0, limit: int | None = None
) -> list[Link]:
    """Links from some records to one object type, ordered by target id (then type), for paging by target."""
    wanted = list(from_ids)
    if not wanted:
        return []
    query = (
        sa.select(associations)
        .where(associations.c.from_id.in_(wanted), associations.c.to_type == to_type, associations.c.to_id >= after_to_id)
        .order_by(associations.c.from_id, associations.c.to_id, associations.c.category, associations.c.type_id)
    )
    if limit is not None:
        targets = (
            sa.select(associations.c.to_id)
            .where(associations.c.from_id.in_(wanted), associations.c.to_type == to_type,
                   associations.c.to_id >= after_to_id)
            .distinct()
            .order_by(associations.c.to_id)
            .limit(limit)
        )
        query = query.where(associations.c.to_id.in_(targets))
    return [
        Link(row.from_type, row.from_id, row.to_type, row.to_id, row.category, row.type_id, row.label)
        for row in connection.execute(query)
    ]
