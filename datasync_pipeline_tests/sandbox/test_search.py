"""Search over HTTP: every operator, groups, sorting, paging, HubSpot's limits, archived, indexing lag."""

from __future__ import annotations

import sqlalchemy

from datetime import UTC, datetime

import httpx
import pytest

from datasync_pipeline.sandbox import Sandbox, SandboxSettings, serve_in_thread

SEARCH = "/crm/v3/objects/contacts/search"


def _ids(api: httpx.Client, *filters: dict, groups: list | None = None, **extra) -> list[str]:
    body = {"filterGroups": groups if groups is not None else [{"filters": list(filters)}], "limit": 200, **extra}
    response = api.post(SEARCH, json=body)
    assert response.status_code == 200, response.text
    return [record["id"] for record in response.json()["results"]]


@pytest.fixture
def people(sandbox: Sandbox) -> dict[str, str]:
    sandbox.seed("companies", [{"name": "Filler"}])
    ids = sandbox.seed("contacts", [
        {"email": "ada@analytical.org", "firstname": "Ada", "lastname": "Lovelace", "jobtitle": "Chief Engineer"},
        {"email": "grace@navy.mil", "firstname": "Grace", "lastname": "Hopper", "associatedcompanyid": "7"},
        {"email": "alan@bletchley.uk", "firstname": "Alan", "lastname": "Turing", "associatedcompanyid": "30"},
        {"email": "edsger@tue.nl", "firstname": "Edsger"},
    ])
    return dict(zip(["ada", "grace", "alan", "edsger"], ids, strict=True))


def test_equality_operators_are_case_insensitive_for_strings(api: httpx.Client, people: dict) -> None:
    assert _ids(api, {"propertyName": "email", "operator": "EQ", "value": "ADA@analytical.org"}) == [people["ada"]]
    assert _ids(api, {"propertyName": "firstname", "operator": "NEQ", "value": "ada"}) == [
        people["grace"], people["alan"], people["edsger"]
    ]
    assert _ids(api, {"propertyName": "firstname", "operator": "IN", "values": ["alan", "GRACE"]}) == [
        people["grace"], people["alan"]
    ]
    assert _ids(api, {"propertyName": "firstname", "operator": "NOT_IN", "values": ["alan", "grace"]}) == [
        people["ada"], people["edsger"]
    ]


def test_presence_and_token_operators(api: httpx.Client, people: dict) -> None:
    assert _ids(api, {"propertyName": "lastname", "operator": "HAS_PROPERTY"}) == [people["ada"], people["grace"], people["alan"]]
    assert _ids(api, {"propertyName": "lastname", "operator": "NOT_HAS_PROPERTY"}) == [people["edsger"]]
    assert _ids(api, {"propertyName": "jobtitle", "operator": "CONTAINS_TOKEN", "value": "engineer"}) == [people["ada"]]
    assert _ids(api, {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*.mil"}) == [people["grace"]]
    assert _ids(api, {"propertyName": "jobtitle", "operator": "NOT_CONTAINS_TOKEN", "value": "engineer"}) == [
        people["grace"], people["alan"], people["edsger"]
    ]


def test_numbers_compare_numerically(api: httpx.Client, people: dict) -> None:
    # As text "30" < "7"; as numbers 7 < 30.
    assert _ids(api, {"propertyName": "associatedcompanyid", "operator": "GT", "value": "10"}) == [people["alan"]]
    assert _ids(api, {"propertyName": "associatedcompanyid", "operator": "LTE", "value": "7"}) == [people["grace"]]
    assert _ids(api, {"propertyName": "associatedcompanyid", "operator": "BETWEEN", "value": "5", "highValue": "40"}) == [
        people["grace"], people["alan"]
    ]
    assert _ids(api, {"propertyName": "hs_object_id", "operator": "GTE", "value": people["alan"]}) == [people["alan"], people["edsger"]]
    assert _ids(api, {"propertyName": "associatedcompanyid", "operator": "LT", "value": "7"}) == []


def test_groups_or_together_and_filters_and_together(api: httpx.Client, people: dict) -> None:
    groups = [
        {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "ada"},
                     {"propertyName": "lastname", "operator": "EQ", "value": "lovelace"}]},
        {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "edsger"}]},
        {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "grace"},
                     {"propertyName": "lastname", "operator": "EQ", "value": "nobody"}]},
    ]
    assert _ids(api, groups=groups) == [people["ada"], people["edsger"]]


