"""The provider's wheel ships the provider only: no simulator, no pytest plugin, nothing importing pytest.

Built from a copy of the repository (every folder the wheel could wrongly pick up: simulator/,
tests/, bench/) so that the shared working tree's build/ and *.egg-info stay untouched.
"""

from __future__ import annotations

import ast
import configparser
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", ".demo"
)


@pytest.fixture(scope="module")
def provider_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The provider's wheel, built offline with the venv's setuptools (and `wheel`)."""
    source = tmp_path_factory.mktemp("repo") / "repo"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    command += ["--disable-pip-version-check", "-q", "-w", str(out), str(source)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = out.glob("airflow_provider_hubassoc-*.whl")
    return wheel


def _imports_pytest(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        if any(name.split(".")[0] in {"pytest", "_pytest"} for name in names):
            return True
    return False


def test_the_wheel_holds_the_provider_and_no_simulator(provider_wheel: Path) -> None:
    names = zipfile.ZipFile(provider_wheel).namelist()
    assert "airflow_provider_hubassoc/__init__.py" in names
    assert "airflow_provider_hubassoc/py.typed" in names
    assert [n for n in names if "simulator" in n.lower()] == []
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"airflow_provider_hubassoc"}


def test_no_file_in_the_wheel_imports_pytest(provider_wheel: Path) -> None:
    with zipfile.ZipFile(provider_wheel) as wheel:
        modules = {n: wheel.read(n).decode() for n in wheel.namelist() if n.endswith(".py")}
    assert len(modules) > 10
    assert [name for name, source in modules.items() if _imports_pytest(source)] == []


def test_the_wheel_declares_no_pytest_plugin(provider_wheel: Path) -> None:
    with zipfile.ZipFile(provider_wheel) as wheel:
        (entry_points_file,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(wheel.read(entry_points_file).decode())
    assert entry_points.sections() == ["apache_airflow_provider"]
    assert dict(entry_points["apache_airflow_provider"]) == {
        "provider_info": "airflow_provider_hubassoc:get_provider_info"
    }


def test_get_provider_info_imports_from_the_wheel(provider_wheel: Path, tmp_path: Path) -> None:
    """From the unpacked wheel, not the editable checkout: the wheel alone is a working provider."""
    zipfile.ZipFile(provider_wheel).extractall(tmp_path)
    probe = (
        "import json, airflow_provider_hubassoc as p\n"
        "print(json.dumps([p.__file__, p.get_provider_info()['package-name']]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60
    )
    module_file, package_name = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(module_file).is_relative_to(tmp_path)
    assert package_name == "airflow-provider-hubassoc"
