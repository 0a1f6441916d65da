"""Normalising values before they are compared: what counts as empty, equal, a valid email."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
from email_validator import EmailNotValidError, validate_email

from datasync_pipeline.objects.catalogue import ValueType


def blank_to_none(series: pd.Series) -> pd.Series:
    """Strings stripped; empty strings, NaN and None all become None (a field without a value)."""
    as_text = series.astype("string").str.strip()
    present = (as_text.notna() & (as_text != "")).fillna(False).astype(bool)
    return as_text.astype(object).where(present, None)


def comparable(series: pd.Series, value_type: ValueType) -> pd.Series:
    """Values in a form where equal means equal: numbers by value, the rest as stripped text."""
    values = blank_to_none(series)
    if value_type is ValueType.EMAIL:
        return values.map(lambda v: v if v is None else v.lower())
    if value_type is ValueType.NUMBER:
        numbers = pd.to_numeric(values, errors="coerce")
        canonical = numbers.map(lambda n: None if pd.isna(n) else format(n, "g") if n != int(n) else str(int(n)))
        return canonical.where(numbers.notna(), values)
    return values


def email_key(series: pd.Series) -> pd.Series:
    """The contact identity: email lower-cased, surrounding space ignored (rule 6)."""
    return blank_to_none(series).map(lambda v: v if v is None else v.lower())


@lru_cache(maxsize=1_000_000)
def is_valid_email(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def valid_email_mask(keys: pd.Series) -> pd.Series:
    """True where the key is a syntactically valid address; each distinct address is checked once."""
    present = keys.dropna()
    verdicts = {address: is_valid_email(address) for address in present.unique()}
    return keys.map(lambda key: verdicts.get(key, False)).astype(bool)
