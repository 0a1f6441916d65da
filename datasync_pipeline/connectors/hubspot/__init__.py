"""The HubSpot connector: a thread-safe, rate-limited, retrying client for the CRM API.

- ``transport``, ``rate_limit``, ``retry``, ``errors``   auth, request budget, retries, error categories
- ``oauth``       an OAuth app install's access token, obtained with its refresh token and renewed before expiry
- ``records``, ``search``, ``properties``, ``associations``, ``batching``   the operation groups
- ``client``      ``HubSpotClient``, the facade over them: a sync's HubSpot side
- ``app_side``    ``HubSpotSide``: a second portal as a sync's app side (``connectors/base.py``'s ``AppConnector``),
                  with ``app_frames`` turning its records into engine frames
- ``config``      the `kind: hubspot` connection of ``datasync.yaml``
- ``resource``    its Dagster resource: one client per run
"""

from datasync_pipeline.connectors.hubspot.batching import BatchResult
from datasync_pipeline.connectors.hubspot.client import HubSpotClient
from datasync_pipeline.connectors.hubspot.errors import AuthenticationError, DuplicateRecordError, HubSpotRequestError, MissingScopesError
from datasync_pipeline.connectors.hubspot.oauth import OAuthCredentials, TokenRefreshError
from datasync_pipeline.connectors.hubspot.tiers import Tier

__all__ = [
    "AuthenticationError",
    "BatchResult",
    "DuplicateRecordError",
    "HubSpotClient",
    "HubSpotRequestError",
    "MissingScopesError",
    "OAuthCredentials",
    "Tier",
    "TokenRefreshError",
]
