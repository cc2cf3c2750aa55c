"""hooks layer."""

from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

__all__ = ["HubSpotHook"]
