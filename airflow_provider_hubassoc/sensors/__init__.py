"""Sensors: confirm an archive's batches finished and HubSpot shows the pairs gone."""
