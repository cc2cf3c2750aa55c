"""Airflow-free HubSpot associations client: errors, versions, auth, rate governor, retry, api.

Exports resolve lazily (PEP 562): importing one submodule, e.g. for a DAG file's
class definitions, must not pay for the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_hubassoc.lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from airflow_provider_hubassoc.client.api import (
        DEFAULT_BASE_URL,
        ClientStats,
        HubSpotClient,
        check_base_url,
    )
    from airflow_provider_hubassoc.client.auth import (
        OAuthTokenProvider,
        StaticTokenProvider,
        TokenProvider,
    )
    from airflow_provider_hubassoc.client.error_mapping import error_from_response
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
    from airflow_provider_hubassoc.client.governor import (
        TIER_LIMITS,
        GovernorStats,
        RateGovernor,
        tier_limit,
    )
    from airflow_provider_hubassoc.client.retry import (
        RetryPolicy,
    )
    from airflow_provider_hubassoc.client.versions import (
        DEFAULT_API_VERSION,
        READ_BATCH_LIMIT,
        SUPPORTED_VERSIONS,
        ApiVersion,
        associations_path,
        parse_api_version,
    )

_EXPORTS: dict[str, str] = {
    "DEFAULT_BASE_URL": "airflow_provider_hubassoc.client.api",
    "READ_BATCH_LIMIT": "airflow_provider_hubassoc.client.versions",
    "ClientStats": "airflow_provider_hubassoc.client.api",
    "HubSpotClient": "airflow_provider_hubassoc.client.api",
    "check_base_url": "airflow_provider_hubassoc.client.api",
    "error_from_response": "airflow_provider_hubassoc.client.error_mapping",
    "OAuthTokenProvider": "airflow_provider_hubassoc.client.auth",
    "StaticTokenProvider": "airflow_provider_hubassoc.client.auth",
    "TokenProvider": "airflow_provider_hubassoc.client.auth",
    "HubSpotAuthError": "airflow_provider_hubassoc.client.errors",
    "HubSpotConfigError": "airflow_provider_hubassoc.client.errors",
    "HubSpotDailyLimitError": "airflow_provider_hubassoc.client.errors",
    "HubSpotError": "airflow_provider_hubassoc.client.errors",
    "HubSpotMissingScopesError": "airflow_provider_hubassoc.client.errors",
    "HubSpotNotFoundError": "airflow_provider_hubassoc.client.errors",
    "HubSpotRateLimitError": "airflow_provider_hubassoc.client.errors",
    "HubSpotServerError": "airflow_provider_hubassoc.client.errors",
    "HubSpotTransportError": "airflow_provider_hubassoc.client.errors",
    "HubSpotValidationError": "airflow_provider_hubassoc.client.errors",
    "TIER_LIMITS": "airflow_provider_hubassoc.client.governor",
    "GovernorStats": "airflow_provider_hubassoc.client.governor",
    "RateGovernor": "airflow_provider_hubassoc.client.governor",
    "tier_limit": "airflow_provider_hubassoc.client.governor",
    "RetryPolicy": "airflow_provider_hubassoc.client.retry",
    "DEFAULT_API_VERSION": "airflow_provider_hubassoc.client.versions",
    "SUPPORTED_VERSIONS": "airflow_provider_hubassoc.client.versions",
    "ApiVersion": "airflow_provider_hubassoc.client.versions",
    "associations_path": "airflow_provider_hubassoc.client.versions",
    "parse_api_version": "airflow_provider_hubassoc.client.versions",
}


__getattr__ = lazy_getattr(__name__, _EXPORTS)


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
