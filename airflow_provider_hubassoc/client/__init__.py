"""Airflow-free HubSpot associations client. Import from the submodules (`client.api`, `client.errors`...)."""
