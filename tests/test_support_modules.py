"""tests/support: small modules, none of which loads Airflow on import (tests of the client and the
engine need no Airflow; helpers that read Airflow import it inside the function that needs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent / "support"


def test_no_support_module_imports_airflow() -> None:
    modules = sorted(f"tests.support.{path.stem}" for path in SUPPORT.glob("*.py") if path.stem != "__init__")
    assert "tests.support.sim_states" in modules
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.partition('.')[0] == 'airflow')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=SUPPORT.parent.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_package_re_exports_nothing() -> None:
    """Import from the module that holds a helper: `tests.support` itself loads no helper."""
    import types

    import tests.support

    names = vars(tests.support).items()
    exported = [n for n, v in names if not n.startswith("__") and not isinstance(v, types.ModuleType)]
    assert exported == []
