"""The HubSpot connector: a thread-safe, rate-limited, retrying client for the CRM API."""

from datasync_pipeline.connectors.hubspot.batching import BatchResult
from datasync_pipeline.connectors.hubspot.client import HubSpotClient
from datasync_pipeline.connectors.hubspot.errors import (
    AuthenticationError,
    DuplicateRecordError,
    HubSpotRequestError,
    MissingScopesError,
)
from datasync_pipeline.connectors.hubspot.tiers import Tier

__all__ = [
    "AuthenticationError",
    "BatchResult",
    "DuplicateRecordError",
    "HubSpotClient",
    "HubSpotRequestError",
    "MissingScopesError",
    "Tier",
]
