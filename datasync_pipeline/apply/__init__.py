"""Applying a merge plan: writing to each side through its connector and recording the outcome.

Plain Python (no Dagster): the load assets call these. Each load owns the records flowing into its
side: their creates and updates, their failures, and the exclusions of the records that would have
come to it, so the two loads never write the same state rows. The associations step runs after both
loads of a sync and of its partner syncs, and records its failures under its own name.
"""

from datasync_pipeline.apply.app import load_app
from datasync_pipeline.apply.associations import AssociationOutcome, AssociationTarget, load_associations
from datasync_pipeline.apply.hubspot import load_hubspot
from datasync_pipeline.apply.outcome import LoadOutcome

__all__ = ["AssociationOutcome", "AssociationTarget", "LoadOutcome", "load_app", "load_associations", "load_hubspot"]
