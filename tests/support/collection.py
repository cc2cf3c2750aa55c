"""Test collection: the heavy deployment suites run only when selected by their marker."""

from __future__ import annotations

import pytest


def deselect_unless_selected(config: pytest.Config, items: list[pytest.Item], marker: str) -> None:
    """Drop the tests marked `marker` unless the run asks for it (`-m marker`), so that `make test`
    collects a deployment suite without starting anything."""
    if marker in (config.option.markexpr or ""):
        return
    dropped = [item for item in items if item.get_closest_marker(marker)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker(marker)]
