"""What every step of one sync's run works with: the plain-Python side of the asset factory.

The Dagster assets (``defs/assets/sync_chain.py``) only wire: each builds a ``Step`` from its context (the sync,
its mappings, the state store, both sides' connectors, the run's mode and switches, the settings) and makes one
call into this package (``extract``, ``match``, ``plan``, ``load``, ``checkpoint``). What a call returns is
complete, with its metadata as plain values (``Markdown`` for text to render); nothing in Dagster changes it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.connectors.base import AppConnector
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.settings import Settings
from datasync_pipeline.state import StateStore, journal, trailing
from datasync_pipeline.vocabulary import RunMode, RunReason, Side


class NoWatermarkYet(DatasyncError):
    """An incremental run of a sync whose first sync has not run: there is nothing to read changes since."""


@dataclass(frozen=True)
class Markdown:
    """Metadata text to render as Markdown (a plan preview)."""

    text: str


@dataclass
class Step:
    """One step of one sync's run, as plain code sees it."""

    sync: SyncSpec
    mappings: list[ResolvedMapping]  # typed by the HubSpot property definitions where a mapping needs it
    store: StateStore
    client: Any  # the sync's HubSpot account (``HubSpotClient``): reads and the change searches
    app: Callable[[], AppConnector]  # the app side, opened on first use (once per run by its resource)
    hubspot: Callable[[], AppConnector]  # the HubSpot side as a writer (``HubSpotSide.primary``)
    mode: RunMode
    dry_run: bool
    run_id: str
    started: datetime  # when the run started: what the watermarks advance to, less the read overlap
    settings: Settings
    log: logging.Logger | Any
    reason: RunReason | None = None
    journal: bool = False  # the sync's HubSpot account is read through its webhooks journal (``sync/journal_feed.py``)
    check_lease: Callable[[str], None] = field(default=lambda sync_name: None)

    @property
    def incremental(self) -> bool:
        return self.mode is RunMode.incremental

    @property
    def checks_every_link(self) -> bool:
        """A reconciling run checks every link for deletions and re-reads every association."""
        return self.incremental and self.reason == RunReason.RECONCILE

    def journal_targets(self) -> journal.Pending:
        """What the webhooks journal found for this sync before the run started, not yet done by a run (the same answer
        in every step of the run)."""
        return journal.pending(self.store.engine, self.sync.name, recorded_before=self.started)

    def rereads_every_association(self, targets: journal.Pending) -> bool:
        """Whether the associations step re-reads every association: a reconciling run does, unless the journal vouches
        for every association change since the last full read; a full reconcile the journal says is owed does too."""
        return self.incremental and (targets.full or (self.checks_every_link and not self.journal))

    def writer(self, side: Side) -> AppConnector:
        return self.hubspot() if side is Side.HUBSPOT else self.app()

    def watermark(self, side: Side) -> datetime:
        marks = self.store.watermarks(self.sync.name)
        if side.value not in marks:
            raise NoWatermarkYet(f"sync {self.sync.name!r} has no {side.value} watermark yet: run the first sync (job first_sync) "
                                 "before incremental runs")
        return marks[side.value]

    def trailing_from(self) -> datetime | None:
        """Where this run's trailing pass reads from (``state/trailing.py``), or None: no pass due, or an incremental
        run's passes are off (a window of 0). The same answer in every step of the run (it asks as of the run's start)."""
        window = self.settings.trailing_window
        if not self.incremental or window <= timedelta(0):
            return None
        return trailing.trailing_read_from(self.store.engine, self.sync.name, now=self.started, window=window,
                                           every=timedelta(seconds=self.settings.trailing_every_seconds))

    def overlap(self, side: Side) -> timedelta:
        """How far before its watermark a change read of ``side`` starts (search indexes late; commits land late)."""
        return self.settings.hubspot_overlap if side is Side.HUBSPOT else self.settings.app_overlap

    def read_from(self, side: Side) -> tuple[datetime, datetime]:
        """(where this run's change read of ``side`` starts, where a fast read would have started): the watermark less
        the overlap, or earlier when a trailing pass is due. Records modified before the second are late candidates."""
        fast = self.watermark(side) - self.overlap(side)
        trailing_from = self.trailing_from()
        return (min(fast, trailing_from) if trailing_from is not None else fast), fast

    def before_writing(self) -> None:
        """Stop unless this run still holds the sync's lease; a dry run must never get here."""
        self.check_lease(self.sync.name)


class ApiCalls:
    """The HubSpot calls one step made, by endpoint, from the client's running counts."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.before = Counter(client.call_counts)

    def metadata(self) -> dict[str, Any]:
        made = Counter(self.client.call_counts)
        made.subtract(self.before)
        by_endpoint = {endpoint: n for endpoint, n in made.items() if n > 0}
        return {"datasync/api_calls": sum(by_endpoint.values()), "datasync/api_calls_by_endpoint": by_endpoint}


def prefixed(counts: dict[str, int]) -> dict[str, int]:
    return {f"datasync/{name}": int(value) for name, value in counts.items()}
