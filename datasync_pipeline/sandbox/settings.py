"""How a sandbox is configured, and the rate-limit tiers of HubSpot accounts it can pretend to be."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateLimitTier:
    """The request budget of one kind of HubSpot account.

    ``per_window`` is the rolling ten-second budget (None: unlimited); ``daily`` the budget per UTC day
    (None: no daily limit, and no daily headers are sent).
    """

    per_window: int | None
    daily: int | None


RATE_LIMIT_TIERS: dict[str, RateLimitTier] = {
    "starter": RateLimitTier(per_window=100, daily=250_000),
    "professional": RateLimitTier(per_window=190, daily=625_000),
    "enterprise": RateLimitTier(per_window=190, daily=1_000_000),
    "increase": RateLimitTier(per_window=250, daily=1_000_000),
    "oauth": RateLimitTier(per_window=110, daily=None),
    "unlimited": RateLimitTier(per_window=None, daily=None),
}

SEARCH_REQUESTS_PER_SECOND = 5


@dataclass(frozen=True)
class SandboxSettings:
    """Everything that changes how the sandbox behaves.

    ``db_path`` is the SQLite file holding the portal's state; it is created when missing and reused
    otherwise, so a sandbox survives restarts. ``rate_window_seconds`` shortens the ten-second window
    so tests of rate limiting stay quick. ``latency_ms`` is slept on every request to feel like a network;
    ``search_index_delay_ms`` hides freshly written records from search, as HubSpot's indexing lag does, and
    ``search_index_jitter_ms`` adds to each write a random extra delay of up to that much (drawn from
    ``search_index_seed``), so writes surface out of last-modified order (``search_index``; both changeable at
    runtime through ``POST /_sandbox/search-index``). Both 0: search sees every write at once.

    Three credentials, none obtainable from another: ``token`` is the CRM API's static bearer token (a private
    app's); ``control_token`` opens the ``/_sandbox/`` control routes (sent as
    the ``X-Sandbox-Control-Token`` header; random unless given, so knowing the CRM token is not enough);
    ``client_id`` / ``client_secret`` are the one OAuth app allowed at the token endpoints (none: every request
    there is refused). OAuth access tokens from ``/oauth/v1/token`` and ``/oauth/v3/token`` live
    ``access_token_lifetime_seconds`` (HubSpot: 1,800) of the
    sandbox clock; ``token`` itself never expires, like a private app's.
    """

    db_path: str
    token: str = "sandbox-token"
    control_token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    tier: str = "starter"
    rate_window_seconds: float = 10.0
    latency_ms: int = 0
    search_index_delay_ms: int = 0
    search_index_jitter_ms: int = 0
    search_index_seed: int = 0
    access_token_lifetime_seconds: float = 1800.0

    def __post_init__(self) -> None:
        if self.tier not in RATE_LIMIT_TIERS:
            known = ", ".join(RATE_LIMIT_TIERS)
            raise ValueError(f"Unknown sandbox tier {self.tier!r}; choose one of: {known}")
        if self.search_index_delay_ms < 0 or self.search_index_jitter_ms < 0:
            raise ValueError("search_index_delay_ms and search_index_jitter_ms must not be negative")
        if self.rate_window_seconds <= 0:
            raise ValueError("rate_window_seconds must be positive")
        if not self.control_token or self.control_token == self.token:
            raise ValueError("the control token must be set and differ from the CRM bearer token")
        if (self.client_id is None) != (self.client_secret is None) or self.client_id == "" or self.client_secret == "":
            raise ValueError("give both the OAuth client id and its client secret, or neither")

    @property
    def rate_limit_tier(self) -> RateLimitTier:
        return RATE_LIMIT_TIERS[self.tier]
