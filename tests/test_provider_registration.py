"""The provider registers through Airflow's own providers manager and CLI."""

from __future__ import annotations

import subprocess
import sys

import jsonschema
import pytest

import airflow_provider_hubassoc
from airflow_provider_hubassoc import get_provider_info


def test_provider_info_matches_airflow_schema() -> None:
    import json
    from importlib.resources import files

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_providers_manager_knows_the_package_and_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-hubassoc" in manager.providers
    assert manager.providers["airflow-provider-hubassoc"].version == airflow_provider_hubassoc.__version__
    hook_info = manager.hooks["hubspot"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_hubassoc.hooks.hubspot.HubSpotHook"
    assert hook_info.connection_id_attribute_name == "hubspot_conn_id"
    behaviour = manager.field_behaviours["hubspot"]
    assert set(behaviour["hidden_fields"]) == {"schema", "port", "login"}
    assert "password" in behaviour["relabeling"]
    widgets = manager.connection_form_widgets
    assert widgets["extra__hubspot__refresh_token"].is_sensitive
    assert widgets["extra__hubspot__client_secret"].is_sensitive
    assert not widgets["extra__hubspot__api_version"].is_sensitive


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_hubassoc.hooks.hubspot",
        "airflow_provider_hubassoc.operators.archive",
        "airflow_provider_hubassoc.sensors.batch_status",
        "airflow_provider_hubassoc.triggers.batch_status",
    ],
)
def test_every_module_named_in_provider_info_imports(module: str) -> None:
    info = get_provider_info()
    named = {
        m
        for kind in ("hooks", "operators", "sensors", "triggers")
        for e in info[kind]
        for m in e["python-modules"]
    }
    assert module in named
    __import__(module)


def test_airflow_providers_list_shows_the_package() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "plain"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "airflow-provider-hubassoc" in result.stdout
