"""Hooks layer: `hooks.hubspot.HubSpotHook`."""
