"""How a sandbox is configured, and the rate-limit tiers of HubSpot accounts it can pretend to be."""

from __future__ import annotations

from dataclasses import dataclass


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
    ``search_index_delay_ms`` hides freshly written records from search, as HubSpot's indexing lag does.
    """

    db_path: str
    token: str = "sandbox-token"
    tier: str = "starter"
    rate_window_seconds: float = 10.0
    latency_ms: int = 0
    search_index_delay_ms: int = 0

    def __post_init__(self) -> None:
        if self.tier not in RATE_LIMIT_TIERS:
            known = ", ".join(RATE_LIMIT_TIERS)
            raise ValueError(f"Unknown sandbox tier {self.tier!r}; choose one of: {known}")
        if self.rate_window_seconds <= 0:
            raise ValueError("rate_window_seconds must be positive")

    @property
    def rate_limit_tier(self) -> RateLimitTier:
        return RATE_LIMIT_TIERS[self.tier]