def test_dates_accept_epoch_milliseconds_and_iso(sandbox: Sandbox, api: httpx.Client) -> None:
    old = sandbox.seed("contacts", [{"email": "old@example.com"}], updated_at=datetime(2024, 1, 1, tzinfo=UTC))
    new = sandbox.seed("contacts", [{"email": "new@example.com"}], updated_at=datetime(2025, 6, 1, tzinfo=UTC))
    cutoff_ms = str(int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000))
    assert _ids(api, {"propertyName": "lastmodifieddate", "operator": "GTE", "value": cutoff_ms}) == new
    assert _ids(api, {"propertyName": "lastmodifieddate", "operator": "LT", "value": "2025-01-01T00:00:00Z"}) == old
    assert _ids(api, {"propertyName": "createdate", "operator": "BETWEEN", "value": "2023-12-31", "highValue": cutoff_ms}) == old
    api.post("/crm/v3/objects/deals", json={"properties": {"dealname": "D", "closedate": "2025-03-01T00:00:00Z"}})
    deals = api.post("/crm/v3/objects/deals/search", json={"filterGroups": [{"filters": [
        {"propertyName": "closedate", "operator": "GT", "value": cutoff_ms}]}]}).json()
    assert deals["total"] == 1


def test_sort_by_last_modified_with_ties_broken_by_id(sandbox: Sandbox, api: httpx.Client) -> None:
    same = datetime(2025, 1, 1, tzinfo=UTC)
    later = sandbox.seed("contacts", [{"email": "later@example.com"}], updated_at=datetime(2025, 2, 1, tzinfo=UTC))
    tied = sandbox.seed("contacts", [{"email": f"tie{index}@example.com"} for index in range(3)], updated_at=same)
    ascending = _ids(api, groups=[], sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}])
    assert ascending == tied + later
    descending = _ids(api, groups=[], sorts=[{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}])
    assert descending == later + tied
    by_name = _ids(api, groups=[], sorts=[{"propertyName": "email", "direction": "DESCENDING"}])
    assert by_name == tied[::-1] + later


def test_paging_total_and_result_limits(sandbox: Sandbox, api: httpx.Client) -> None:
    ids = sandbox.seed("contacts", [{"email": f"s{index}@example.com"} for index in range(25)])
    first = api.post(SEARCH, json={"limit": 10}).json()
    assert first["total"] == 25
    assert first["paging"]["next"]["after"] == "10"
    last = api.post(SEARCH, json={"limit": 10, "after": "20"}).json()
    assert [record["id"] for record in last["results"]] == ids[20:]
    assert "paging" not in last
    assert api.post(SEARCH, json={"limit": 201}).status_code == 400
    assert api.post(SEARCH, json={"limit": 200}).status_code == 200


def test_filter_count_limits(api: httpx.Client) -> None:
    def group(count: int) -> dict:
        return {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * count}

    assert api.post(SEARCH, json={"filterGroups": [group(1)] * 5}).status_code == 200
    assert api.post(SEARCH, json={"filterGroups": [group(1)] * 6}).status_code == 400
    assert api.post(SEARCH, json={"filterGroups": [group(6)]}).status_code == 200
    assert api.post(SEARCH, json={"filterGroups": [group(7)]}).status_code == 400
    assert api.post(SEARCH, json={"filterGroups": [group(6), group(6), group(6)]}).status_code == 200
    too_many = api.post(SEARCH, json={"filterGroups": [group(6), group(6), group(6), group(1)]})
    assert too_many.status_code == 400
    assert too_many.json()["category"] == "VALIDATION_ERROR"
    assert api.post(SEARCH, json={"sorts": [{"propertyName": "email"}, {"propertyName": "firstname"}]}).status_code == 400


