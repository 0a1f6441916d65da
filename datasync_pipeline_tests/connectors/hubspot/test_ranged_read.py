"""A full read in id ranges at once (``ranged_read.py``): the same records as one list walk, in the same order, no
page more than the records need, and the one walk whenever a range cannot be proven complete."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.connectors.hubspot.ranged_read import IdRange, _split, read_in_id_ranges

LIST = "GET /crm/v3/objects/{type}"
SEARCH = "POST /crm/v3/objects/{type}/search"


@pytest.fixture
def client(sandbox):
    with HubSpotClient(transport=httpx.WSGITransport(app=sandbox.wsgi_app), base_url="http://sandbox", token=sandbox.settings.token,
                       tier="unlimited", max_concurrency=4) as client:
        yield client


def test_the_ranges_read_what_one_walk_reads_in_its_order_and_no_more_pages(client, sandbox):
    ids = sandbox.seed("contacts", [{"email": f"r{n}@example.com", "firstname": f"F{n}"} for n in range(1_234)])
    walked = list(client.list_records("contacts", properties=["email", "firstname"]))
    client.call_counts.clear()

    read = client.list_all("contacts", properties=["email", "firstname"])

    assert read == walked and [record["id"] for record in read] == ids
    # 13 pages for one walk; 3 ranges (at least 4 pages each), each may end in a partial page; two searches for the
    # ends, one count per range.
    assert client.call_counts[LIST] <= 13 + 3 and client.call_counts[SEARCH] == 2 + 3


def test_a_record_created_after_the_count_is_read_by_the_open_last_range(client, sandbox, monkeypatch):
    sandbox.seed("contacts", [{"email": f"r{n}@example.com"} for n in range(800)])
    searched = Counter()
    search = client.search

    def search_then_create(object_type, body):
        answer = search(object_type, body)
        searched["n"] += 1
        if searched["n"] == 2:  # after the ends are known: a record beyond the highest id
            sandbox.seed("contacts", [{"email": "late@example.com"}])
        return answer

    monkeypatch.setattr(client, "search", search_then_create)
    emails = [record["properties"]["email"] for record in client.list_all("contacts", properties=["email"])]
    assert len(emails) == 801 and emails[-1] == "late@example.com"


def test_a_range_read_short_of_its_count_falls_back_to_one_walk(client, sandbox):
    sandbox.seed("contacts", [{"email": f"r{n}@example.com"} for n in range(800)])

    def list_page_skipping(params):  # a list that loses a record: the count proves the range incomplete
        answer = client._records.list_page("contacts", params)
        return {**answer, "results": [r for r in answer["results"] if not r["id"].endswith("7")]}

    assert read_in_id_ranges(list_page_skipping, lambda body: client.search("contacts", body), properties=["email"], ranges=4) is None


def test_a_cursor_that_is_not_an_id_falls_back_to_one_walk(client, sandbox):
    sandbox.seed("contacts", [{"email": f"r{n}@example.com"} for n in range(800)])

    def list_page_ignoring_after(params):  # every walk starts at the first record
        return client._records.list_page("contacts", {key: value for key, value in params.items() if key != "after"})

    assert read_in_id_ranges(list_page_ignoring_after, lambda body: client.search("contacts", body), properties=[], ranges=4) is None
    assert len(client.list_all("contacts", properties=["email"])) == 800


def test_few_records_are_read_in_one_walk(client, sandbox):
    sandbox.seed("contacts", [{"email": f"r{n}@example.com"} for n in range(150)])
    assert len(client.list_all("contacts", properties=["email"])) == 150
    assert client.call_counts[LIST] == 2


def test_ranges_cover_every_id_once():
    ranges = _split(10, 109, 4)
    assert ranges[0] == IdRange(None, 35) and ranges[-1] == IdRange(85, None)
    for record_id in (-5, 10, 34, 35, 84, 85, 109, 10**9):
        assert sum(id_range.holds(record_id) for id_range in ranges) == 1
