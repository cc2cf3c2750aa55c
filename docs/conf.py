"""Sphinx configuration: the docs site (`make docs`), Markdown pages through MyST, the operator and
sensor arguments straight from their docstrings (autodoc). Builds offline, warnings as errors."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# autodoc imports the operators, so Airflow: keep its home (and its config file) out of ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hubassoc-docs-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from airflow_provider_hubassoc import __version__  # noqa: E402

project = "airflow-provider-hubassoc"
author = "airflow-provider-hubassoc maintainers"
copyright = "2026, airflow-provider-hubassoc maintainers"
version = release = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

html_theme = "furo"
html_title = f"HubSpot Associations provider {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "all"  # every argument, documented or not
autodoc_inherit_docstrings = False
autodoc_default_options = {"show-inheritance": True}
# Annotations name Airflow's and the standard library's classes, and type aliases imported under
# TYPE_CHECKING (OnError, Mode...): none has a page here. Nitpicky mode (-n) still checks every
# page, document and heading reference.
nitpick_ignore_regex = [
    ("py:class", r"(airflow|collections|typing|pydantic|datetime|airflow_provider_hubassoc)\..*"),
    ("py:class", r"[A-Za-z_][A-Za-z0-9_]*"),  # a bare name: an alias or a class without a page
]

# No network here: the link check covers the site's own pages and anchors, never the web.
linkcheck_ignore = [r"https?://.*"]
linkcheck_anchors = True
