"""Dagster resources: the state store and the run's switches; each connection's resource lives in its connector's
package (``connectors/<kind>/resource.py``, found through ``connectors/registry.py``).

Each resource is a thin `dg.ConfigurableResource` around a plain class; secrets arrive as ``dg.EnvVar`` when the
resource is built (``definitions.py``), never read at import time, and clients and engines are created in
``setup_for_execution`` so one run shares one HTTP pool, one rate limiter and one connection pool.
"""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from datasync_pipeline.config.secrets import resource_value
from datasync_pipeline.connectors.hubspot.resource import EMBEDDED_SANDBOX_URL, HubSpotResource
from datasync_pipeline.connectors.sql.resource import SqlAppResource
from datasync_pipeline.state import StateStore
from datasync_pipeline.state.leases import Lease, LeaseLost, SyncBusy
from datasync_pipeline.vocabulary import DRY_RUN_TAG, MODE_TAG, SYNC_TAG, RunMode


class StateStoreResource(dg.ConfigurableResource):
    """The state store; one engine (and one schema check) per run, whatever number of steps use it."""

    url: str

    _store: StateStore | None = PrivateAttr(default=None)

    def store(self) -> StateStore:
        if self._store is None:
            self._store = StateStore(self.url)
        return self._store

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.engine.dispose()


class SyncRunResource(dg.ConfigurableResource):
    """The run-level switches of every sync run, one small form in the Launchpad: mode and dry run.

    Every step of every sync reads them from here, so a dry run is one switch for the whole run (no
    step can write while another previews). When the run starts, this resource tags it with its syncs,
    mode and dry-run flag (however it was launched: a job, "Materialize" on the graph, the command
    line or the sensor), and, unless it is a dry run, takes the lease of each of its syncs in the state
    store (``state/leases.py``): a second run of a sync is refused before it reads anything.
    """

    mode: RunMode = RunMode.first
    dry_run: bool = False
    state: StateStoreResource

    _lease: Lease | None = PrivateAttr(default=None)
    _syncs: tuple[str, ...] = PrivateAttr(default=())

    @property
    def incremental(self) -> bool:
        return self.mode is RunMode.incremental

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        if run is None:  # built outside a run (tests that call a step directly)
            return
        self._syncs = syncs_of_run(run, context.instance)
        if context.instance is not None:
            context.instance.add_run_tags(run.run_id, {
                SYNC_TAG: ",".join(self._syncs), MODE_TAG: self.mode.value, DRY_RUN_TAG: str(self.dry_run).lower(),
            })
        if not self.dry_run and self._syncs:
            try:
                self._lease = Lease.acquire(self.state.store().engine, self._syncs, run.run_id)
            except SyncBusy as busy:
                raise dg.Failure(str(busy), allow_retries=False) from None
            self._lease.start_heartbeat()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def check_lease(self, sync: str) -> None:
        """Before a write: stop unless this run still holds the sync's lease (a dry run writes nothing)."""
        if self.dry_run:
            raise dg.DagsterInvariantViolationError(f"a dry run of {sync!r} reached a write: nothing may be written")
        if self._lease is None:
            return  # outside a run: the caller owns the sync
        try:
            self._lease.check(sync)
        except LeaseLost as lost:
            raise dg.Failure(str(lost), allow_retries=False) from None


def syncs_of_run(run: dg.DagsterRun, instance: dg.DagsterInstance | None) -> tuple[str, ...]:
    """The syncs a run works on: those of the steps it executes (step keys are ``<sync>__<step>``).

    From the run's execution plan, which holds whatever way the run was launched; else from its asset
    selection (asset keys are ``<sync>/<step>``), else from its tag.
    """
    if instance is not None and run.execution_plan_snapshot_id:
        steps = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id).step_keys_to_execute
        return tuple(sorted({step.split("__")[0] for step in steps if "__" in step}))
    if run.asset_selection:
        return tuple(sorted({key.path[0] for key in run.asset_selection if len(key.path) > 1}))
    tagged = run.tags.get(SYNC_TAG, "")
    return tuple(sorted(name for name in tagged.split(",") if name))


def connection_resource_key(connection_name: str) -> str:
    return f"connection_{connection_name}"


STATE_STORE_KEY = "state_store"
SYNC_RUN_KEY = "datasync_run"


__all__ = ["EMBEDDED_SANDBOX_URL", "HubSpotResource", "SqlAppResource", "StateStoreResource", "SyncRunResource", "resource_value"]
