"""A rolling-window rate limiter that runs at HubSpot's limit, with one budget per account on this machine.

HubSpot counts requests in a rolling window (ten seconds for the CRM endpoints, one second for search)
and says where an account stands on every CRM answer: ``X-HubSpot-RateLimit-Max`` requests per
``X-HubSpot-RateLimit-Interval-Milliseconds``, of which ``X-HubSpot-RateLimit-Remaining`` are left
(``-Daily`` and ``-Daily-Remaining`` for the day; none of them on search). The limiter:

- grants a request when fewer than the budget's requests were granted in the last window, so a long run
  goes at the budget itself rather than a fixed fraction of it; each grant is held a little longer than
  the window (`GUARD_FRACTION`, 2%) because the server starts its clock when the request arrives, not
  when we send it, and arrivals jitter;
- learns the budget from the headers (the tier is only the guess before the first answer), and counts the
  requests the server saw that it did not grant (another app on the account) from ``Remaining``, so they
  hold the window too;
- after a 429 waits only until the window frees: ``Retry-After`` when sent, else until the oldest request
  in the window ages out (requests it never saw are assumed spread over the window), instead of a whole
  window.

**One budget per account on this machine.** Two runs of two syncs on one account, in separate processes,
must share HubSpot's window, so the window log lives in a SQLite file (`SharedWindowLog`) that every
process opens, one row per grant, keyed by a hash of base URL and token (the token itself is never
written). SQLite because it needs no server, takes a cross-process write lock per transaction
(``BEGIN IMMEDIATE``) that the OS releases if a process dies holding it, works the same on Linux, macOS
and Windows, and ships with Python; a lock file plus a hand-written log would re-implement that. The file
sits in the system temp directory (per user; `DATASYNC_RATE_LIMIT_DIR` moves it) rather than under a
project's ``DATASYNC_HOME``, so two projects on one account still share it. Its timestamps are
``time.monotonic()``, which on Linux, macOS and Windows is one system-wide clock, so processes agree on
them; rows from before a reboot look like the future and are dropped.

The clock is injected so tests advance time by hand instead of sleeping; a limiter on an injected clock
keeps its log in memory (`MemoryWindowLog`), since other processes do not share that clock.
"""

from __future__ import annotations

import bisect
import contextlib
import getpass
import hashlib
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple, Protocol

from datasync_pipeline.connectors.hubspot.tiers import RequestBudget
from datasync_pipeline.settings import current as current_settings

GUARD_FRACTION = 0.02
STALE_AFTER_SECONDS = 3600.0


class Clock(Protocol):
    """Where the limiter and the retry policy read the time and wait."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: system-wide, so processes sharing a window log agree on it."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Grant(NamedTuple):
    """One request counted in the window: granted here (by any process) or seen only by the server."""

    at: float
    foreign: bool = False


class Window(Protocol):
    """The window log inside one transaction: nobody else reads or writes it until the transaction ends."""

    def grants(self) -> list[Grant]: ...

    def add(self, grants: list[Grant]) -> None: ...

    def forget_outside(self, start: float, end: float) -> None: ...

    def paused_until(self) -> float: ...

    def pause_until(self, until: float) -> None: ...


class WindowLog(Protocol):
    def transaction(self) -> contextlib.AbstractContextManager[Window]: ...


class MemoryWindowLog:
    """The window of one process: enough when nothing else uses the account from this machine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: list[Grant] = []
        self._paused_until = float("-inf")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Window]:
        with self._lock:
            yield self

    def grants(self) -> list[Grant]:
        return list(self._grants)

    def add(self, grants: list[Grant]) -> None:
        for grant in grants:
            bisect.insort(self._grants, grant)

    def forget_outside(self, start: float, end: float) -> None:
        self._grants = [grant for grant in self._grants if start < grant.at <= end]

    def paused_until(self) -> float:
        return self._paused_until

    def pause_until(self, until: float) -> None:
        self._paused_until = max(self._paused_until, until)


