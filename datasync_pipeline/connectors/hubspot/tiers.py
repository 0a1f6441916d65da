"""HubSpot API subscription tiers and the request budget each one allows.

The budget is where the rate limiter starts, before HubSpot's first answer tells it the account's own
(`X-HubSpot-RateLimit-Max` per `-Interval-Milliseconds`): requests per rolling ten-second window for the
CRM endpoints, and requests per second for search, which HubSpot limits separately and answers without
those headers, so the search budget here is the one the limiter keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    """How the account is connected; decides the request budget."""

    STARTER = "starter"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"
    INCREASE = "increase"
    OAUTH = "oauth"
    UNLIMITED = "unlimited"


@dataclass(frozen=True)
class RequestBudget:
    """At most `requests` requests in any window of `window_seconds` (None: no limit)."""

    requests: int | None
    window_seconds: float


TEN_SECONDS = 10.0

_BUDGETS: dict[Tier, int | None] = {
    Tier.STARTER: 100,
    Tier.PROFESSIONAL: 190,
    Tier.ENTERPRISE: 190,
    Tier.INCREASE: 250,
    Tier.OAUTH: 110,
    Tier.UNLIMITED: None,
}

SEARCH_REQUESTS_PER_SECOND = 5


def crm_budget(tier: Tier | str) -> RequestBudget:
    """The CRM endpoints' budget per rolling ten seconds for a tier."""
    return RequestBudget(_BUDGETS[Tier(tier)], TEN_SECONDS)


def search_budget(tier: Tier | str) -> RequestBudget:
    """The search endpoints' budget: five per second on every tier except the unlimited test tier."""
    if Tier(tier) is Tier.UNLIMITED:
        return RequestBudget(None, 1.0)
    return RequestBudget(SEARCH_REQUESTS_PER_SECOND, 1.0)
