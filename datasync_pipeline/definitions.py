"""The Dagster code location: every enabled sync of ``datasync.yaml`` as a chain of assets, plus its associations.

The file comes from ``$DATASYNC_CONFIG`` (or ``./datasync.yaml``, else the embedded demo default).
Only its structure is read here; secrets stay ``dg.EnvVar`` until a run needs them.
"""

from __future__ import annotations

import dagster as dg

from datasync_pipeline.config import DatasyncConfig, load_config
from datasync_pipeline.connectors.registry import resource_for
from datasync_pipeline.defs.assets.associations import build_association_assets
from datasync_pipeline.defs.assets.sync_chain import build_sync_assets
from datasync_pipeline.defs.checks import build_health_checks
from datasync_pipeline.defs.jobs import first_sync_job, first_sync_job_of, incremental_sync_job
from datasync_pipeline.defs.resources import STATE_STORE_KEY, SYNC_RUN_KEY, StateStoreResource, SyncRunResource, connection_resource_key, resource_value
from datasync_pipeline.defs.restore_job import build_restore_job
from datasync_pipeline.defs.sensors import build_change_sensor
from datasync_pipeline.defs.step_outputs import RunMemoryIOManager
from datasync_pipeline.settings import Settings


def build_resources(config: DatasyncConfig) -> dict[str, dg.ConfigurableResource]:
    state = StateStoreResource(url=resource_value(config.state.url))
    resources: dict[str, dg.ConfigurableResource] = {
        STATE_STORE_KEY: state,
        SYNC_RUN_KEY: SyncRunResource(state=state),
        "io_manager": RunMemoryIOManager(),
    }
    for name, connection in config.connections.items():
        resources[connection_resource_key(name)] = resource_for(connection)
    return resources


def build_definitions(config: DatasyncConfig, settings: Settings | None = None) -> dg.Definitions:
    """``settings``: the environment's (``settings.py``), read once here and handed to the assets and the sensor."""
    settings = settings or Settings.from_environment()
    enabled = [sync for sync in config.syncs if sync.enabled]
    assets = [asset for sync in enabled for asset in build_sync_assets(config, sync, settings)]
    # Each sync's associations asset joins its group, so the first-sync job picks it up with the chain.
    assets += build_association_assets(config, settings)
    names = [sync.name for sync in enabled]
    return dg.Definitions(
        assets=assets,
        jobs=[first_sync_job(names), *(first_sync_job_of(name) for name in names), incremental_sync_job(names),
              build_restore_job(config)],
        # Every run in one process: no Python start-up per step (a UI-launched run is as fast as the command
        # line's), and step outputs stay in that run's memory (defs/step_outputs.py), never shared between runs.
        executor=dg.in_process_executor,
        sensors=[build_change_sensor(config, settings)],
        asset_checks=build_health_checks(config),
        resources=build_resources(config),
    )


defs = build_definitions(load_config())
