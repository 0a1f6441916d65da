"""Incremental reads: every record modified since a watermark, in (last-modified, id) order.

HubSpot's search pages by offset and refuses offsets past 10,000; offsets also shift under our feet when
a record is modified mid-read (it leaves its place and everything after it moves up one, so the next page
would skip a record). So this never pages by offset. Each page is a fresh search from a key:

* the main walk asks for `lastmodified >= T` sorted by last-modified, where T is the timestamp of the last
  page's trailing group. Every group of equal timestamps but the last is complete (the page is sorted, so
  nothing with that timestamp comes later) and is yielded; the trailing group may continue on the next
  page, so it is read again there, whole, instead of being yielded in part.
* when a whole page shares one timestamp T (a bulk import: 15,000 contacts written in the same millisecond),
  the main walk cannot get past T because search sorts by one property only. The tie walk then reads that
  timestamp alone, `lastmodified == T AND hs_object_id > last id` sorted by hs_object_id, page after page,
  and the main walk resumes at `lastmodified > T`.

A record modified during the walk moves to a later timestamp and is read there; records written with an
older timestamp but indexed late are the caller's overlap window's job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

SEARCH_PAGE_SIZE = 200
OBJECT_ID_PROPERTY = "hs_object_id"

SearchPage = Callable[[dict[str, Any]], dict[str, Any]]


def last_modified_property(object_type: str) -> str:
    """Contacts call it `lastmodifieddate`; every other object `hs_lastmodifieddate`."""
    return "lastmodifieddate" if object_type in ("contacts", "0-1") else "hs_lastmodifieddate"


@dataclass(frozen=True)
class LowerBound:
    """Where the main walk starts: `lastmodified >= ms` (inclusive) or `> ms`."""

    ms: int
    inclusive: bool


def modified_since(
    search_page: SearchPage,
    *,
    modified_property: str,
    since_ms: int | None,
    properties: Sequence[str],
    overlap_ms: int = 0,
) -> Iterator[dict[str, Any]]:
    """Yield every record with last-modified >= `since_ms - overlap_ms` (all records for None), each once.

    `search_page(body)` sends one search request and returns its parsed answer.
    """
    requested = list(dict.fromkeys([*properties, modified_property]))
    bound = LowerBound(since_ms - overlap_ms, True) if since_ms is not None else None
    while True:
        filters = [] if bound is None else [_filter(modified_property, "GTE" if bound.inclusive else "GT", bound.ms)]
        page = search_page(_body(filters, modified_property, requested))
        records = page.get("results") or []
        if not records:
            return
        groups = [
            (ms, list(group))
            for ms, group in groupby(_sorted(records, modified_property), key=lambda r: modified_ms(r, modified_property))
        ]
        is_last_page = not ((page.get("paging") or {}).get("next") or {}).get("after") and len(records) < SEARCH_PAGE_SIZE
        if is_last_page:
            for _, group in groups:
                yield from group
            return
        if len(groups) == 1:
            tied_ms = groups[0][0]
            yield from _records_at(search_page, modified_property, tied_ms, requested)
            next_bound = LowerBound(tied_ms, False)
        else:
            for _, group in groups[:-1]:
                yield from group
            next_bound = LowerBound(groups[-1][0], True)
        if bound is not None and (next_bound.ms, not next_bound.inclusive) <= (bound.ms, not bound.inclusive):
            raise RuntimeError(f"HubSpot search did not move past {modified_property} = {bound.ms}; is the filter ignored?")
        bound = next_bound


def _records_at(search_page: SearchPage, modified_property: str, ms: int, requested: list[str]) -> Iterator[dict[str, Any]]:
    """Every record whose last-modified is exactly `ms`, walked by id so that any number of them is read."""
    last_id: str | None = None
    while True:
        filters = [_filter(modified_property, "EQ", ms)]
        if last_id is not None:
            filters.append(_filter(OBJECT_ID_PROPERTY, "GT", last_id))
        page = search_page(_body(filters, OBJECT_ID_PROPERTY, requested))
        records = page.get("results") or []
        for record in records:
            # A record modified since the main walk saw it has left this timestamp; it is read later.
            if modified_ms(record, modified_property) == ms:
                yield record
        if len(records) < SEARCH_PAGE_SIZE and not ((page.get("paging") or {}).get("next") or {}).get("after"):
            return
        if not records:
            return
        if str(records[-1]["id"]) == last_id:
            raise RuntimeError(f"HubSpot search did not move past {OBJECT_ID_PROPERTY} = {last_id}; is the filter ignored?")
        last_id = str(records[-1]["id"])


def _body(filters: list[dict[str, str]], sort_property: str, properties: list[str]) -> dict[str, Any]:
    return {
        "filterGroups": [{"filters": filters}] if filters else [],
        "sorts": [{"propertyName": sort_property, "direction": "ASCENDING"}],
        "properties": properties,
        "limit": SEARCH_PAGE_SIZE,
        "after": "0",
    }


def _filter(property_name: str, operator: str, value: int | str) -> dict[str, str]:
    return {"propertyName": property_name, "operator": operator, "value": str(value)}


def _sorted(records: list[dict[str, Any]], modified_property: str) -> list[dict[str, Any]]:
    return sorted(records, key=lambda record: (modified_ms(record, modified_property), _id_key(record)))


def _id_key(record: dict[str, Any]) -> tuple[int, str]:
    record_id = str(record.get("id"))
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)


def modified_ms(record: dict[str, Any], modified_property: str) -> int:
    """A record's last-modified time in epoch milliseconds (HubSpot returns ISO-8601 or epoch strings)."""
    value = (record.get("properties") or {}).get(modified_property) or record.get("updatedAt")
    return to_epoch_ms(value)


def to_epoch_ms(value: Any) -> int:
    if value is None:
        return 0
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(round(parsed.timestamp() * 1000))
