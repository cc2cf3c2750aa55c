"""A scriptable in-memory association reader, shared by the trigger and sensor tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from airflow_provider_hubassoc.models.responses import AssociatedRecord, AssociationReadResult


class FakeReader:
    """Holds `(from_id, to_id) -> {(category, typeId)}`; records every call and its thread.

    `on_read` runs before each read (e.g. to remove pairs after N reads, or to raise).
    """

    def __init__(self, edges: dict[tuple[str, str], set[tuple[str, int]]] | None = None) -> None:
        self.edges = dict(edges or {})
        self.calls: list[list[str]] = []
        self.threads: list[int] = []
        self.on_read: Callable[[FakeReader], None] | None = None

    def read_associations(
        self, from_type: str, to_type: str, ids: Iterable[str | int], *, api_version: str | None = None
    ) -> AssociationReadResult:
        ids = [str(i) for i in ids]
        assert 0 < len(ids) <= 1000
        self.calls.append(ids)
        self.threads.append(threading.get_ident())
        if self.on_read is not None:
            self.on_read(self)
        out: dict[str, list[AssociatedRecord]] = {i: [] for i in ids}
        for (fid, tid), labels in self.edges.items():
            if fid in out:
                types: list[dict[str, Any]] = [
                    {"category": c, "typeId": t, "label": None} for c, t in sorted(labels)
                ]
                out[fid].append(
                    AssociatedRecord.model_validate({"toObjectId": tid, "associationTypes": types})
                )
        return AssociationReadResult(associations=out)

    @property
    def pairs_read(self) -> int:
        return sum(len(c) for c in self.calls)


def write_report(path: Path, pairs: Iterable[tuple[str, str, str]]) -> None:
    """A JSONL report as the archive operators write it: a header, then `(from, to, status)` pairs."""
    header = {
        "kind": "header",
        "operation": "batch_archive",
        "fromObjectType": "contacts",
        "toObjectType": "companies",
        "apiVersion": "2026-03",
        "startedAt": "x",
        "dryRun": False,
    }
    lines = [header] + [
        {
            "kind": "pair",
            "fromId": f,
            "toId": t,
            "types": None,
            "status": s,
            "chunk": 0,
            "category": None,
            "message": None,
        }
        for f, t, s in pairs
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
