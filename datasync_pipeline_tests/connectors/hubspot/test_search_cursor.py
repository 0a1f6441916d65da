"""The (last-modified, id) search cursor against an in-memory search that behaves like HubSpot's:
one sort property, ties in a random order on every request, and a 400 past 10,000 results."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from datasync_pipeline.connectors.hubspot.search import modified_since, to_epoch_ms

LM = "lastmodifieddate"
BASE_MS = 1_700_000_000_000


class InMemorySearch:
    """`records`: {id: last-modified ms}. Answers search bodies; `on_request` may change records between pages."""

    def __init__(self, records: dict[int, int], seed: int = 7) -> None:
        self.records = records
        self.random = random.Random(seed)
        self.bodies: list[dict] = []
        self.on_request = None

    def __call__(self, body: dict) -> dict:
        self.bodies.append(body)
        if self.on_request:
            self.on_request(len(self.bodies))
        offset, limit = int(body.get("after") or 0), int(body["limit"])
        if offset >= 10_000:
            raise AssertionError("asked for an offset past 10,000")
        matches = [record_id for record_id, ms in self.records.items() if self._matches(body, record_id, ms)]
        self.random.shuffle(matches)  # ties come back in no particular order
        sort = body["sorts"][0]["propertyName"]
        matches.sort(key=(lambda i: self.records[i]) if sort == LM else (lambda i: i))
        page = matches[offset : offset + limit]
        answer = {"total": len(matches), "results": [self._record(i) for i in page]}
        if offset + limit < len(matches):
            answer["paging"] = {"next": {"after": str(offset + limit)}}
        return answer

    def _matches(self, body: dict, record_id: int, ms: int) -> bool:
        groups = body["filterGroups"]
        if not groups:
            return True
        return any(all(self._passes(f, record_id, ms) for f in group["filters"]) for group in groups)

    @staticmethod
    def _passes(search_filter: dict, record_id: int, ms: int) -> bool:
        actual = ms if search_filter["propertyName"] == LM else record_id
        value = int(search_filter["value"])
        return {"GTE": actual >= value, "GT": actual > value, "EQ": actual == value}[search_filter["operator"]]

    def _record(self, record_id: int) -> dict:
        iso = datetime.fromtimestamp(self.records[record_id] / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"id": str(record_id), "properties": {LM: iso, "email": f"c{record_id}@x.test"}}


def _read(search: InMemorySearch, since_ms: int | None, overlap_ms: int = 0) -> list[dict]:
    return list(modified_since(search, modified_property=LM, since_ms=since_ms, properties=["email"], overlap_ms=overlap_ms))


def _order_key(record: dict) -> tuple[int, int]:
    return to_epoch_ms(record["properties"][LM]), int(record["id"])


def test_15000_records_sharing_one_timestamp_are_each_read_once_in_order():
    records = {record_id: BASE_MS for record_id in range(1, 15_001)}
    records.update({15_000 + n: BASE_MS + n * 7 for n in range(1, 301)})
    records.update({20_000 + n: BASE_MS - n for n in range(1, 51)})  # older than the watermark
    search = InMemorySearch(records)
    read = _read(search, since_ms=BASE_MS)
    counts = Counter(int(record["id"]) for record in read)
    assert set(counts) == {i for i, ms in records.items() if ms >= BASE_MS}
    assert max(counts.values()) == 1
    assert read == sorted(read, key=_order_key)
    assert all(int(body["after"]) < 10_000 for body in search.bodies)
    assert len(search.bodies) < (15_300 / 200) + 10


def test_small_groups_of_ties_across_many_pages():
    rng = random.Random(3)
    records = {record_id: BASE_MS + rng.randrange(0, 1_000) for record_id in range(1, 3_001)}  # ~3 per timestamp
    search = InMemorySearch(records)
    read = _read(search, since_ms=None)
    assert sorted(int(record["id"]) for record in read) == sorted(records)
    assert read == sorted(read, key=_order_key)


def test_a_record_modified_mid_walk_is_not_lost_and_nothing_else_is_skipped():
    records = {record_id: BASE_MS + record_id for record_id in range(1, 1_001)}
    search = InMemorySearch(records)

    def touch_an_early_record(request_number: int) -> None:
        if request_number == 3:
            records[5] = BASE_MS + 5_000  # already read: moves to the end and is read again there

    search.on_request = touch_an_early_record
    read_ids = [int(record["id"]) for record in _read(search, since_ms=BASE_MS)]
    assert set(read_ids) == set(records)
    assert read_ids.count(5) == 2 and len(read_ids) == 1_001


def test_overlap_window_reaches_back():
    records = {1: BASE_MS - 500, 2: BASE_MS - 2_000, 3: BASE_MS + 1}
    read = _read(InMemorySearch(records), since_ms=BASE_MS, overlap_ms=1_000)
    assert [record["id"] for record in read] == ["1", "3"]


def test_a_group_of_ties_exactly_the_page_size_is_complete():
    records = {record_id: BASE_MS for record_id in range(1, 201)}
    records.update({300 + n: BASE_MS + 1 for n in range(200)})
    records.update({600: BASE_MS + 2})
    read = _read(InMemorySearch(records), since_ms=0)
    assert sorted(int(record["id"]) for record in read) == sorted(records)


@pytest.mark.parametrize("value", ["2024-05-01T10:00:00.123Z", "1714557600123"])
def test_timestamps_parse_from_iso_and_epoch(value):
    assert to_epoch_ms(value) == 1714557600123