def test_paging_past_ten_thousand_is_refused(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.seed("contacts", [{"email": f"m{index}@example.com"} for index in range(10_050)])
    at_edge = api.post(SEARCH, json={"limit": 200, "after": "9800"})
    assert at_edge.status_code == 200
    assert at_edge.json()["total"] == 10_050
    for after, limit in (("9900", 200), ("10000", 10)):
        refused = api.post(SEARCH, json={"limit": limit, "after": after})
        assert refused.status_code == 400
        assert refused.json()["category"] == "VALIDATION_ERROR"
        assert "10000" in refused.json()["message"]


def test_archived_records_never_appear(api: httpx.Client, people: dict) -> None:
    api.delete(f"/crm/v3/objects/contacts/{people['ada']}")
    assert people["ada"] not in _ids(api, {"propertyName": "email", "operator": "HAS_PROPERTY"})
    assert api.post(SEARCH, json={}).json()["total"] == 3


def test_requested_properties_and_unknown_filter_property(api: httpx.Client, people: dict) -> None:
    body = api.post(SEARCH, json={"properties": ["jobtitle"], "limit": 1}).json()
    assert set(body["results"][0]["properties"]) == {"jobtitle", "hs_object_id", "createdate", "lastmodifieddate"}
    refused = api.post(SEARCH, json={"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]})
    assert refused.status_code == 400


def test_freshly_written_records_are_hidden_until_indexed(tmp_path) -> None:
    settings = SandboxSettings(db_path=str(tmp_path / "lag.sqlite"), tier="unlimited", search_index_delay_ms=60_000)
    lagging = Sandbox(settings)
    lagging.seed("contacts", [{"email": "indexed@example.com"}], updated_at=datetime(2024, 1, 1, tzinfo=UTC))
    with serve_in_thread(lagging) as served:
        client = httpx.Client(base_url=served.url, headers={"Authorization": "Bearer sandbox-token"})
        created = client.post("/crm/v3/objects/contacts", json={"properties": {"email": "fresh@example.com"}}).json()
        found = client.post(SEARCH, json={}).json()
        assert found["total"] == 1
        assert created["id"] not in [record["id"] for record in found["results"]]
        assert client.get(f"/crm/v3/objects/contacts/{created['id']}").status_code == 200
    lagging.close()


@pytest.mark.slow
def test_range_search_on_last_modified_uses_the_index_on_200000_contacts(sandbox: Sandbox, api: httpx.Client) -> None:
    for batch in range(4):
        sandbox.seed("contacts", [{"email": f"big{batch}-{index}@example.com"} for index in range(50_000)],
                     updated_at=datetime(2025, 1, 1 + batch, tzinfo=UTC))
    body = {
        "filterGroups": [{"filters": [
            {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "2025-01-02T00:00:00Z"},
            {"propertyName": "lastmodifieddate", "operator": "LT", "value": "2025-01-03T00:00:00Z"},
        ]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 200,
        "after": "9800",
    }
    statements: list[str] = []

    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    sqlalchemy.event.listen(sandbox.store.engine, "before_cursor_execute", capture)
    response = api.post(SEARCH, json=body)
    sqlalchemy.event.remove(sandbox.store.engine, "before_cursor_execute", capture)
    assert response.status_code == 200
    assert response.json()["total"] == 50_000
    assert len(response.json()["results"]) == 200
    # The range is answered from the (object_type, archived, updated_at, id) index, not a scan of 200,000 rows.
    with sandbox.store.engine.connect() as connection:
        plans = [" ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                               _parameters_for(statement)))
                 for statement in statements if "FROM records" in statement]
    assert plans and all("records_by_type_and_update" in plan for plan in plans), plans


def _parameters_for(statement: str) -> tuple:
    # EXPLAIN needs a value per placeholder; the plan does not depend on the values.
    return tuple("x" for _ in range(statement.count("?")))
