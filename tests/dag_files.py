"""Load a test DAG file as a module (no side effects: safe to import from any test)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

TEST_DAGS = Path(__file__).resolve().parent / "dags"


def load_test_dag(name: str) -> ModuleType:
    """Import `tests/dags/<name>.py` as a module, for tests that build and run its DAGs."""
    spec = importlib.util.spec_from_file_location(name, TEST_DAGS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