class SharedWindowLog:
    """The window of one budget in a SQLite file every process on this machine opens (see the module doc)."""

    def __init__(self, path: Path, budget_key: str, *, clock: Clock | None = None) -> None:
        self.path = path
        self.budget_key = budget_key
        self.clock = clock or MonotonicClock()  # the same clock as the limiters writing it
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Window]:
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteWindow(connection, self.budget_key)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        # Losing the last grants in a crash costs at worst one 429; waiting on fsync would cost every request.
        # (The rollback journal, not WAL: switching to WAL is the one step SQLite will not wait its turn for.)
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("CREATE TABLE IF NOT EXISTS grants (budget TEXT NOT NULL, at REAL NOT NULL, is_foreign INTEGER NOT NULL)")
        connection.execute("CREATE INDEX IF NOT EXISTS grants_by_budget ON grants (budget, at)")
        connection.execute("CREATE TABLE IF NOT EXISTS pauses (budget TEXT PRIMARY KEY, until REAL NOT NULL)")
        # Accounts not used for an hour, or rows from before a reboot, hold nothing any more.
        now = self.clock.now()
        connection.execute("DELETE FROM grants WHERE at <= ? OR at > ?", (now - STALE_AFTER_SECONDS, now + STALE_AFTER_SECONDS))
        connection.execute("DELETE FROM pauses WHERE until <= ? OR until > ?", (now, now + STALE_AFTER_SECONDS))
        connection.execute("COMMIT")
        self._connection, self._pid = connection, os.getpid()
        return connection


class _SqliteWindow:
    def __init__(self, connection: sqlite3.Connection, budget_key: str) -> None:
        self._connection = connection
        self._key = budget_key

    def grants(self) -> list[Grant]:
        rows = self._connection.execute("SELECT at, is_foreign FROM grants WHERE budget = ? ORDER BY at", (self._key,))
        return [Grant(at, bool(foreign)) for at, foreign in rows]

    def add(self, grants: list[Grant]) -> None:
        self._connection.executemany(
            "INSERT INTO grants (budget, at, is_foreign) VALUES (?, ?, ?)",
            [(self._key, grant.at, int(grant.foreign)) for grant in grants],
        )

    def forget_outside(self, start: float, end: float) -> None:
        self._connection.execute("DELETE FROM grants WHERE budget = ? AND (at <= ? OR at > ?)", (self._key, start, end))

    def paused_until(self) -> float:
        row = self._connection.execute("SELECT until FROM pauses WHERE budget = ?", (self._key,)).fetchone()
        return row[0] if row else float("-inf")

    def pause_until(self, until: float) -> None:
        self._connection.execute(
            "INSERT INTO pauses (budget, until) VALUES (?, ?) ON CONFLICT (budget) DO UPDATE SET until = max(until, excluded.until)",
            (self._key, until),
        )


def shared_budget_path() -> Path:
    """The SQLite file holding every account's window on this machine, for this OS user."""
    directory = current_settings().rate_limit_dir
    if not directory:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # a container user with no name
            user = str(os.getuid()) if hasattr(os, "getuid") else "user"
        directory = Path(tempfile.gettempdir()) / f"datasync-rate-limits-{user}"
    return Path(directory) / "windows.sqlite"


