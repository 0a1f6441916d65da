"""The `kind: hubspot` connection of ``datasync.yaml``: a HubSpot account by token, or the bundled sandbox.

The same model serves both places a HubSpot account takes in a sync: its HubSpot side, and its app side
(a second portal, portal-to-portal sync).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from datasync_pipeline.config.base import ENV_REFERENCE, StrictModel
from datasync_pipeline.connectors.hubspot.tiers import Tier


class SandboxSpec(StrictModel):
    """Use the bundled HubSpot sandbox, in-process, with its state in this SQLite file."""

    path: str = Field(description="SQLite file holding the sandbox's records")
    token: str = "sandbox-token"


class HubSpotConnection(StrictModel):
    """A HubSpot account: a real one by token, or the bundled sandbox."""

    kind: Literal["hubspot"]
    token: str | None = Field(default=None, description="`${VAR}` naming the variable that holds the token")
    base_url: str = "https://api.hubapi.com"
    object_path_prefix: str = "/crm/v3/objects"
    tier: Tier = Tier.STARTER
    max_concurrency: int = Field(default=4, ge=1, le=32)
    sandbox: SandboxSpec | None = None

    @field_validator("token")
    @classmethod
    def _token_is_a_reference(cls, value: str | None) -> str | None:
        if value is not None and not ENV_REFERENCE.fullmatch(value):
            raise ValueError("write the token as ${VARIABLE_NAME}: secrets are read from the environment, never from the file")
        return value

    @model_validator(mode="after")
    def _token_or_sandbox(self) -> HubSpotConnection:
        if (self.token is None) == (self.sandbox is None):
            raise ValueError("give exactly one of `token` (a real account) or `sandbox` (the bundled emulator)")
        return self
