"""Has either side of a sync changed since its watermark? Answered without reading a single record.

The change sensor asks this every ten minutes for every enabled sync (rule 9), so it must cost next to nothing:

* HubSpot: ONE search request per (HubSpot connection, object type), however many syncs share them:
  ``last-modified > the oldest of their watermarks``, newest first, one page of ``PROBE_PAGE`` results
  with only the id and last-modified time. The answer's ``total`` counts the changes; each sync then
  judges the changes after its own watermark.
* The app: one query on the table's ``updated_at`` column (no HubSpot call): the keys and times of the
  newest rows changed after the watermark, at most a page and one.

A sync's own writes move last-modified times too. A change is one of them (an echo) when the echo
ledger (``state/echoes.py``) holds exactly its time for that record; a side counts as changed only when
some change is not an echo. Changes beyond the page are unseen, so more changes than a page always
count as a change. A real change made after our write has a later time and is never taken for an echo.

The probe must fit a sensor tick (Dagster stops an evaluation after 60 s), whatever HubSpot does: the sensor
hands it each connection's light client (``HubSpotResource.probe_client``: short timeout, one quick retry, no
long waits), a connection that did not answer (timeout, refused connection, 5xx after the retry) is not asked
again within the tick for its other object types, and no search starts once ``HUBSPOT_BUDGET_SECONDS`` are
spent. The syncs it could not check say so in words (``probe_failed``); the others are probed as usual.

A side without a watermark has never been read: the sync needs its first sync before changes can be
synced incrementally, and is reported so instead of probed. Only the sides a sync's direction reads from
are watched (a HubSpot -> app sync does not care what changed in the app).

Comparisons are strict (``>``): a watermark is the newest change a run has read, so ``>=`` would report
that same change forever. A record stamped in the watermark's very millisecond but committed or indexed
after the run read is therefore not noticed on its own; the next run's inclusive read picks it up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from datasync_pipeline.config import DatasyncConfig, Direction, SyncSpec
from datasync_pipeline.connectors.base import AppConnector
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.connectors.hubspot.errors import TransientRequestError
from datasync_pipeline.connectors.hubspot.probe_client import ProbeWouldWait
from datasync_pipeline.connectors.hubspot.search import OBJECT_ID_PROPERTY, modified_ms
from datasync_pipeline.connectors.sql import timestamps
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.objects.catalogue import OBJECT_TYPES
from datasync_pipeline.state import StateStore, echoes

PROBE_PAGE = 100  # changes read per side: enough to see past a run's own writes to the first real change
HUBSPOT = "hubspot"
APP = "app"
SIDE_LABELS = {HUBSPOT: "HubSpot", APP: "the app"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# No HubSpot search starts after this many seconds of a tick: with the light client's worst case of about 21 s per
# search (two 10 s timeouts and a short backoff), the HubSpot probes end well before Dagster's 60 s limit.
HUBSPOT_BUDGET_SECONDS = 25.0

HubSpotClientFor = Callable[[str], HubSpotClient]
AppConnectorFor = Callable[[SyncSpec], AppConnector]  # the app side of a sync (connectors/base.py)


def watched_sides(sync: SyncSpec) -> tuple[str, ...]:
    """The sides whose changes this sync carries to the other side (rule 2)."""
    if sync.direction == Direction.HUBSPOT_TO_APP:
        return (HUBSPOT,)
    if sync.direction == Direction.APP_TO_HUBSPOT:
        return (APP,)
    return (HUBSPOT, APP)


@dataclass(frozen=True)
class SideChanges:
    """What one side of a sync did since its watermark."""

    side: str
    watched: bool = True
    watermark: datetime | None = None
    changed: bool = False
    count: int | None = None  # changes since the watermark (the sync's own writes left out), where known
    newest: datetime | None = None  # the newest change after the watermark
    error: str | None = None
    own_writes: int = 0  # changes since the watermark that are the sync's own writes (echoes)

    @property
    def never_read(self) -> bool:
        return self.watched and self.watermark is None

    def describe(self) -> str:
        label = SIDE_LABELS[self.side]
        if self.error:
            return f"could not check {label} for changes: {self.error}"
        if not self.changed:
            n = self.own_writes
            own = f" ({n:,} record{'s' if n != 1 else ''} changed by this sync's own writes)" if n else ""
            return f"no change in {label} since {format_time(self.watermark)}{own}"
        if self.count is None:
            changed = f"records changed in {label}"
        else:
            changed = f"{self.count:,} record{'s' if self.count != 1 else ''} changed in {label}"
        return f"{changed} since {format_time(self.watermark)} (newest {format_time(self.newest)})"

    def to_json(self) -> dict[str, Any]:
        return {
            "watched": self.watched,
            "watermark": iso_time(self.watermark),
            "changed": self.changed,
            "count": self.count,
            "newest": iso_time(self.newest),
            "error": self.error,
            "own_writes": self.own_writes,
        }


@dataclass(frozen=True)
class ProbeResult:
    """Both sides of one sync: changed, unchanged, never read, or not checkable right now."""

    sync: str
    direction: Direction
    hubspot: SideChanges
    app: SideChanges

    @property
    def sides(self) -> tuple[SideChanges, SideChanges]:
        return (self.hubspot, self.app)

    @property
    def needs_first_sync(self) -> bool:
        return any(side.never_read for side in self.sides)

    @property
    def failed(self) -> bool:
        return any(side.error for side in self.sides)

    @property
    def changed(self) -> bool:
        """True when an incremental run has something to do."""
        return not self.needs_first_sync and not self.failed and any(side.watched and side.changed for side in self.sides)

    @property
    def status(self) -> str:
        if self.needs_first_sync:
            return "needs_first_sync"
        if self.failed:
            return "probe_failed"
        return "changed" if self.changed else "no_change"

    @property
    def message(self) -> str:
        if self.needs_first_sync:
            never = " and ".join(SIDE_LABELS[side.side] for side in self.sides if side.never_read)
            return f"{self.sync}: {never} never read: run the first sync first (`datasync first-sync`)"
        watched = [side for side in self.sides if side.watched]
        parts = [side.describe() for side in watched]
        if all(not side.changed and not side.error for side in watched) and len(watched) == 2:
            # "no change in HubSpot since X or in the app since Y"
            text = f"{parts[0]} or {parts[1].removeprefix('no change ')}"
        else:
            text = "; ".join(parts)
        unwatched = [side for side in self.sides if not side.watched]
        if unwatched:
            text += f" ({self.direction.value}: changes in {SIDE_LABELS[unwatched[0].side]} are not synced)"
        return f"{self.sync}: {text}"

    def change_marker(self) -> dict[str, Any]:
        """What this pending change is: per watched side, its watermark and newest change (for a run_key)."""
        return {
            side.side: [iso_time(side.watermark), iso_time(side.newest) if side.changed else None]
            for side in self.sides
            if side.watched
        }

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, HUBSPOT: self.hubspot.to_json(), APP: self.app.to_json()}


@dataclass(frozen=True)
class _HubSpotAnswer:
    since_ms: int
    total: int = 0
    changes: tuple[tuple[str, int], ...] = ()  # (id, last-modified ms), newest first: one page
    more: bool = False  # changes beyond the page
    error: str | None = None
    unreachable: bool = False  # the account did not answer (timeout, connection, 5xx, a wait too long): not asked again this tick


class ChangeProbe:
    """Probes syncs for changes; one sensor evaluation is one ``probe(...)`` call.

    ``hubspot_client(connection_name)`` returns that HubSpot connection's client; ``app_connector(sync)``
    opens a ``SqlConnector`` on the sync's table (closed after use). ``hubspot_calls`` counts the HubSpot
    requests this probe sent (retries included), ``hubspot_calls_by_object`` the same per
    (connection, object type).
    """

    def __init__(self, config: DatasyncConfig, store: StateStore, *, hubspot_client: HubSpotClientFor, app_connector: AppConnectorFor,
                 hubspot_budget_seconds: float = HUBSPOT_BUDGET_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.store = store
        self._hubspot_client = hubspot_client
        self._app_connector = app_connector
        self._hubspot_budget_seconds = hubspot_budget_seconds
        self._clock = clock
        self.hubspot_calls_by_object: dict[tuple[str, str], int] = {}

    @property
    def hubspot_calls(self) -> int:
        return sum(self.hubspot_calls_by_object.values())

    def probe(self, syncs: Iterable[SyncSpec]) -> dict[str, ProbeResult]:
        syncs = list(syncs)
        marks = {sync.name: self.store.watermarks(sync.name) for sync in syncs}
        ready = {sync.name for sync in syncs if all(side in marks[sync.name] for side in watched_sides(sync))}
        answers = self._probe_hubspot([sync for sync in syncs if sync.name in ready and HUBSPOT in watched_sides(sync)], marks)
        results = {}
        for sync in syncs:
            watched = watched_sides(sync)
            sync_marks = marks[sync.name]
            if sync.name not in ready:
                hubspot = SideChanges(HUBSPOT, HUBSPOT in watched, sync_marks.get(HUBSPOT))
                app = SideChanges(APP, APP in watched, sync_marks.get(APP))
            else:
                hubspot = self._hubspot_side(sync, sync_marks, answers) if HUBSPOT in watched else SideChanges(HUBSPOT, False, sync_marks.get(HUBSPOT))
                app = self._app_side(sync, sync_marks[APP]) if APP in watched else SideChanges(APP, False, sync_marks.get(APP))
            results[sync.name] = ProbeResult(sync.name, sync.direction, hubspot, app)
        return results

    # HubSpot: one search per (connection, object type)

    def _probe_hubspot(self, syncs: list[SyncSpec], marks: Mapping[str, Mapping[str, datetime]]) -> dict[tuple[str, str], _HubSpotAnswer]:
        oldest: dict[tuple[str, str], int] = {}
        for sync in syncs:
            key = (self.config.hubspot_connection_name(sync), sync.object)
            since = epoch_ms(marks[sync.name][HUBSPOT])
            oldest[key] = min(oldest.get(key, since), since)
        started = self._clock()
        down: dict[str, str] = {}  # connection -> why it did not answer this tick
        answers = {}
        for (connection, object_type), since_ms in oldest.items():
            if connection in down:
                answers[(connection, object_type)] = _HubSpotAnswer(since_ms, error=down[connection])
            elif self._clock() - started > self._hubspot_budget_seconds:
                answers[(connection, object_type)] = _HubSpotAnswer(since_ms, error=(
                    f"not checked this tick: slower HubSpot answers used the probe's {self._hubspot_budget_seconds:g} s; "
                    "checked again next tick"))
            else:
                answer = answers[(connection, object_type)] = self._newest_change(connection, object_type, since_ms)
                if answer.unreachable:
                    down[connection] = answer.error
        return answers

    def _newest_change(self, connection: str, object_type: str, since_ms: int) -> _HubSpotAnswer:
        modified = OBJECT_TYPES[object_type].last_modified_property
        body = {
            "filterGroups": [{"filters": [{"propertyName": modified, "operator": "GT", "value": str(since_ms)}]}],
            "sorts": [{"propertyName": modified, "direction": "DESCENDING"}],
            "properties": [OBJECT_ID_PROPERTY, modified],
            "limit": PROBE_PAGE,
        }
        client = None
        before = 0
        try:
            client = self._hubspot_client(connection)
            before = sum(client.call_counts.values())
            answer = client.search(object_type, body)
        except (TransientRequestError, ProbeWouldWait) as error:
            return _HubSpotAnswer(since_ms, error=f"HubSpot did not answer ({describe_error(error)}); checked again next tick",
                                  unreachable=True)
        except Exception as error:  # noqa: BLE001 - one unreachable account must not hide the other syncs
            return _HubSpotAnswer(since_ms, error=describe_error(error))
        finally:
            if client is not None:
                self.hubspot_calls_by_object[(connection, object_type)] = sum(client.call_counts.values()) - before
        results = answer.get("results") or []
        changes = sorted(((str(r["id"]), modified_ms(r, modified)) for r in results), key=lambda change: change[1], reverse=True)
        total = max(int(answer.get("total") or 0), len(results))
        more = total > len(results) or bool(((answer.get("paging") or {}).get("next") or {}).get("after"))
        return _HubSpotAnswer(since_ms, total=total, changes=tuple(changes), more=more)

    def _hubspot_side(self, sync: SyncSpec, marks: Mapping[str, datetime], answers: Mapping[tuple[str, str], _HubSpotAnswer]) -> SideChanges:
        watermark = marks[HUBSPOT]
        answer = answers[(self.config.hubspot_connection_name(sync), sync.object)]
        if answer.error:
            return SideChanges(HUBSPOT, True, watermark, error=answer.error)
        own_ms = epoch_ms(watermark)
        mine = [(record_id, from_epoch_ms(ms)) for record_id, ms in answer.changes if ms > own_ms]
        # The page holds every change after this sync's watermark when it holds all the search found, or
        # reaches back to the watermark (the search starts at the oldest watermark of the syncs sharing it).
        complete = not answer.more or len(mine) < len(answer.changes)
        # The total counts from the oldest watermark of the syncs sharing the search: exact only for that one.
        total = answer.total if own_ms == answer.since_ms else None
        return self._judged(sync, HUBSPOT, watermark, mine, complete=complete, total=total)

    def _judged(self, sync: SyncSpec, side: str, watermark: datetime, changes: list[tuple[str, datetime]], *,
                complete: bool, total: int | None) -> SideChanges:
        """Changed unless every change after the watermark is the sync's own write (and all of them were seen)."""
        if not changes:
            return SideChanges(side, True, watermark, changed=False, count=0)
        own = echoes.echoes_among(self.store, sync.name, side, dict(changes))
        others = [change for change in changes if change[0] not in own]
        if complete and not others:
            return SideChanges(side, True, watermark, changed=False, count=0, own_writes=len(own))
        if complete:
            return SideChanges(side, True, watermark, changed=True, count=len(others), newest=others[0][1], own_writes=len(own))
        return SideChanges(side, True, watermark, changed=True, count=total, newest=changes[0][1])

    # The app: its connector's cheap probe (one query on updated_at for SQL)

    def _app_side(self, sync: SyncSpec, watermark: datetime) -> SideChanges:
        if sync.table is not None and not sync.table.updated_at:
            return SideChanges(APP, True, watermark, error=f"table {sync.table.name!r} has no updated_at column configured")
        try:
            changes, complete = self._app_connector(sync).newest_changes(watermark, limit=PROBE_PAGE)
        except Exception as error:  # noqa: BLE001 - one unreachable database must not hide the other syncs
            return SideChanges(APP, True, watermark, error=describe_error(error))
        return self._judged(sync, APP, watermark, changes, complete=complete, total=None)


def epoch_ms(value: datetime) -> int:
    """Whole epoch milliseconds, floored (exact integer arithmetic, no float rounding)."""
    return (timestamps.as_utc(value) - EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)


def format_time(value: datetime | None) -> str:
    return "never" if value is None else timestamps.as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(value: datetime | None) -> str | None:
    return None if value is None else timestamps.as_utc(value).isoformat(timespec="microseconds")


def describe_error(error: Exception) -> str:
    """A one-line, secret-free description (the connectors scrub tokens and mask URLs in their errors)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if isinstance(error, DatasyncError) and text else f"{type(error).__name__}: {text}".rstrip(": ")
