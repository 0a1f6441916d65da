"""Normalising values before they are compared: what counts as empty, equal, a valid email.

A first sync compares every record of both sides, so these run on millions of values. Text
columns (every value a ``str`` or missing, the usual case) take a fast path: one list
comprehension per value pass instead of several pandas string passes. Its body is as small as it
can be (``str.strip`` called unbound, None tested first), because at a million values every step
in it counts: the unbound method refuses anything that is not a ``str`` (NaN, ``pd.NA``) with a
``TypeError``, and such a column takes a per-value loop that handles those. Anything else (numbers,
dates, mixed columns) takes the general pandas conversion, so the result is the same either way.
(An Arrow string array was measured as no faster for these columns: the values arrive as Python
``str`` objects and leave as them, and the conversions each way cost about what the strip costs.)
The ``*_values`` functions are the same operations on numpy arrays, for callers that work in
steps of a few thousand values.

Email keys are the exception: they never need to leave as objects (they are hashed into codes and
checked), so ``email_key_text`` gives them as Arrow text, and ``surely_valid_emails`` checks a
million distinct addresses with one RE2 pass (``text_kernels``). The Python forms (``email_key``,
``_surely_valid``) stay for values Arrow does not take, and decide the same.
"""

from __future__ import annotations

import decimal
import math
import re
from functools import lru_cache

import email_validator
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import EmailNotValidError, validate_email

from datasync_pipeline.engine import text_kernels
from datasync_pipeline.engine.text_kernels import arrow_text, flags, is_text
from datasync_pipeline.objects.catalogue import ValueType


def object_array(values: list) -> np.ndarray:
    """A list as a 1-d object array (faster than letting numpy or pandas infer one, or assigning it to a slice)."""
    return np.fromiter(values, dtype=object, count=len(values))


class _NotText(Exception):
    """A value the text fast path does not handle; the general conversion takes over."""


def _stripped_or_none(value: object) -> str | None:
    """The fast path's rare cases: ``str`` subclasses, and missing markers other than None."""
    if isinstance(value, str):
        return str(value).strip() or None
    if pd.isna(value):
        return None
    raise _NotText


def _lowered_or_none(value: object) -> str | None:
    text = _stripped_or_none(value)
    return None if text is None else text.lower()


def _general_blank_to_none(series: pd.Series) -> pd.Series:
    as_text = series.astype("string").str.strip()
    present = (as_text.notna() & (as_text != "")).fillna(False).astype(bool)
    return as_text.astype(object).where(present, None)


_strip, _lower = str.strip, str.lower


def _stripped_text(values: np.ndarray) -> np.ndarray | None:
    """The fast path of ``text_values`` for ``is_text`` values; None if one of them is not handled."""
    try:
        # Every value a str (or str subclass: the result is a plain str either way) or None.
        return object_array([None if value is None else (_strip(value) or None) for value in values])
    except TypeError:
        pass
    try:
        return object_array([
            (text if (text := value.strip()) else None) if value.__class__ is str
            else None if value is None else _stripped_or_none(value)
            for value in values
        ])
    except _NotText:
        return None


def text_values(values: np.ndarray, *, known_text: bool = False) -> np.ndarray:
    """``blank_to_none`` of a 1-d array of values; ``known_text``: they are ``is_text`` (a caller checked their whole column)."""
    stripped = _stripped_text(values) if known_text or is_text(values) else None
    return stripped if stripped is not None else _general_blank_to_none(pd.Series(values, dtype=object)).to_numpy()


def blank_to_none(series: pd.Series) -> pd.Series:
    """Strings stripped; empty strings, NaN and None all become None (a field without a value).

    Other values (numbers, dates) are first turned into text the way pandas' string dtype does.
    """
    values = series.to_numpy()
    stripped = _stripped_text(values) if is_text(values) else None
    if stripped is None:
        return _general_blank_to_none(series)
    return pd.Series(stripped, index=series.index, name=series.name, copy=False)


