"""Company domains as identity: scheme, ``www.``, path, port and case do not count."""

from __future__ import annotations

import pandas as pd

from datasync_pipeline.engine.normalize import blank_to_none


def domain_key(series: pd.Series) -> pd.Series:
    text = blank_to_none(series).astype("string").str.lower()
    text = text.str.replace(r"^[a-z][a-z0-9+.-]*://", "", regex=True)
    text = text.str.replace(r"[/?#].*$", "", regex=True).str.replace(r":\d+$", "", regex=True)
    text = text.str.replace(r"^www\.", "", regex=True).str.rstrip(".")
    return blank_to_none(text)
