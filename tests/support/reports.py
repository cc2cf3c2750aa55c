"""Run reports (JSONL) as the operators write them: write one for a test's input, read one back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ReportRow = tuple[str, str, str] | tuple[str, str, str, list[tuple[str, int]]]


def write_report(path: Path, pairs: Iterable[ReportRow], *, category: str | None = None) -> None:
    """A JSONL report as the archive operators write it: a header, then pair lines
    `(from, to, status)` or `(from, to, status, [(category, typeId)])`."""
    header = {
        "kind": "header",
        "operation": "batch_archive",
        "fromObjectType": "contacts",
        "toObjectType": "companies",
        "apiVersion": "2026-03",
        "startedAt": "x",
        "dryRun": False,
    }
    lines: list[dict[str, Any]] = [header]
    for row in pairs:
        labels = row[3] if len(row) == 4 else []
        types = [{"associationCategory": c, "associationTypeId": t} for c, t in labels] or None
        line = {"kind": "pair", "fromId": row[0], "toId": row[1], "types": types, "status": row[2]}
        lines.append({**line, "chunk": 0, "category": category, "message": None})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def read_report(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL report, decoded (header, pair lines, summary)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
