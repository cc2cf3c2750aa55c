"""Helpers shared by the test modules: import them as `from tests.support import ...`.

One module for every shared helper (no helpers imported from conftest files, no sys.path edits).
Sections are grouped by the layer they serve.
"""

from __future__ import annotations
