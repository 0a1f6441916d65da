"""The optimised first-sync engine gives exactly what the straightforward one gave.

Random frames full of the awkward cases (duplicates, blanks, padding, case, invalid and
international addresses, origin ids, known pairs with and without last synced values, links that
contradict identity, filters, numbers written differently, ids that are no numbers) go through both ``reference_engine`` and the engine; every frame of the match
result and the merge plan must be equal, row order and dtypes included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datasync_pipeline.config.model import Direction, Side, SyncSpec
from datasync_pipeline.engine.filters import IN_FILTERS
from datasync_pipeline.engine.match import match_records
from datasync_pipeline.engine.plan import plan_first_sync
from datasync_pipeline.objects.catalogue import OBJECT_TYPES
from datasync_pipeline.sync.mappings import resolve_mappings
from datasync_pipeline_tests.engine import reference_engine as reference

EMAILS = [
    "ann@example.com", "Ann@Example.com", "  ann@example.com ", "bob.smith@mail.example.org", "BOB.SMITH@MAIL.EXAMPLE.ORG",
    "carol+tag@sub.example.co.uk", "dave_o'neil@example.ie", "eve@xn--mller-kva.de", "eve@müller.de", "jürgen@example.de",
    "用户@例子.中国", "frank@example", "frank@localhost", "frank@example.test", "frank..x@example.com", ".frank@example.com",
    "frank.@example.com", "fr ank@example.com", "frank@exa_mple.com", "frank@-example.com", "frank@example-.com",
    "frank@ex--ample.com", '"frank smith"@example.com', "frank", "@example.com", "frank@", "", "   ", None,
    "grace@EXAMPLE.com", "heidi@example.c", "heidi@example.co", "ivan@123.com", "ivan@example.123", "judy@a.b.c.d.e.f.org",
    "x" * 65 + "@example.com", "kim@" + "a" * 64 + ".com", "kim@" + "a" * 63 + ".com", "lee@sub.example.arpa", "mo@test.invalid",
]
WORDS = ["Berlin", " Berlin", "berlin", "Berlin ", "", "  ", None, "Wien", "München", "Zürich", "ÄRGER", "Straße", "x"]
NUMBERS = ["100", "100.0", " 1e2 ", "12.5", "12.50", "abc", "", None, "-0", "1e20", "7"]


def _ids(rng: np.random.Generator, size: int, base: int) -> list[str]:
    ids = [str(base + i) for i in rng.permutation(size * 3)[:size]]
    for position in rng.choice(size, size // 20, replace=False):  # a few ids that are no plain numbers
        ids[position] = rng.choice(["0", "00"]) + ids[position] if rng.random() < 0.5 else f"id-{ids[position]}"
    return ids


def _pick(rng: np.random.Generator, values: list, size: int) -> list:
    return [values[i] for i in rng.integers(0, len(values), size)]


def _frame(rng: np.random.Generator, object_name: str, size: int, base: int, other_ids: list[str] | None) -> pd.DataFrame:
    columns: dict[str, list] = {"record_id": _ids(rng, size, base)}
    for mapping in OBJECT_TYPES[object_name].default_mappings:
        if mapping.hubspot == "email":
            columns["email"] = _pick(rng, EMAILS + [f"user{i}@example.com" for i in range(size // 3)], size)
        elif mapping.hubspot in ("domain", "website"):
            columns[mapping.hubspot] = _pick(rng, ["https://www.Example.com/x", "example.com", "EXAMPLE.com:8080", "acme.io", "", None,
                                                   "http://acme.io/about", "globex.de", "www.globex.de", "initech.com"], size)
        elif mapping.hubspot in ("name", "hs_sku"):
            columns[mapping.hubspot] = _pick(rng, ["Acme", "acme ", "ACME", "Globex", "Initech", "", None, "Umbrella", "Ärger GmbH"], size)
        elif mapping.value_type.value == "number":
            columns[mapping.hubspot] = _pick(rng, NUMBERS, size)
        else:
            columns[mapping.hubspot] = _pick(rng, WORDS, size)
    frame = pd.DataFrame(columns, dtype=object)
    if other_ids is not None and rng.random() < 0.5:
        origin = [rng.choice(other_ids) if rng.random() < 0.05 else None for _ in range(size)]
        frame["_origin_app_id" if base < 10**6 else "_origin_hubspot_id"] = origin
    if rng.random() < 0.4:
        frame[IN_FILTERS] = rng.random(size) < 0.8
    return frame


def _with_last_values(rng, known, hubspot, app, mappings, identity) -> pd.DataFrame:
    """Known pairs with last synced values, plus pairs identity matches: some agree, some changed on one side since."""
    matched = reference.match_records(hubspot, app, identity).pairs[["hubspot_id", "app_id"]].head(8)
    known = pd.concat([known, matched], ignore_index=True)
    fields = [m.hubspot for m in mappings]
    hubspot_records, app_records = hubspot.set_index("record_id")[fields], app.set_index("record_id")[fields]

    def values(row: pd.Series) -> dict:
        return {name: value for name, value in row.items() if value is not None}

    known["hubspot_values"] = [values(hubspot_records.loc[h]) for h in known["hubspot_id"]]
    known["app_values"] = [values(hubspot_records.loc[h] if rng.random() < 0.5 else app_records.loc[a])
                           for h, a in zip(known["hubspot_id"], known["app_id"])]
    return known


def _assert_same(expected, actual, names: list[str]) -> None:
    for name in names:
        pd.testing.assert_frame_equal(getattr(actual, name), getattr(expected, name), check_index_type=False, obj=name)
    assert actual.counts == expected.counts


@pytest.mark.parametrize("object_name", ["contacts", "companies", "products", "deals"])
@pytest.mark.parametrize("seed", range(6))
def test_engine_gives_what_the_straightforward_engine_gave(object_name, seed):
    rng = np.random.default_rng(seed)
    spec = SyncSpec(name="s", object=object_name, app="crm", table={"name": "t"})
    mappings = resolve_mappings(spec)
    hubspot = _frame(rng, object_name, int(rng.integers(50, 400)), 10**7, None)
    app = _frame(rng, object_name, int(rng.integers(50, 400)), 1, hubspot["record_id"].tolist())
    if rng.random() < 0.5:
        hubspot["_origin_app_id"] = [rng.choice(app["record_id"]) if rng.random() < 0.03 else None for _ in range(len(hubspot))]
    known = None
    if rng.random() < 0.5:
        known = pd.DataFrame({"hubspot_id": rng.choice(hubspot["record_id"], 5), "app_id": rng.choice(app["record_id"], 5)})
        if rng.random() < 0.7:
            known = _with_last_values(rng, known, hubspot, app, mappings, OBJECT_TYPES[object_name].identity)
    options = {"known_pairs": known, "allow_contacts_without_email": bool(seed % 2), "domain_counts": bool(seed % 3)}

    identity = OBJECT_TYPES[object_name].identity
    expected = reference.match_records(hubspot, app, identity, **options)
    actual = match_records(hubspot, app, identity, **options)
    _assert_same(expected, actual, ["pairs", "hubspot_only", "app_only", "excluded", "failed", "contradicted", "base"])

    for direction in Direction:
        for default_app in Side:
            expected_plan = reference.plan_first_sync(expected, hubspot, app, mappings, direction=direction, default_app=default_app)
            actual_plan = plan_first_sync(actual, hubspot, app, mappings, direction=direction, default_app=default_app)
            _assert_same(expected_plan, actual_plan,
                         ["pairs", "hubspot_creates", "app_creates", "hubspot_updates", "app_updates", "conflicts", "excluded"])


def test_plan_falls_back_to_ids_when_the_frames_are_not_the_ones_matched():
    """Row positions from matching are a hint: a plan over reordered frames still pairs by id."""
    rng = np.random.default_rng(11)
    spec = SyncSpec(name="s", object="contacts", app="crm", table={"name": "t"})
    mappings = resolve_mappings(spec)
    hubspot, app = _frame(rng, "contacts", 300, 10**7, None), _frame(rng, "contacts", 300, 1, None)
    matched = match_records(hubspot, app, OBJECT_TYPES["contacts"].identity)
    shuffled_hubspot = hubspot.sample(frac=1, random_state=1).reset_index(drop=True)
    shuffled_app = app.sample(frac=1, random_state=2)  # index kept: positions and labels both differ
    expected = reference.plan_first_sync(matched, shuffled_hubspot, shuffled_app, mappings, direction=Direction.TWO_WAY, default_app=Side.APP)
    actual = plan_first_sync(matched, shuffled_hubspot, shuffled_app, mappings, direction=Direction.TWO_WAY, default_app=Side.APP)
    _assert_same(expected, actual, ["pairs", "hubspot_creates", "app_creates", "hubspot_updates", "app_updates", "conflicts", "excluded"])


def test_values_that_are_not_text_compare_as_before():
    """Numbers and mixed columns take the general conversion: 1 and 1.0 are different texts."""
    spec = SyncSpec(name="s", object="contacts", app="crm", table={"name": "t"})
    mappings = resolve_mappings(spec)
    hubspot = pd.DataFrame({"record_id": ["1", "2", "3"], "email": ["a@x.com", "b@x.com", "c@x.com"], "firstname": pd.Series([1, "2.5", None], dtype=object),
                            "lastname": [pd.NA, "Lee ", "Kim"]})
    app = pd.DataFrame({"record_id": ["10", "11", "12"], "email": ["a@x.com", "B@x.com", "c@x.com"], "firstname": [1.0, 2.5, " x "],
                        "lastname": [None, "Lee", float("nan")]})
    for frame in (hubspot, app):
        for name in {m.hubspot for m in mappings} - set(frame):
            frame[name] = None
    expected = reference.plan_first_sync(reference.match_records(hubspot, app, OBJECT_TYPES["contacts"].identity), hubspot, app, mappings,
                                         direction=Direction.TWO_WAY, default_app=Side.HUBSPOT)
    actual = plan_first_sync(match_records(hubspot, app, OBJECT_TYPES["contacts"].identity), hubspot, app, mappings,
                             direction=Direction.TWO_WAY, default_app=Side.HUBSPOT)
    _assert_same(expected, actual, ["pairs", "hubspot_creates", "app_creates", "hubspot_updates", "app_updates", "conflicts", "excluded"])
    assert actual.conflicts[["field", "hubspot_value", "app_value"]].values.tolist() == [["firstname", "1", "1.0"]]
