"""API versions and the paths each one uses. The version is a setting, never a constant."""

from __future__ import annotations

from enum import Enum

from airflow_provider_hubassoc.client.errors import HubSpotConfigError
from airflow_provider_hubassoc.models.identifiers import parse_object_type


class ApiVersion(str, Enum):
    V2025_09 = "2025-09"
    V2026_03 = "2026-03"
    V2026_09 = "2026-09"
    V4 = "v4"  # legacy /crm/v4 paths, supported by HubSpot until 30 March 2027


DEFAULT_API_VERSION = ApiVersion.V2026_03
SUPPORTED_VERSIONS = tuple(v.value for v in ApiVersion)


def parse_api_version(value: str | ApiVersion | None) -> ApiVersion:
    """Return the version, or refuse it with the list of supported ones."""
    if value is None or value == "":
        return DEFAULT_API_VERSION
    try:
        return ApiVersion(value)
    except ValueError:
        raise HubSpotConfigError(
            f"api_version {value!r} is not supported: expected one of {', '.join(SUPPORTED_VERSIONS)}"
        ) from None


def associations_path(version: ApiVersion, from_type: str, to_type: str, suffix: str) -> str:
    """Build `/crm/associations/{version}/{from}/{to}/{suffix}` (or the legacy v4 form)."""
    from_type = parse_object_type(from_type, field="from_object_type")
    to_type = parse_object_type(to_type, field="to_object_type")
    if version is ApiVersion.V4:
        return f"/crm/v4/associations/{from_type}/{to_type}/{suffix}"
    return f"/crm/associations/{version.value}/{from_type}/{to_type}/{suffix}"


def labels_paths(version: ApiVersion, from_type: str, to_type: str) -> list[str]:
    """Where the labels are, in the order to try: on v4 the current
    `/crm/associations/v4/...` path first, then the older `/crm/v4/associations/...` (SDK 12's)."""
    if version is ApiVersion.V4:
        current = f"/crm/associations/v4/{parse_object_type(from_type, field='from_object_type')}"
        current += f"/{parse_object_type(to_type, field='to_object_type')}/{LABELS}"
        return [current, associations_path(version, from_type, to_type, LABELS)]
    return [associations_path(version, from_type, to_type, LABELS)]


def account_paths(version: ApiVersion) -> list[str]:
    """Where the account's details are, in the order to try: the dated (or v3) account-info page,
    then the legacy `/integrations/v1/me`; both answer `portalId`."""
    dated = "v3" if version is ApiVersion.V4 else version.value
    return [f"/account-info/{dated}/details", "/integrations/v1/me"]


# HubSpot's batch read accepts at most 1,000 inputs per request (since 10 Feb 2025).
READ_BATCH_LIMIT = 1000

BATCH_ARCHIVE = "batch/archive"
LABELS_ARCHIVE = "batch/labels/archive"
BATCH_READ = "batch/read"
BATCH_CREATE = "batch/create"  # 201, or 200 since August 2025; 207 when some inputs failed
LABELS = "labels"
OAUTH_TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 - a URL path, not a secret
