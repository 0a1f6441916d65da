"""The sync configuration (``datasync.yaml``): its model and its loader."""

from datasync_pipeline.config.loader import ConfigError, load_config, parse_config
from datasync_pipeline.config.model import AppTable, DatasyncConfig, Direction, FieldMapping, HubSpotConnection, Side, SqlConnection, SyncSpec

__all__ = [
    "AppTable",
    "ConfigError",
    "DatasyncConfig",
    "Direction",
    "FieldMapping",
    "HubSpotConnection",
    "Side",
    "SqlConnection",
    "SyncSpec",
    "load_config",
    "parse_config",
]
