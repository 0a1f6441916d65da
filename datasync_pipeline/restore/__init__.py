"""Restoring records deleted on one side (rule 10): preview, then restore all, per sync and target."""

from datasync_pipeline.restore.deleted import RestoreResult, preview_restore, restore_deleted

__all__ = ["RestoreResult", "preview_restore", "restore_deleted"]
