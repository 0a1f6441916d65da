"""Per-side filters of the first sync (rule 7): which records take part.

Evaluated on each side's raw fields (HubSpot property names on the HubSpot side, app column names on
the app side) into an ``_in_filters`` column; matching then excludes records outside the filters
with the reason ``outside filters``, except those already linked, which keep syncing whatever
their values become.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from datasync_pipeline.config.model import FilterOperator, FilterRule
from datasync_pipeline.engine.normalize import blank_to_none

IN_FILTERS = "_in_filters"


def filter_fields(rules: Sequence[FilterRule]) -> list[str]:
    return list(dict.fromkeys(rule.field for rule in rules))


def in_filters(raw: pd.DataFrame, rules: Sequence[FilterRule]) -> pd.Series:
    """True where a record meets every rule (rules of one side combine with AND)."""
    keep = pd.Series(True, index=raw.index)
    for rule in rules:
        keep &= _meets(blank_to_none(raw[rule.field]) if rule.field in raw else pd.Series(None, index=raw.index, dtype=object), rule)
    return keep


def _meets(values: pd.Series, rule: FilterRule) -> pd.Series:
    present = values.notna()
    text = values.map(lambda v: v if v is None else str(v).casefold())
    wanted = rule.value if isinstance(rule.value, list) else [rule.value] if rule.value is not None else []
    wanted = [str(w).casefold() for w in wanted]
    match rule.operator:
        case FilterOperator.HAS_VALUE:
            return present
        case FilterOperator.HAS_NO_VALUE:
            return ~present
        case FilterOperator.EQ | FilterOperator.IN:
            return present & text.isin(wanted)
        case FilterOperator.NEQ | FilterOperator.NOT_IN:
            return ~(present & text.isin(wanted))
        case FilterOperator.CONTAINS:
            return present & text.map(lambda v: v is not None and any(w in v for w in wanted))
    raise ValueError(f"unknown filter operator {rule.operator}")
