"""Company domains as identity: scheme, user info, ``www.``, port, path, trailing dot and case do not count.

``HTTPS://www.Example.com:443/about?x#top``, ``//example.com``, ``user@example.com`` and
``example.com.`` all have the key ``example.com``. One regular expression takes the host out of
whatever a user typed, column-wise through pandas' string methods.
"""

from __future__ import annotations

import pandas as pd

from datasync_pipeline.engine.normalize import blank_to_none

_HOST = (
    r"^(?:[a-z][a-z0-9+.-]*://|//)?"  # a scheme, or a scheme-relative "//"
    r"(?:[^/?#@]*@)?"  # user info ("user:password@")
    r"(?:www\.)?"
    r"(?P<host>[^/?#:]*)"  # up to the port, path, query or fragment
)


def domain_key(series: pd.Series) -> pd.Series:
    text = blank_to_none(series).str.lower()
    host = text.str.extract(_HOST, expand=False).str.rstrip(".")
    return blank_to_none(host)
