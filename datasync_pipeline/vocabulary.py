"""The words every layer shares: sides, directions, run modes and reasons, run tags, outcome recorders.

A leaf module (it imports nothing of datasync), so the config, the catalogue, the engine, the steps, the
state store and the Dagster wiring may all import it without a cycle. The enums are ``StrEnum`` where their
values are stored or compared as text (state-store columns, run tags): ``Side.APP == "app"``.
"""

from __future__ import annotations

from enum import Enum, StrEnum


class Side(StrEnum):
    """The two sides of a sync: the HubSpot account, and the app on the other side (a table, another portal)."""

    HUBSPOT = "hubspot"
    APP = "app"

    @property
    def other(self) -> Side:
        return Side.APP if self is Side.HUBSPOT else Side.HUBSPOT

    @property
    def id_column(self) -> str:
        """The column of a pair (state store, plan) holding this side's record id."""
        return f"{self.value}_id"


class Direction(StrEnum):
    """Which way a sync writes (rule 3)."""

    TWO_WAY = "two_way"
    APP_TO_HUBSPOT = "app_to_hubspot"
    HUBSPOT_TO_APP = "hubspot_to_app"


class RunMode(Enum):
    """How a run reads: ``first`` compares both sides in full (rule 6); ``incremental`` reads what changed.

    A plain ``Enum`` (not text): Dagster's Launchpad shows its members as the choices of the run config.
    """

    first = "first"
    incremental = "incremental"


class ChangeCapture(StrEnum):
    """How a SQL app side finds its changes (``table.changes``): by the ``updated_at`` high-water mark (any
    database), or by a trigger-kept change log (Postgres, ``connectors/sql/change_log.py``)."""

    UPDATED_AT = "updated_at"
    TRIGGER = "trigger"


class RunReason(StrEnum):
    """Why an incremental run was launched (the ``datasync/reason`` tag)."""

    CHANGE = "change"  # the sensor's probe saw a change
    RETRY = "retry"  # failed records are due for another try
    RECONCILE = "reconcile"  # the periodic run that checks every link
    TRAILING = "trailing"  # a trailing pass is due: re-read a window behind the watermarks for late changes


class Recorder(StrEnum):
    """Which step recorded a record's outcome in the state store; each clears only its own."""

    HUBSPOT_LOAD = "hubspot"
    APP_LOAD = "app"
    CHECKPOINT = "checkpoint"
    VALIDATION = "validation"
    ASSOCIATIONS = "associations"

    @classmethod
    def load_of(cls, side: Side) -> Recorder:
        return cls.HUBSPOT_LOAD if side is Side.HUBSPOT else cls.APP_LOAD


# Run tags: what every sync run is labelled with, however it was launched.
SYNC_TAG = "datasync/sync"
MODE_TAG = "datasync/mode"
DRY_RUN_TAG = "datasync/dry_run"
REASON_TAG = "datasync/reason"
JOURNAL_TAG = "datasync/journal"  # what the webhooks journal gave the run to do (``state/journal.py``)
FAILED_RECORDS_TAG = "datasync/failed_records"  # + "/<sync>": how many records the run left failing