def comparable_values(text: np.ndarray, value_type: ValueType) -> np.ndarray:
    """``comparable`` of an array already through ``text_values``."""
    if value_type is ValueType.EMAIL:
        return object_array([value if value is None else value.lower() for value in text])
    if value_type is ValueType.NUMBER:
        return _canonical_numbers(pd.Series(text, dtype=object)).to_numpy()
    return text


def comparable(series: pd.Series, value_type: ValueType) -> pd.Series:
    """Values in a form where equal means equal: numbers by value, the rest as stripped text."""
    text = blank_to_none(series)
    return pd.Series(comparable_values(text.to_numpy(), value_type), index=series.index, name=series.name, copy=False)


def _canonical_numbers(values: pd.Series) -> pd.Series:
    """Numbers as text that is equal when the numbers are.

    Integers exactly, whatever their size, without a decimal part (``100``, ``100.0`` and ``1e2`` are
    ``"100"``; ``9007199254740993`` is not ``9007199254740992``); other numbers at double precision, as
    the shortest text that reads back as the same double (``repr``: ``1234567.89``; ``%g`` kept six
    digits, so a change from 1234567.5 to 1234567.9 went unseen); infinities as ``inf`` / ``-inf``.
    Text that is no number stays as it is.
    """
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.dtype.kind in "iu":
        canonical = numbers.to_numpy().astype(str).astype(object)
    elif numbers.dtype.kind == "f":
        as_float = numbers.to_numpy()
        present = ~np.isnan(as_float)
        with np.errstate(invalid="ignore"):
            # Integral values that doubles hold exactly are converted at once; the rest one by one.
            integral = present & (np.floor(as_float) == as_float) & (np.abs(as_float) < _EXACT_DOUBLE)
        canonical = np.full(len(numbers), None, dtype=object)
        canonical[integral] = as_float[integral].astype(np.int64).astype(str).astype(object)
        rest = np.flatnonzero(present & ~integral)
        texts = values.to_numpy()
        canonical[rest] = [_number_text(float(as_float[i]), texts[i]) for i in rest]
    else:
        canonical = [None if pd.isna(n) else _number_text(float(n), text) for n, text in zip(numbers, values)]
    return pd.Series(canonical, index=values.index, name=values.name, dtype=object).where(numbers.notna(), values)


_EXACT_DOUBLE = 2.0**53  # from here on, doubles skip integers: such numbers are read again from their text


def _number_text(number: float, text: object) -> str:
    """``_canonical_numbers`` of one number (``number``: the double ``text`` reads as)."""
    if not math.isfinite(number):
        return format(number, "g")
    if number != int(number):
        return repr(number)
    if abs(number) >= _EXACT_DOUBLE:
        try:
            exact = decimal.Decimal(str(text).strip())
        except decimal.InvalidOperation:
            exact = None
        if exact is not None and exact.is_finite() and exact == exact.to_integral_value():
            return str(int(exact))
    return str(int(number))


def email_key(series: pd.Series) -> pd.Series:
    """The contact identity: email lower-cased, surrounding space ignored (rule 6)."""
    values = series.to_numpy()
    if is_text(values):
        try:
            # The common case in one pass: strip, blank to None, lower-case (every value a str or None).
            keys = object_array([None if value is None else (_lower(_strip(value)) or None) for value in values])
            return pd.Series(keys, index=series.index, name=series.name, copy=False)
        except TypeError:
            pass
        try:
            # Missing markers other than None (NaN, pd.NA) among them.
            keys = object_array([
                (text.lower() if (text := value.strip()) else None) if value.__class__ is str
                else None if value is None else _lowered_or_none(value)
                for value in values
            ])
            return pd.Series(keys, index=series.index, name=series.name, copy=False)
        except _NotText:
            pass
    return comparable(series, ValueType.EMAIL)


def email_key_text(values: np.ndarray) -> pa.Array | None:
    """``email_key`` of an array of values as Arrow text, null where there is none; None when ``arrow_text`` does not take them."""
    raw = arrow_text(values)
    return None if raw is None else text_kernels.blank_to_null(text_kernels.lowered(text_kernels.stripped(raw)))


