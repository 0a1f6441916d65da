"""Pair values as the state store keeps them: JSON that reads back as the text the engine compares.

The values each side held after a sync are the base of the next three-way merge, which compares
them with values read fresh (``engine.normalize.comparable``): each value as the text pandas' string
dtype makes of it, ``str(value)``, then numbers by value. So every value is stored as JSON whose
read-back gives that same text, whatever the connector read:

- ``str``, ``bool``, finite ``float`` and integers up to 2**53 stay as they are (JSON keeps them exactly);
- integers beyond 2**53 become their digits as text: exact, and safe for JSON readers with doubles only;
- ``Decimal``, ``date``, ``datetime`` (naive or with a zone), ``time``, ``pd.Timestamp`` and any other
  object become ``str(value)``: ``"12.50"``, ``"2024-05-01"``, ``"2024-05-01 10:00:00+00:00"``, the
  text a fresh read of the same value compares as (so ``12.50`` stays ``"12.50"``, never ``12.5``);
- bytes become hex text, as the SQL connector reads binary columns;
- numpy scalars are first their Python value;
- the missing markers (None, NaN, NaT, pd.NA) and infinities become None: no value;
- mappings and lists are converted value by value.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

EXACT_INTEGER_LIMIT = 2**53  # beyond this, doubles (JSON numbers in most readers) skip integers


def json_safe(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A pair's values (property -> value) as JSON-serialisable values; None stays None ("not known here")."""
    if values is None:
        return None
    return {str(name): json_safe_value(value) for name, value in values.items()}


def json_safe_value(value: Any) -> Any:
    """One value in its stored form (see the module docstring)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        number = int(value)
        return number if abs(number) <= EXACT_INTEGER_LIMIT else str(number)
    if isinstance(value, (float, np.floating)):
        # float(str(...)): a float32 0.1 is stored as 0.1, the text it compares as, not 0.10000000149011612.
        number = float(str(value)) if isinstance(value, np.floating) else value
        return number if math.isfinite(number) else None
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return json_safe(value)
    if isinstance(value, (list, tuple)):
        return [json_safe_value(item) for item in value]
    if _is_missing(value):
        return None
    return str(value)


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # array-likes have no single answer: not a missing marker
        return False
