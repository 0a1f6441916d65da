"""The app's words and HubSpot's values (``sync/translate.py``), without a run: frames read, values written."""

from __future__ import annotations

import pandas as pd

from datasync_pipeline.config.model import AppTable, FieldMapping, SyncSpec
from datasync_pipeline.connectors.base import WriteResult
from datasync_pipeline.sync.mappings import resolve_mappings
from datasync_pipeline.sync.translate import UNMAPPED, TranslatingSide, Translation, translating, unmapped_rows

PIPELINES = [
    {"id": "default", "label": "Sales", "displayOrder": 0, "stages": [{"id": "won", "label": "Won"}, {"id": "open", "label": "Open"}]},
    {"id": "p2", "label": "Renewals", "displayOrder": 1, "stages": [{"id": "r-won", "label": "Won"}]},
]
OWNERS = [{"id": "1", "email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"}]


class ReferenceClient:
    """What ``Translation.of`` asks of the HubSpot client, counting the calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def list_owners(self):
        self.calls.append("owners")
        return OWNERS

    def get_pipelines(self, object_type):
        self.calls.append(f"pipelines {object_type}")
        return PIPELINES


def deal_sync(*mappings: dict) -> SyncSpec:
    return SyncSpec(name="deals", object="deals", app="erp", table=AppTable(name="deals"),
                    mappings=[FieldMapping(**mapping) for mapping in mappings])


LABELS = deal_sync({"hubspot": "pipeline", "lookup": "label"}, {"hubspot": "dealstage", "lookup": "label"},
                   {"hubspot": "hubspot_owner_id", "app": "owner", "lookup": "owner_email"})


def test_reference_data_is_read_only_for_the_lookups_a_sync_has():
    client = ReferenceClient()
    assert Translation.of(resolve_mappings(deal_sync()), "deals", client).empty and client.calls == []
    Translation.of(resolve_mappings(deal_sync({"hubspot": "dealstage", "lookup": "label"})), "deals", client)
    assert client.calls == ["pipelines deals"]


def test_a_stage_label_is_found_in_its_records_pipeline_or_the_first_one():
    translation = Translation.of(resolve_mappings(LABELS), "deals", ReferenceClient())
    app = pd.DataFrame({"record_id": ["1", "2", "3", "4"], "pipeline": ["sales", "Renewals", None, "Sales"],
                        "dealstage": ["won", " WON ", "Open", "Lost"], "hubspot_owner_id": ["ANN@example.com", "Ann Lee", None, "bob@x.io"]})
    read = translation.frame_to_hubspot(app)
    assert read["pipeline"].tolist() == ["default", "p2", None, "default"]
    assert read["dealstage"].tolist() == ["won", "r-won", "open", "Lost"]
    assert read["hubspot_owner_id"].tolist() == ["1", "1", None, "bob@x.io"]
    assert read[UNMAPPED].tolist()[:3] == [None, None, None]
    assert read[UNMAPPED].iloc[3] == ("owner 'bob@x.io' has no HubSpot value for hubspot_owner_id in the HubSpot owners; "
                                      "stage 'Lost' has no HubSpot value for dealstage in the pipelines' labels")
    valid, failed = unmapped_rows(read)
    assert valid["record_id"].tolist() == ["1", "2", "3"] and UNMAPPED not in valid
    assert failed[["side", "record_id", "category"]].values.tolist() == [["app", "4", "unmapped_value"]]


class RecordingSide:
    kind, keeps_origins = "sql", True

    def __init__(self) -> None:
        self.created, self.updated, self.origins = [], {}, {}

    def create(self, records):
        self.created.extend(records)
        return WriteResult(written={record["_ref"]: "new" for record in records})

    def update(self, records, *, origins=None):
        self.updated.update(records)
        self.origins.update(origins or {})
        return WriteResult(written={record_id: record_id for record_id in {*records, *(origins or {})}})

    def describe(self):
        return "table deals"


def test_writes_get_the_apps_words_and_a_value_without_one_fails_only_its_record():
    translation = Translation.of(resolve_mappings(deal_sync({"hubspot": "hs_priority", "app": "priority",
                                                             "values": {"Low": "low", "Minor": "low", "Urgent": "high"}})),
                                 "deals", ReferenceClient())
    inner = RecordingSide()
    side = translating(inner, translation)
    assert isinstance(side, TranslatingSide) and side.describe() == "table deals"
    created = side.create([{"_ref": "h1", "hs_priority": "low"}, {"_ref": "h2", "hs_priority": "medium"}])
    assert inner.created == [{"_ref": "h1", "hs_priority": "Low"}]  # the first app value listed for "low"
    assert created.written == {"h1": "new"} and created.failed["h2"].category == "unmapped_value"
    updated = side.update({"a1": {"hs_priority": "high"}, "a2": {"hs_priority": "medium"}}, origins={"a2": "h2", "a3": "h3"})
    assert inner.updated == {"a1": {"hs_priority": "Urgent"}}
    assert inner.origins == {"a3": "h3"}  # a record that failed keeps its old origin until its write succeeds
    assert set(updated.failed) == {"a2"} and set(updated.written) == {"a1", "a3"}
    assert translating(inner, Translation([])) is inner
