"""NaN is "no value", infinity an invalid number, numbers compare at full precision, and the years 1
and 9999 are dates: on plain pandas frames, through validation, the merge plan and HubSpot's properties."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from datasync_pipeline.config.model import Direction, Side, SyncSpec
from datasync_pipeline.engine.frames import has_value, properties_of
from datasync_pipeline.engine.match import match_records
from datasync_pipeline.engine.normalize import comparable
from datasync_pipeline.engine.plan import plan_first_sync
from datasync_pipeline.engine.validation import record_schema, split_invalid
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.objects.catalogue import Identity, ResolvedMapping, ValueType
from datasync_pipeline.sync.mappings import resolve_mappings

PRODUCTS = resolve_mappings(SyncSpec(name="products", object="products", app="a", table={"name": "products"}))
FIELDS = [m.hubspot for m in PRODUCTS]
NANS = [float("nan"), np.float64("nan"), Decimal("NaN"), pd.NA, pd.NaT]


def products(rows: list[dict]) -> pd.DataFrame:
    """An engine frame as the extract makes it: values kept as they are (NaN included)."""
    columns = ["record_id", *FIELDS]
    return pd.DataFrame([[row.get(name) for name in columns] for row in rows], columns=columns, dtype=object)


@pytest.mark.parametrize("nan", NANS, ids=repr)
def test_a_numeric_nan_is_no_value_when_creating_in_hubspot(nan):
    app = products([{"record_id": "10", "name": "Widget", "price": nan}, {"record_id": "11", "name": "Gadget", "price": 0.0}])
    assert app.loc[0, "price"] is nan
    valid, failed = split_invalid(app, record_schema(PRODUCTS, name="products"), side="app")
    assert failed.empty and len(valid) == 2  # no value is never an invalid value
    hubspot = products([])
    merge = plan_first_sync(match_records(hubspot, valid, Identity.SKU_OR_NAME), hubspot, valid, PRODUCTS,
                            direction=Direction.TWO_WAY, default_app=Side.APP)
    created = {row["ref"]: properties_of(row, PRODUCTS) for row in merge.hubspot_creates.to_dict("records")}
    assert created == {"10": {"name": "Widget"}, "11": {"name": "Gadget", "price": "0.0"}}  # left out, never "nan"


@pytest.mark.parametrize("nan", NANS, ids=repr)
def test_a_numeric_nan_never_overwrites_a_value_on_the_other_side(nan):
    hubspot = products([{"record_id": "1", "name": "Widget", "price": "5"}])
    app = products([{"record_id": "10", "name": "Widget", "price": nan}])
    merge = plan_first_sync(match_records(hubspot, app, Identity.SKU_OR_NAME), hubspot, app, PRODUCTS,
                            direction=Direction.TWO_WAY, default_app=Side.APP)
    # The default app has no value: HubSpot is left unchanged, and the app is filled from HubSpot.
    assert merge.hubspot_updates.empty and merge.conflicts.empty
    assert merge.app_updates[["record_id", "field", "value"]].values.tolist() == [["10", "price", "5"]]


def test_has_value_and_properties_of_leave_out_every_missing_marker():
    assert [has_value(v) for v in [*NANS, None, " ", 0, 0.0, "0", float("inf")]] == [False] * 7 + [True] * 4
    row = {"name": "Widget", "price": float("nan"), "hs_sku": pd.NA, "description": "  "}
    assert properties_of(row, PRODUCTS) == {"name": "Widget"}


def test_infinite_numbers_and_the_text_nan_are_failed_records():
    app = products([{"record_id": "10", "name": "A", "price": float("inf")}, {"record_id": "11", "name": "B", "price": "-Infinity"},
                    {"record_id": "12", "name": "C", "price": "NaN"}, {"record_id": "13", "name": "D", "price": Decimal("12.50")}])
    valid, failed = split_invalid(app, record_schema(PRODUCTS, name="products"), side="app")
    assert valid["record_id"].tolist() == ["13"]
    assert failed["record_id"].tolist() == ["10", "11", "12"]
    assert set(failed["category"]) == {str(ErrorCategory.INVALID_PROPERTY_VALUE)}
    assert failed["detail"].str.contains("price").all()


@pytest.mark.parametrize("before, after", [
    ("1234567.5", "1234567.9"),  # %g kept six significant digits: this change went unseen
    ("123456.78", "123456.79"),
    ("9007199254740993", "9007199254740992"),  # integers beyond 2**53 stay exact
    ("100000000000000000000000000001", "100000000000000000000000000002"),
    ("0.1", "0.30000000000000004"),
])
def test_numbers_that_differ_compare_unequal(before, after):
    for values in (pd.Series([before, after]), pd.Series([before, after, None])):
        canonical = comparable(values, ValueType.NUMBER)
        assert canonical[0] != canonical[1]


def test_numbers_written_differently_still_compare_equal():
    values = pd.Series(["12.5", "12.50", "1.25e1", "9007199254740993", "9007199254740993.0", "1e2", "100", None])
    assert comparable(values, ValueType.NUMBER).tolist() == ["12.5", "12.5", "12.5", "9007199254740993", "9007199254740993",
                                                            "100", "100", None]


EXTREMES = ["0001-01-01", "9999-12-31", date(1, 1, 1), date(9999, 12, 31), datetime(9999, 12, 31, 23, 59, 59),
            "-62135596800000", "253402214400000", "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z"]


@pytest.mark.parametrize("value_type", [ValueType.DATE, ValueType.DATETIME])
def test_the_first_and_last_valid_dates_are_dates(value_type):
    mappings = [ResolvedMapping("when", "when", value_type, False, False)]
    frame = pd.DataFrame({"record_id": [str(i) for i in range(len(EXTREMES) + 1)],
                          "when": pd.Series([*EXTREMES, "0000-12-31"], dtype=object)})
    valid, failed = split_invalid(frame, record_schema(mappings, name="dates"), side="app")
    assert len(valid) == len(EXTREMES)
    assert failed["record_id"].tolist() == [str(len(EXTREMES))]  # year 0 is no date


def test_app_dates_at_the_bounds_go_to_a_hubspot_date_property_as_yyyy_mm_dd():
    mappings = [ResolvedMapping("renewal", "renewal", ValueType.DATE, False, False)]
    app = pd.DataFrame({"record_id": ["10", "11"], "renewal": pd.Series([date(1, 1, 1), date(9999, 12, 31)], dtype=object)})
    valid, failed = split_invalid(app, record_schema(mappings, name="dates"), side="app")
    assert failed.empty
    hubspot = pd.DataFrame({"record_id": pd.Series([], dtype=object), "renewal": pd.Series([], dtype=object)})
    merge = plan_first_sync(match_records(hubspot, valid, Identity.NONE), hubspot, valid, mappings,
                            direction=Direction.APP_TO_HUBSPOT, default_app=Side.APP)
    assert [properties_of(row, mappings) for row in merge.hubspot_creates.to_dict("records")] == [
        {"renewal": "0001-01-01"}, {"renewal": "9999-12-31"}]
