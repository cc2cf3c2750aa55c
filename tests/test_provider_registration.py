"""The provider registers through Airflow's own providers manager and CLI."""

from __future__ import annotations

import json
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


def test_providers_manager_draws_the_connection_form() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    if not manager.field_behaviours:
        from airflow import __version__ as airflow_version

        pytest.skip(
            f"Airflow {airflow_version}: without wtforms the providers manager draws no connection "
            "forms for any provider (the hook's own form methods are tested in tests/hooks)"
        )
    behaviour = manager.field_behaviours["hubspot"]
    # The port stays visible: Airflow 3's Test button needs a stored one (see UI_FIELD_BEHAVIOUR).
    assert set(behaviour["hidden_fields"]) == {"schema", "login"}
    assert "password" in behaviour["relabeling"]
    assert "443" in behaviour["placeholders"]["port"]
    widgets = manager.connection_form_widgets
    assert widgets["extra__hubspot__refresh_token"].is_sensitive
    assert widgets["extra__hubspot__client_secret"].is_sensitive
    assert not widgets["extra__hubspot__api_version"].is_sensitive


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_hubassoc.hooks.hubspot",
        "airflow_provider_hubassoc.operators.archive",
        "airflow_provider_hubassoc.operators.restore",
        "airflow_provider_hubassoc.operators.sync",
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


def test_conn_fields_leave_the_tier_to_the_auth_method() -> None:
    """No form default for the tier: an untouched field lets OAuth connections get 110 req/10 s."""
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    assert "default" not in fields["rate_limit_tier"]["schema"]
    assert fields["client_secret"]["schema"]["format"] == "password"
    assert fields["refresh_token"]["schema"]["format"] == "password"


def test_provider_info_is_import_free() -> None:
    """Airflow calls get_provider_info() at start-up: it must not import the hook, client or Airflow."""
    code = (
        "import json, sys\n"
        "from airflow_provider_hubassoc import get_provider_info\n"
        "get_provider_info()\n"
        "heavy = ('airflow', 'requests', 'pydantic')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["airflow_provider_hubassoc"]


def test_airflow_2_form_widgets_follow_conn_fields() -> None:
    """Airflow 2.11 draws the form from get_connection_form_widgets (Flask AppBuilder widgets)."""
    pytest.importorskip(
        "flask_appbuilder", reason="Airflow 2.11 only: Airflow 3 has no Flask AppBuilder form"
    )
    from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

    widgets = HubSpotHook.get_connection_form_widgets()
    assert set(widgets) == set(get_provider_info()["connection-types"][0]["conn-fields"])
    assert widgets["client_secret"].field_class.__name__ == "PasswordField"
    assert widgets["refresh_token"].field_class.__name__ == "PasswordField"
    assert widgets["api_version"].field_class.__name__ == "StringField"
