"""One run per sync at a time, whatever launched it: a lease per sync with a fencing token.

Dagster's run queue keeps two runs tagged with the same sync apart (``dagster.yaml``), but a run launched
outside the queue (the command line, "Materialize" in the UI, a second machine) must be kept apart too.
So a run takes, before it reads anything, the lease of every sync it writes, in the state store:

* a lease is held by one run until it expires (``DATASYNC_LEASE_SECONDS``, 300 s by default); the run
  renews it while it works (a heartbeat thread), so only a dead or frozen run lets it expire: a killed
  run blocks nobody for longer than that;
* every grant increments the sync's fencing token; before each write the run checks that the lease
  still carries its token (``Lease.check``), so a run whose lease expired and was taken over can no
  longer write, even if it wakes up again;
* deleting a sync deletes its lease row: a run still working finds its lease gone and stops before
  writing state for a sync that no longer exists.

A dry run writes nothing, so it takes no lease.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.settings import current as current_settings
from datasync_pipeline.state.tables import metadata

leases = sa.Table(
    "datasync_leases",
    metadata,
    sa.Column("sync", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=True),  # None: released
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


def lease_seconds() -> int:
    """How long a run that stopped renewing holds its syncs (``DATASYNC_LEASE_SECONDS``, ``settings.py``)."""
    return current_settings().lease_seconds


class SyncBusy(DatasyncError):
    """Another live run holds the sync's lease."""


class LeaseLost(DatasyncError):
    """This run's lease expired and was taken over, or its sync was deleted: it must not write."""


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a sync's lease, as the sensor and `sync delete` report it."""

    sync: str
    run_id: str
    expires_at: datetime

    def alive(self, now: datetime | None = None) -> bool:
        return self.expires_at > (now or datetime.now(UTC))


def holder(engine: sa.Engine, sync: str) -> LeaseHolder | None:
    """The run holding the sync's lease (alive or expired), or None when nobody holds it."""
    with engine.connect() as connection:
        row = connection.execute(sa.select(leases.c.run_id, leases.c.expires_at).where(leases.c.sync == sync)).first()
    if row is None or row.run_id is None:
        return None
    return LeaseHolder(sync, row.run_id, _utc(row.expires_at))


class Lease:
    """The leases one run holds, renewed by a heartbeat thread until released."""

    def __init__(self, engine: sa.Engine, run_id: str, tokens: dict[str, int], seconds: int) -> None:
        self.engine, self.run_id, self.tokens, self.seconds = engine, run_id, tokens, seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def acquire(cls, engine: sa.Engine, syncs: Iterable[str], run_id: str, *, seconds: int | None = None) -> Lease:
        """Take the lease of every sync or none of them; ``SyncBusy`` names the run holding one."""
        seconds = seconds or lease_seconds()
        tokens: dict[str, int] = {}
        now = datetime.now(UTC)
        with engine.begin() as connection:
            for sync in sorted(set(syncs)):
                row = connection.execute(
                    sa.select(leases.c.run_id, leases.c.token, leases.c.expires_at).where(leases.c.sync == sync)
                ).first()
                if row is not None and row.run_id not in (None, run_id) and _utc(row.expires_at) > now:
                    raise SyncBusy(
                        f"sync {sync!r} is being run by run {row.run_id} (its lease runs until "
                        f"{_utc(row.expires_at):%Y-%m-%d %H:%M:%S} UTC): wait for it to finish, or cancel it"
                    )
                token = (row.token if row is not None else 0) + 1
                values = {"run_id": run_id, "token": token, "acquired_at": now, "expires_at": now + timedelta(seconds=seconds)}
                if row is None:
                    connection.execute(sa.insert(leases).values(sync=sync, **values))
                else:
                    # Compare-and-set on the token read above: of two runs racing for an expired lease, one wins.
                    updated = connection.execute(
                        leases.update().where(leases.c.sync == sync, leases.c.token == row.token).values(**values)
                    ).rowcount
                    if updated != 1:
                        raise SyncBusy(f"sync {sync!r} was just taken by another run: wait for it to finish")
                tokens[sync] = token
        return cls(engine, run_id, tokens, seconds)

    def check(self, sync: str) -> None:
        """Raise ``LeaseLost`` unless this run still holds the sync's lease (call before every write)."""
        token = self.tokens.get(sync)
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(leases.c.run_id, leases.c.token).where(leases.c.sync == sync)).first()
        if row is None:
            raise LeaseLost(f"sync {sync!r} was deleted while run {self.run_id} was running: nothing more is written")
        if token is None or row.token != token or row.run_id != self.run_id:
            raise LeaseLost(f"run {self.run_id} lost the lease of sync {sync!r} (it expired and run {row.run_id} took it): "
                            "nothing more is written; that run carries on")

    def renew(self) -> None:
        expires = datetime.now(UTC) + timedelta(seconds=self.seconds)
        with self.engine.begin() as connection:
            for sync, token in self.tokens.items():
                connection.execute(leases.update().where(leases.c.sync == sync, leases.c.token == token).values(expires_at=expires))

    def start_heartbeat(self) -> None:
        """Renew every third of the lease time from a daemon thread, so only a dead run lets it expire."""
        def beat() -> None:
            while not self._stop.wait(self.seconds / 3):
                try:
                    self.renew()
                except sa.exc.SQLAlchemyError:
                    pass  # the next beat tries again; a lease that expires meanwhile is caught by check()

        self._thread = threading.Thread(target=beat, name=f"datasync-lease-{self.run_id[:8]}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.engine.begin() as connection:
            for sync, token in self.tokens.items():
                connection.execute(leases.update().where(leases.c.sync == sync, leases.c.token == token).values(run_id=None))
