"""Issue 9: the base after a run that died partway (pending writes), and app keys given to another row."""

from __future__ import annotations

import pandas as pd

from datasync_pipeline.engine.pending_base import created_pairs_base, with_pending_writes
from datasync_pipeline.engine.reused_keys import reused_app_keys
from datasync_pipeline.objects.catalogue import Identity, ResolvedMapping, ValueType

MAPPINGS = [ResolvedMapping("email", "email", ValueType.EMAIL, True, True),
            ResolvedMapping("city", "city", ValueType.STRING, False, True),
            ResolvedMapping("amount", "amount", ValueType.NUMBER, False, False)]
PAIRS = pd.DataFrame({"hubspot_id": ["h1"], "app_id": ["a1"],
                      "hubspot_values": [{"email": "ann@x.io", "city": "Berlin", "amount": "5"}],
                      "app_values": [{"email": "ann@x.io", "city": "Berlin", "amount": "5"}]})


def frame(record_id: str, **values) -> pd.DataFrame:
    return pd.DataFrame([{"record_id": record_id, "email": "ann@x.io", "city": None, "amount": None, **values}], dtype=object)


def test_a_field_still_holding_the_pending_value_takes_it_as_its_base():
    result = with_pending_writes(PAIRS, frame("h1", city="Linz", amount="7.0"), frame("a1", city="Graz"), MAPPINGS,
                                 hubspot_pending={"h1": {"city": "Linz", "amount": 7}}, app_pending={})
    assert result.loc[0, "hubspot_values"] == {"email": "ann@x.io", "city": "Linz", "amount": 7}  # 7.0 is 7
    assert result.loc[0, "app_values"] == PAIRS.loc[0, "app_values"]


def test_a_field_changed_since_the_pending_write_keeps_its_committed_base():
    result = with_pending_writes(PAIRS, frame("h1", city="Wien"), frame("a1"), MAPPINGS,
                                 hubspot_pending={"h1": {"city": "Linz"}}, app_pending={})
    assert result.loc[0, "hubspot_values"]["city"] == "Berlin"


def test_a_pending_clear_counts_when_the_field_is_still_empty_and_a_record_not_read_is_unchanged():
    result = with_pending_writes(PAIRS, frame("other"), frame("a1", city=""), MAPPINGS,
                                 hubspot_pending={"h1": {"city": "Berlin"}}, app_pending={"a1": {"city": None}})
    assert result.loc[0, "app_values"]["city"] is None
    assert result.loc[0, "hubspot_values"]["city"] == "Berlin"


def test_only_pairs_found_through_an_origin_id_take_a_pending_create_as_base():
    pairs = pd.DataFrame({"hubspot_id": ["h1", "h2"], "app_id": ["a1", "a2"], "matched_by": ["origin", "identity"]})
    base = created_pairs_base(pairs, app_creates={"h1": {"city": "Linz"}, "h2": {"city": "Graz"}}, hubspot_creates={})
    assert base.to_dict("records") == [{"hubspot_id": "h1", "app_id": "a1", "hubspot_values": {"city": "Linz"},
                                        "app_values": {"city": "Linz"}}]


LINKS = pd.DataFrame({"hubspot_id": ["h1"], "app_id": ["7"], "status": ["synced"], "app_values": [{"email": "ann@x.io"}]})


def app_row(email: str, external: str | None) -> pd.DataFrame:
    return pd.DataFrame([{"record_id": "7", "email": email, "_origin_hubspot_id": external}], dtype=object)


def test_a_row_with_another_identity_and_without_the_pairs_hubspot_id_is_another_row():
    reused = reused_app_keys(LINKS, app_row("bob@x.io", None), Identity.EMAIL, domain_counts=True)
    assert reused["hubspot_id"].tolist() == ["h1"]
    assert reused_app_keys(LINKS, app_row("bob@x.io", "h9"), Identity.EMAIL, domain_counts=True)["hubspot_id"].tolist() == ["h1"]


def test_a_row_holding_the_pairs_hubspot_id_or_the_same_identity_is_the_linked_row():
    assert reused_app_keys(LINKS, app_row("ann.new@x.io", "h1"), Identity.EMAIL, domain_counts=True).empty  # an email edit
    assert reused_app_keys(LINKS, app_row(" ANN@x.io", None), Identity.EMAIL, domain_counts=True).empty


def test_without_an_identity_only_another_hubspot_id_tells():
    links = LINKS.assign(app_values=[{}])
    deal = pd.DataFrame([{"record_id": "7", "dealname": "x", "_origin_hubspot_id": None}], dtype=object)
    assert reused_app_keys(links, deal, Identity.NONE, domain_counts=True).empty
    assert reused_app_keys(links, deal.assign(_origin_hubspot_id="h9"), Identity.NONE, domain_counts=True)["hubspot_id"].tolist() == ["h1"]


def test_without_an_external_id_column_the_link_stands():
    assert reused_app_keys(LINKS, app_row("bob@x.io", None).drop(columns="_origin_hubspot_id"), Identity.EMAIL, domain_counts=True).empty
