"""App keys that now name another row: the linked row was deleted and its key given to a new one.

SQLite gives a new row the highest key in use plus one, so after a hard delete of the row with the
highest key the next insert gets the deleted row's key; a reset Postgres sequence or a reloaded table
does the same. A stored link for that key would merge the new row into the deleted row's HubSpot
record (overwriting its email and names) and the deletion would never be found.

Links are evidence, identity is the rule: a linked app row is taken for another row when its identity
contradicts the identity the linked row had at the last sync, and its external-id column does not hold
the pair's HubSpot id (every row the sync links gets that id, so a row holding it is ours, even after an
email edit). For objects without an identity only the external-id column can tell: a row holding
another HubSpot id is another row. Without an external-id column nothing is concluded: the link stands.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from datasync_pipeline.engine.match import identity_keys
from datasync_pipeline.engine.normalize import valid_email_mask
from datasync_pipeline.objects.catalogue import Identity

ORIGIN_COLUMN = "_origin_hubspot_id"
COLUMNS = ["hubspot_id", "app_id", "status"]


def reused_app_keys(links: pd.DataFrame, app: pd.DataFrame, identity: Identity, *, domain_counts: bool) -> pd.DataFrame:
    """The links (hubspot_id, app_id, status) whose app key now names another row than the one linked.

    ``links``: hubspot_id, app_id, status and app_values (the linked row's values at the last sync).
    ``app``: the app records read (record_id, the mapped fields, ``_origin_hubspot_id``).
    """
    if links.empty or app.empty or ORIGIN_COLUMN not in app:
        return pd.DataFrame(columns=COLUMNS, dtype=object)
    rows = app.drop_duplicates("record_id")
    rows = rows.set_index(rows["record_id"].astype(str))
    present = links[links["app_id"].astype(str).isin(rows.index)].reset_index(drop=True)
    if present.empty:
        return pd.DataFrame(columns=COLUMNS, dtype=object)
    now = rows.loc[present["app_id"].astype(str)].reset_index(drop=True)
    external = now[ORIGIN_COLUMN]
    ours = (external.notna() & (external.astype(str) == present["hubspot_id"].astype(str))).to_numpy()
    fields = [name for name in ("email", "domain", "name", "hs_sku") if name in now]
    then = pd.DataFrame([values if isinstance(values, dict) else {} for values in present.get("app_values", [None] * len(present))],
                        columns=fields, dtype=object)
    keys_now = _keys(now[fields], identity, domain_counts=domain_counts)
    keys_then = _keys(then, identity, domain_counts=domain_counts)
    if not keys_now:
        other = (external.notna() & ~pd.Series(ours)).to_numpy()
    else:
        other = _contradict(identity, keys_now, keys_then) & ~ours
    return present.loc[other, COLUMNS].reset_index(drop=True)


def _keys(frame: pd.DataFrame, identity: Identity, *, domain_counts: bool) -> list[np.ndarray]:
    keys = identity_keys(frame.reset_index(drop=True), identity, domain_counts=domain_counts)
    if identity is Identity.EMAIL:
        keys = [key.where(valid_email_mask(key).to_numpy(), None) for key in keys]
    return [key.to_numpy(dtype=object) for key in keys]


def _contradict(identity: Identity, now: list[np.ndarray], then: list[np.ndarray]) -> np.ndarray:
    """Per record, whether its identity now and then both exist and disagree (the rule of ``match._verdicts``:
    products by the first key both have; other objects when no key both have is shared)."""
    size = len(now[0])
    decided, contradict = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
    agree = np.zeros(size, dtype=bool)
    for key_now, key_then in zip(now, then):
        both = ~pd.isna(key_now) & ~pd.isna(key_then)
        same = both & (key_now == key_then)
        if identity is Identity.SKU_OR_NAME:
            fresh = both & ~decided
            contradict[fresh] = ~same[fresh]
            decided |= both
        else:
            contradict |= both
            agree |= same
    return contradict & ~agree
