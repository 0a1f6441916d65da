"""The Arrow kernels give what the Python forms give: strip, lower, email keys, the plain-address pattern."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from datasync_pipeline.engine import text_kernels
from datasync_pipeline.engine.match import match_records
from datasync_pipeline.engine.normalize import _surely_valid, email_key, email_key_text, surely_valid_emails, valid_email_mask, valid_emails
from datasync_pipeline.objects.catalogue import Identity
from datasync_pipeline_tests.engine import reference_engine as reference
from datasync_pipeline_tests.engine.test_normalize import TRICKY_ADDRESSES, _fuzzed, _validator_says

EVERY_CHARACTER = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]  # surrogates: not UTF-8
AWKWARD_EMAILS = [
    None, "", "   ", "\t\n", "\u3000", " ann@example.com ", "\u3000ann@example.com\xa0", "\x1cann@example.com\x1f", "ANN@EXAMPLE.COM",
    "Ann@Example.com", "ann@example.com", "ẞ@straße.de", "STRASSE@ẞ.DE", "İlker@example.com", "ılker@example.com", "ΣΑΣ@example.gr",
    "Ǆemal@example.ba", "jürgen@müller.de", "JÜRGEN@MÜLLER.DE", "用户@例子.中国", "ann＠example.com", "ANN@EXAMPLE.ＣＯＭ",
    "\u2028ann@example.com\u2029", "a\u0085@example.com\u0085", "ann@example.com\n", "ann\n@example.com", "x" * 300 + "@example.com",
]


def test_python_whitespace_is_what_str_isspace_says():
    assert text_kernels.PYTHON_WHITESPACE == "".join(c for c in EVERY_CHARACTER if c.isspace())


def test_stripped_is_str_strip_for_every_character():
    padded = [c + "x" + c for c in EVERY_CHARACTER] + [c * 3 for c in EVERY_CHARACTER if c.isspace()]
    assert text_kernels.stripped(pa.array(padded, type=pa.string())).to_pylist() == [value.strip() for value in padded]


def test_lowered_is_str_lower_for_every_character():
    text = [c + "A" + c for c in EVERY_CHARACTER] + ["ẞ", "İ", "ΣΑΣ", "ǅ", "MIXED Ünïcode", "", None]
    assert text_kernels.lowered(pa.array(text, type=pa.string())).to_pylist() == [None if v is None else v.lower() for v in text]


def test_blank_to_null_leaves_blanks_and_missing_values_out():
    text = pa.array(["a", "", None, " ", ""], type=pa.string())
    assert text_kernels.blank_to_null(text).to_pylist() == ["a", None, None, " ", None]
    assert text_kernels.blank_to_null(text.slice(1, 3)).to_pylist() == [None, None, " "]
    assert text_kernels.blank_to_null(text.slice(0, 0)).to_pylist() == []


@pytest.mark.parametrize("values", [
    AWKWARD_EMAILS,
    AWKWARD_EMAILS * 3,  # duplicates
    [None, float("nan"), pd.NA, " a@b.co "],
    [],
    [None, None],
])
def test_email_key_text_is_email_key(values):
    series = pd.Series(values, dtype=object)
    keys = email_key_text(series.to_numpy())
    assert keys is not None
    assert keys.to_pylist() == email_key(series).tolist() == reference.email_key(series).tolist()


@pytest.mark.parametrize("values", [[1, "a@b.co"], [b"a@b.co"], ["\ud800@example.com"], [pd.Timestamp("2024-01-01")]])
def test_email_key_text_leaves_what_is_not_text_to_the_python_form(values):
    assert email_key_text(pd.Series(values, dtype=object).to_numpy()) is None


def test_re2_and_python_decide_the_plain_pattern_alike():
    addresses = TRICKY_ADDRESSES + AWKWARD_EMAILS[1:] + _fuzzed(4000, seed=11) + [a.lower() for a in _fuzzed(2000, seed=12)]
    by_re2 = surely_valid_emails(pa.array(addresses, type=pa.string()))
    by_python = [_surely_valid(address) for address in addresses]
    assert by_re2.tolist() == by_python
    assert [a for a, surely in zip(addresses, by_re2) if surely and not _validator_says(a)] == []
    assert by_re2.sum() > 500


def test_valid_emails_of_distinct_addresses_is_email_validators_verdict():
    addresses = list(dict.fromkeys(TRICKY_ADDRESSES + _fuzzed(1500, seed=13)))
    verdicts = valid_emails(pa.array(addresses + [None], type=pa.string()))
    assert verdicts.tolist() == [_validator_says(a) for a in addresses] + [False]
    assert verdicts.tolist()[:-1] == valid_email_mask(pd.Series(addresses, dtype=object)).tolist()


@pytest.mark.parametrize("odd", [7, b"x@example.com", "\ud800@example.com"])
def test_match_takes_the_python_forms_for_email_columns_arrow_does_not_take(odd):
    rng = np.random.default_rng(5)
    emails = AWKWARD_EMAILS + [f"user{i}@example.com" for i in range(40)]
    hubspot = pd.DataFrame({"record_id": [str(10**7 + i) for i in range(60)], "email": [emails[i] for i in rng.integers(0, len(emails), 60)]},
                           dtype=object)
    app = pd.DataFrame({"record_id": [str(i + 1) for i in range(60)], "email": [emails[i] for i in rng.integers(0, len(emails), 60)]}, dtype=object)
    app.loc[3, "email"] = odd
    for frames in ((hubspot, app), (app.rename(columns={}), hubspot)):
        expected, actual = reference.match_records(*frames, Identity.EMAIL), match_records(*frames, Identity.EMAIL)
        for name in ("pairs", "hubspot_only", "app_only", "excluded"):
            pd.testing.assert_frame_equal(getattr(actual, name), getattr(expected, name), check_index_type=False, obj=name)
        assert actual.counts == expected.counts
