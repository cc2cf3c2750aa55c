"""The README is a landing page: short, and every link it gives into the docs leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_readme_stays_a_landing_page() -> None:
    assert len(README.splitlines()) < 150
    assert "make demo" in README
    assert "make test" in README


def test_every_relative_link_of_the_readme_resolves() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    relative = [t for t in targets if "://" not in t]
    assert relative, "the README links into the docs"
    missing = [t for t in relative if not (ROOT / t).exists()]
    assert missing == []
