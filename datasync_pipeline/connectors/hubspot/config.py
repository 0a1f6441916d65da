"""The `kind: hubspot` connection of ``datasync.yaml``: a HubSpot account by private app token or by OAuth app
install, or the bundled sandbox.

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


def _secret_reference(value: str, what: str) -> str:
    if not ENV_REFERENCE.fullmatch(value):
        raise ValueError(f"write the {what} as ${{VARIABLE_NAME}}: secrets are read from the environment, never from the file")
    return value


class OAuthAppSpec(StrictModel):
    """An OAuth app installed in the account: the app's client id and secret, and the install's refresh token.

    The connector obtains access tokens with the refresh token and renews them before they expire (30 minutes
    at HubSpot). ``token_url`` defaults to ``<base_url>/oauth/v1/token``.
    """

    client_id: str = Field(description="`${VAR}` naming the variable that holds the app's client id")
    client_secret: str = Field(description="`${VAR}` naming the variable that holds the app's client secret")
    refresh_token: str = Field(description="`${VAR}` naming the variable that holds the install's refresh token")
    token_url: str | None = Field(default=None, description="the OAuth token endpoint; default <base_url>/oauth/v1/token")

    @field_validator("client_id", "client_secret", "refresh_token")
    @classmethod
    def _is_a_reference(cls, value: str, info) -> str:
        return _secret_reference(value, info.field_name.replace("_", " "))


class JournalSpec(StrictModel):
    """Read the account's webhooks journal (``journal: true``), with the ``oauth:`` app's client credentials unless an
    app of its own is named here (``client_id`` and ``client_secret``, e.g. beside a private app's token)."""

    client_id: str | None = Field(default=None, description="`${VAR}` naming the variable that holds the app's client id")
    client_secret: str | None = Field(default=None, description="`${VAR}` naming the variable that holds the app's client secret")
    token_url: str | None = Field(default=None, description="the OAuth v3 token endpoint; default <base_url>/oauth/v3/token")

    @field_validator("client_id", "client_secret")
    @classmethod
    def _is_a_reference(cls, value: str | None, info) -> str | None:
        return None if value is None else _secret_reference(value, info.field_name.replace("_", " "))

    @model_validator(mode="after")
    def _both_or_neither(self) -> JournalSpec:
        if (self.client_id is None) != (self.client_secret is None):
            raise ValueError("name the journal's app by both `client_id` and `client_secret`, or neither (the `oauth:` app's)")
        return self


class HubSpotConnection(StrictModel):
    """A HubSpot account: a real one by private app token or OAuth app install, or the bundled sandbox."""

    kind: Literal["hubspot"]
    token: str | None = Field(default=None, description="`${VAR}` naming the variable that holds the token")
    oauth: OAuthAppSpec | None = Field(default=None, description="an OAuth app install, instead of `token`")
    base_url: str = "https://api.hubapi.com"
    object_path_prefix: str = "/crm/v3/objects"
    tier: Tier = Tier.STARTER
    max_concurrency: int = Field(default=4, ge=1, le=32)
    sandbox: SandboxSpec | None = None
    journal: JournalSpec | None = Field(default=None, description=(
        "read HubSpot's webhooks journal for association changes, merges and deletions: `true` with the `oauth:` app's "
        "client credentials (or the sandbox's own app), or `client_id` and `client_secret` of the app to read it with"))

    @field_validator("journal", mode="before")
    @classmethod
    def _journal_switch(cls, value: object) -> object:
        """``journal: true`` / ``false`` as well as the app's block."""
        if value is True:
            return {}
        return None if value is False else value

    @field_validator("token")
    @classmethod
    def _token_is_a_reference(cls, value: str | None) -> str | None:
        return None if value is None else _secret_reference(value, "token")

    @model_validator(mode="after")
    def _one_way_in(self) -> HubSpotConnection:
        given = [name for name in ("token", "oauth", "sandbox") if getattr(self, name) is not None]
        if len(given) != 1:
            found = f"found {' and '.join(f'`{name}`' for name in given)}" if given else "found none"
            raise ValueError(
                "give exactly one of `token` (a private app), `oauth` (an OAuth app install: client_id, client_secret, "
                f"refresh_token) or `sandbox` (the bundled emulator); {found}"
            )
        if self.journal is not None and self.journal.client_id is None and self.oauth is None and self.sandbox is None:
            raise ValueError(
                "`journal: true` reads the webhooks journal with the `oauth:` app's client credentials, and this connection "
                "has no `oauth:` block: give the app under `journal:` as `client_id: ${VAR}` and `client_secret: ${VAR}`"
            )
        return self

    @property
    def reads_journal(self) -> bool:
        return self.journal is not None

    def journal_app(self) -> JournalSpec | None:
        """The app that reads the journal (None: the journal is off, or it is the embedded sandbox's own app)."""
        if self.journal is None:
            return None
        if self.journal.client_id is not None:
            return self.journal
        if self.oauth is not None:
            return JournalSpec(client_id=self.oauth.client_id, client_secret=self.oauth.client_secret, token_url=self.journal.token_url)
        return None
