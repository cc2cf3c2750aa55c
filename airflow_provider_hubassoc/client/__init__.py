"""Airflow-free HubSpot associations client: errors, versions, auth, rate governor, retry, api."""

from airflow_provider_hubassoc.client.api import (
    DEFAULT_BASE_URL,
    READ_BATCH_LIMIT,
    ClientStats,
    HubSpotClient,
    check_base_url,
    error_from_response,
)
from airflow_provider_hubassoc.client.auth import OAuthTokenProvider, StaticTokenProvider, TokenProvider
from airflow_provider_hubassoc.client.errors import (
    HubSpotAuthError,
    HubSpotConfigError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotTransportError,
    HubSpotValidationError,
)
from airflow_provider_hubassoc.client.governor import TIER_LIMITS, GovernorStats, RateGovernor, tier_limit
from airflow_provider_hubassoc.client.retry import RetryPolicy
from airflow_provider_hubassoc.client.versions import (
    DEFAULT_API_VERSION,
    SUPPORTED_VERSIONS,
    ApiVersion,
    associations_path,
    parse_api_version,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "READ_BATCH_LIMIT",
    "SUPPORTED_VERSIONS",
    "TIER_LIMITS",
    "ApiVersion",
    "ClientStats",
    "GovernorStats",
    "HubSpotAuthError",
    "HubSpotClient",
    "HubSpotConfigError",
    "HubSpotDailyLimitError",
    "HubSpotError",
    "HubSpotMissingScopesError",
    "HubSpotNotFoundError",
    "HubSpotRateLimitError",
    "HubSpotServerError",
    "HubSpotTransportError",
    "HubSpotValidationError",
    "OAuthTokenProvider",
    "RateGovernor",
    "RetryPolicy",
    "StaticTokenProvider",
    "TokenProvider",
    "associations_path",
    "check_base_url",
    "error_from_response",
    "parse_api_version",
    "tier_limit",
]
