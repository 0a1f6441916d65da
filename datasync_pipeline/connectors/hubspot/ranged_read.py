"""Reading every record of a type at the account's budget: the list walked in id ranges at once, each range proven complete.

One list walk is one request after another: at a network's latency it sends far fewer requests than the
budget allows, and the limiter never waits. So a full read splits the ids into ranges and walks the list
of each range in a thread of its own, all of them under the shared limiter:

- the ranges come from search (sorted by ``hs_object_id``, one result: the lowest and the highest id), split
  evenly; the first range is open below and starts at once, the last is open above, so a record created
  since the search is read all the same;
- a range's walk starts the list just below its first id (``after``) and stops at its last: the list
  answers in id order, and ``after`` is the id where a page starts (HubSpot's cursor and the sandbox's);
- each range is **proven complete**: search counts the records in the range (``total``, one request,
  never a page past the 10,000-result cap), and the walk must have read at least that many of them, in
  ascending order. The count also sizes the range's last page, so a range costs no more pages than its
  records need.

Whenever a proof fails (a cursor that is not an id, an unordered list, a record gone missing between the
count and the walk, a search refused), the caller reads the whole list the slow way instead: the
answer is the same, only slower. Records come back in id order, as the one walk gives them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from datasync_pipeline.connectors.hubspot.errors import HubSpotRequestError
from datasync_pipeline.connectors.hubspot.search import OBJECT_ID_PROPERTY

PAGE_SIZE = 100
MIN_PAGES_PER_RANGE = 4  # below this the ranges' partial last pages cost more than the walk's parallelism saves

ListPage = Callable[[dict[str, Any]], dict[str, Any]]  # list params -> the parsed answer
SearchPage = Callable[[dict[str, Any]], dict[str, Any]]  # search body -> the parsed answer


class RangeNotProven(Exception):
    """A range's walk could not be shown to hold every record of the range."""


@dataclass(frozen=True)
class IdRange:
    """Ids ``low <= id < high``; ``None`` leaves a side open."""

    low: int | None
    high: int | None

    def holds(self, record_id: int) -> bool:
        return (self.low is None or record_id >= self.low) and (self.high is None or record_id < self.high)


def read_in_id_ranges(
    list_page: ListPage, search_page: SearchPage, *, properties: Sequence[str], ranges: int,
) -> list[dict[str, Any]] | None:
    """Every live record, read in ``ranges`` id ranges at once; None when it cannot be proven complete (read it
    the slow way then). ``list_page`` and ``search_page`` send one request each and may be called from threads."""
    params: dict[str, Any] = {"limit": PAGE_SIZE, "archived": "false"}
    if properties:
        params["properties"] = ",".join(properties)
    try:
        lowest, highest, total = _id_bounds(search_page)
    except HubSpotRequestError:
        return None
    if lowest is None or highest is None:
        return None  # nothing indexed (or ids that are not numbers): the one walk reads whatever there is
    count = max(1, min(ranges, total // (PAGE_SIZE * MIN_PAGES_PER_RANGE)))
    if count == 1:
        return None
    id_ranges = _split(lowest, highest, count)
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="hubspot-read") as pool:
        futures = [pool.submit(_walk_range, list_page, search_page, params, id_range) for id_range in id_ranges]
        try:
            return [record for future in futures for record in future.result()]
        except (RangeNotProven, HubSpotRequestError):
            for future in futures:
                future.cancel()
            return None


def _id_bounds(search_page: SearchPage) -> tuple[int | None, int | None, int]:
    """The lowest and highest id search knows, and how many records it holds."""
    answers = []
    for direction in ("ASCENDING", "DESCENDING"):
        answers.append(search_page({"filterGroups": [], "sorts": [{"propertyName": OBJECT_ID_PROPERTY, "direction": direction}],
                                    "properties": [OBJECT_ID_PROPERTY], "limit": 1, "after": "0"}))
    ends = [_first_id(answer) for answer in answers]
    return ends[0], ends[1], int(answers[0].get("total") or 0)


def _first_id(answer: dict[str, Any]) -> int | None:
    results = answer.get("results") or []
    text = str(results[0].get("id")) if results else ""
    return int(text) if text.isdigit() else None


def _split(lowest: int, highest: int, count: int) -> list[IdRange]:
    """``count`` ranges of equal id span over [lowest, highest], the first open below and the last open above."""
    span = highest - lowest + 1
    cuts = sorted({lowest + span * index // count for index in range(1, count)})
    bounds: list[int | None] = [None, *cuts, None]
    return [IdRange(low, high) for low, high in pairwise(bounds)]


def _count_in(search_page: SearchPage, id_range: IdRange) -> int:
    filters = []
    if id_range.low is not None:
        filters.append({"propertyName": OBJECT_ID_PROPERTY, "operator": "GTE", "value": str(id_range.low)})
    if id_range.high is not None:
        filters.append({"propertyName": OBJECT_ID_PROPERTY, "operator": "LT", "value": str(id_range.high)})
    answer = search_page({"filterGroups": [{"filters": filters}] if filters else [], "properties": [OBJECT_ID_PROPERTY],
                          "limit": 1, "after": "0"})
    return int(answer.get("total") or 0)


def _walk_range(list_page: ListPage, search_page: SearchPage, params: dict[str, Any], id_range: IdRange) -> list[dict[str, Any]]:
    """The records of one range, in id order, once search's count of the range is met; raises `RangeNotProven`."""
    expected = _count_in(search_page, id_range)
    found: list[dict[str, Any]] = []
    starts_below = id_range.low is not None and id_range.low > 0
    after = str(id_range.low - 1) if starts_below else None
    last_id = -1
    while True:
        answer = list_page({**params, "limit": _page_limit(id_range, expected - len(found), first=last_id < 0 and starts_below),
                            **({"after": after} if after else {})})
        for record in answer.get("results") or []:
            text = str(record.get("id"))
            if not text.isdigit() or int(text) <= last_id:
                raise RangeNotProven(f"the list did not answer in id order (id {text} after {last_id})")
            last_id = int(text)
            if id_range.high is not None and last_id >= id_range.high:
                return _proven(found, expected, id_range)
            if id_range.holds(last_id):
                found.append(record)
            elif id_range.low is not None and last_id < id_range.low - 1:
                raise RangeNotProven(f"the list started at id {last_id}, below the range's {id_range.low}")
        after = ((answer.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return _proven(found, expected, id_range)


def _page_limit(id_range: IdRange, remaining: int, *, first: bool) -> int:
    """A full page, or, in a closed range, just what search says is left of it and one record more to see where it
    ends (and the record below the range a first page may start at)."""
    if id_range.high is None or remaining < 0 or remaining >= PAGE_SIZE:
        return PAGE_SIZE
    return min(PAGE_SIZE, remaining + 1 + (1 if first else 0))


def _proven(found: list[dict[str, Any]], expected: int, id_range: IdRange) -> list[dict[str, Any]]:
    if len(found) < expected:
        raise RangeNotProven(f"ids {id_range.low}..{id_range.high}: read {len(found)} of the {expected} search counts")
    return found
