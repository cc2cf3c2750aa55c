"""The version is kept in one place (`airflow_provider_hubassoc.__version__`): the installed
distribution's metadata, the provider info Airflow reads and the changelog's newest entry agree."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import tomllib

import airflow_provider_hubassoc
from airflow_provider_hubassoc import __version__, get_provider_info

ROOT = Path(__file__).resolve().parent.parent
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def test_the_version_is_semantic_and_single_sourced() -> None:
    assert SEMVER.match(__version__)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]
    assert importlib.metadata.version("airflow-provider-hubassoc") == __version__


def test_the_provider_info_lists_the_version_first() -> None:
    assert get_provider_info()["versions"][0] == airflow_provider_hubassoc.__version__


def test_the_changelog_names_this_version_first_with_its_date() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", changelog, flags=re.M)
    assert releases, "CHANGELOG.md has no '## [x.y.z] - YYYY-MM-DD' entry"
    assert releases[0][0] == __version__
    versions = [version for version, _ in releases]
    assert versions == sorted(versions, key=lambda v: tuple(int(n) for n in v.split(".")), reverse=True)
    for version, _ in releases:  # every entry has its link reference
        assert re.search(rf"^\[{re.escape(version)}\]: \S+$", changelog, flags=re.M)
