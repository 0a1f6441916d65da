"""The state store: which HubSpot record is linked to which app record, and how each record stands."""

from datasync_pipeline.state import journal, leases, trailing  # noqa: F401  (register their tables before the store creates tables)
from datasync_pipeline.state.store import Link, StateStore

__all__ = ["Link", "StateStore"]