@lru_cache(maxsize=100_000)
def is_valid_email(address: str) -> bool:
    """email-validator's verdict on the syntax alone (no DNS): the authority on what is valid."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


# A plain ASCII address that email-validator accepts, decided without calling it; one pattern that
# Python's re and RE2 (Arrow's regex kernels) read alike: no lookaround, no possessive quantifier.
# Conservative on purpose: anything unusual (quotes, non-ASCII, upper-case or Punycode domains, ``--``
# in the domain) does not match and goes to email-validator, and neither does an address longer than
# 64 characters or one under a special-use domain (``_SPECIAL_USE_END``). What matches, within those
# bounds, passes each of its syntax checks: a dot-atom local part of RFC 5322 atext; a domain of at
# least two labels of letters and digits with single inner hyphens (so shorter than 63 characters
# each), ending in an all-letter top-level label.
_ATEXT = r"a-zA-Z0-9!#$%&'*+/=?^_`{|}~-"
_LABEL = r"[a-z0-9]+(?:-[a-z0-9]+)*"
SURELY_VALID_EMAIL = rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@(?:{_LABEL}\.)+[a-z]{{2,63}}"
SURELY_VALID_LENGTHS = (3, 64)
_SPECIAL_USE_END = rf"[.@](?:{'|'.join(re.escape(name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)})$"
_SURELY_VALID, _SPECIAL_USE = re.compile(SURELY_VALID_EMAIL), re.compile(_SPECIAL_USE_END)


def _surely_valid(address: str) -> bool:
    """``SURELY_VALID_EMAIL`` of one address, by Python's re (for text Arrow does not take)."""
    shortest, longest = SURELY_VALID_LENGTHS
    return shortest <= len(address) <= longest and _SURELY_VALID.fullmatch(address) is not None and _SPECIAL_USE.search(address) is None


def surely_valid_emails(addresses: pa.Array) -> np.ndarray:
    """``SURELY_VALID_EMAIL`` of Arrow text, by RE2: True only where the address is certainly valid (null: False).

    Whatever matches is ASCII, so its length in bytes is its length in characters.
    """
    shortest, longest = SURELY_VALID_LENGTHS
    length = pc.binary_length(addresses)
    fits = pc.and_(pc.greater_equal(length, shortest), pc.less_equal(length, longest))
    matched = pc.match_substring_regex(addresses, f"^(?:{SURELY_VALID_EMAIL})$")
    special = pc.match_substring_regex(addresses, _SPECIAL_USE_END)
    return flags(pc.and_(pc.and_(fits, matched), pc.invert(special)))


def surely_valid_email_mask(keys: pd.Series) -> np.ndarray:
    """The fast path of ``valid_email_mask``: True only where the address is certainly valid."""
    values = keys.to_numpy()
    text = arrow_text(values)
    if text is not None:
        return surely_valid_emails(text)
    return np.fromiter((value.__class__ is str and _surely_valid(value) for value in values), dtype=bool, count=len(values))


def valid_emails(addresses: pa.Array) -> np.ndarray:
    """``valid_email_mask`` of distinct addresses held as Arrow text, as a numpy mask (null: False)."""
    valid = surely_valid_emails(addresses)
    undecided = np.flatnonzero(~valid & ~flags(addresses.is_null()))
    if len(undecided):
        valid[undecided] = [is_valid_email(address) for address in addresses.take(undecided).to_pylist()]
    return valid


def valid_email_mask(keys: pd.Series) -> pd.Series:
    """True where the key is a syntactically valid address.

    Plain addresses are decided by a strict pattern (``surely_valid_email_mask``); the rest, each
    distinct one once, by email-validator, whose verdict is the authority.
    """
    valid = surely_valid_email_mask(keys)
    undecided = ~valid & keys.notna().to_numpy()
    if undecided.any():
        codes, addresses = pd.factorize(keys.to_numpy(dtype=object)[undecided])
        verdicts = np.array([is_valid_email(address) for address in addresses], dtype=bool)
        valid[undecided] = verdicts[codes]
    return pd.Series(valid, index=keys.index, name=keys.name)