def budget_key(base_url: str, token: str, endpoint_group: str) -> str:
    """Who shares a window: one account (base URL and token, hashed) and one endpoint group (crm, search)."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{token}".encode()).hexdigest()[:32]
    return f"{digest}:{endpoint_group}"


class RollingWindowLimiter:
    """At most `limit` grants in any window, shared with everyone writing the same `window_log`.

    `limit` and `window_seconds` start from the tier's budget and follow the server's headers; `margin`
    scales the server's maximum (1.0: the whole budget). `requests=None` grants at once, but still
    honours pauses the server asks for.
    """

    def __init__(
        self,
        budget: RequestBudget,
        *,
        clock: Clock | None = None,
        window_log: WindowLog | None = None,
        margin: float = 1.0,
        guard_fraction: float = GUARD_FRACTION,
    ) -> None:
        self.clock = clock or MonotonicClock()
        self.log: WindowLog = window_log or MemoryWindowLog()
        self.margin = margin
        self.guard_fraction = guard_fraction
        self.limit = _scaled(budget.requests, margin)
        self.window_seconds = budget.window_seconds
        self.daily_remaining: int | None = None

    @property
    def hold_seconds(self) -> float:
        """How long a grant counts against the window: the window plus the guard for arrival jitter."""
        return self.window_seconds * (1.0 + self.guard_fraction)

    def acquire(self) -> float:
        """Wait until a request may be sent and record it; returns the seconds waited."""
        waited = 0.0
        while True:
            with self.log.transaction() as window:
                now = self.clock.now()
                wait = self._wait_needed(window, now)
                if wait <= 0:
                    if self.limit is not None:
                        window.add([Grant(now)])
                    return waited
            self.clock.sleep(wait)
            waited += wait

    def observe(self, headers: Mapping[str, str], *, sent_at: float) -> None:
        """Follow HubSpot's ``X-HubSpot-RateLimit-*`` headers from the answer to a request sent at `sent_at`.

        ``Max`` and ``Interval-Milliseconds`` replace the tier's guess. ``Max - Remaining`` is what the
        server counts in its window; whatever of it this machine did not grant is another client of the
        account, and is recorded so it holds the window as long as ours do. Only the excess over every
        grant that could have been in the server's window counts, so in-flight requests are never mistaken
        for foreign ones.
        """
        maximum = _int_header(headers, "x-hubspot-ratelimit-max")
        interval_ms = _int_header(headers, "x-hubspot-ratelimit-interval-milliseconds")
        remaining = _int_header(headers, "x-hubspot-ratelimit-remaining")
        daily_remaining = _int_header(headers, "x-hubspot-ratelimit-daily-remaining")
        if daily_remaining is not None:
            self.daily_remaining = daily_remaining
        if maximum:
            self.limit = _scaled(maximum, self.margin)
        if interval_ms:
            self.window_seconds = interval_ms / 1000.0
        if maximum is None or remaining is None:
            return
        server_counted = maximum - remaining
        with self.log.transaction() as window:
            now = self.clock.now()
            grants = window.grants()
            ours = sum(1 for grant in grants if not grant.foreign and sent_at - self.hold_seconds < grant.at <= now)
            foreign = sum(1 for grant in grants if grant.foreign and grant.at > now - self.hold_seconds)
            unseen = server_counted - ours - foreign
            if unseen > 0:
                window.add([Grant(sent_at, foreign=True)] * unseen)

    def refused(self, *, retry_after: float | None) -> float:
        """The server answered 429: hold every caller until its window frees; returns how long that is.

        ``Retry-After`` is taken as given. Otherwise the server's window is full: if this machine's grants
        fill it, it frees when the oldest ages out; requests we never saw are assumed spread evenly over
        the window (the midpoint of each slot), which is HubSpot's rolling window under steady traffic.
        Only with no budget known at all (no headers, unlimited tier) is a whole window waited out.
        """
        with self.log.transaction() as window:
            now = self.clock.now()
            if retry_after is not None or self.limit is None:
                wait = retry_after if retry_after is not None else self.window_seconds
                window.pause_until(now + wait)
                return wait
            window.forget_outside(now - self.hold_seconds, now + self.hold_seconds)
            unseen = self.limit - len(window.grants())
            if unseen > 0:
                slot = self.window_seconds / unseen
                window.add([Grant(now - self.window_seconds + (index + 0.5) * slot, foreign=True) for index in range(unseen)])
            return max(0.0, self._wait_needed(window, now))

    def _wait_needed(self, window: Window, now: float) -> float:
        paused = window.paused_until() - now
        if paused > 0:
            return paused
        if self.limit is None:
            return 0.0
        window.forget_outside(now - self.hold_seconds, now + self.hold_seconds)
        grants = window.grants()
        if len(grants) < self.limit:
            return 0.0
        # Enough grants must age out to leave one slot: the (len - limit)-th oldest is the last of them.
        return grants[len(grants) - self.limit].at + self.hold_seconds - now


def _scaled(requests: int | None, margin: float) -> int | None:
    return None if requests is None else max(1, int(requests * margin))


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
