"""The per-input JSONL report, its checkpoint reader, and the bounded XCom summary.

The report (format in docs/architecture.md) is flushed after every chunk so a crash keeps what
was done; a re-run reads the done chunk digests back and skips those chunks. The XCom summary
keeps counts plus small samples, and is shrunk until it fits in SUMMARY_MAX_BYTES.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_hubassoc.models.summary import (
    FAILED_SAMPLE_SIZE,
    SUMMARY_MAX_BYTES,
    VERIFY_SAMPLE_SIZE,
    ArchiveSummary,
    FailedInput,
    VerifyPair,
)
from airflow_provider_hubassoc.operators.chunking import Chunk, Pair
from airflow_provider_hubassoc.operators.inputs import local_path, open_text, path_exists

MESSAGE_LIMIT = 300
CATEGORY_LIMIT = 20
CHECKPOINT_CATEGORY = "checkpoint"


def truncate(message: str | None, limit: int = MESSAGE_LIMIT) -> str:
    text = message or ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _iter_lines(path: str) -> Iterator[dict[str, Any]]:
    """Yield the report's JSON objects; a torn last line (crash mid-write) is ignored."""
    with open_text(path) as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                yield obj


def holds_real_run(path: str) -> bool:
    """Whether `path` (or its `.prev` copy) holds a report of a real, not dry, run: a checkpoint."""
    candidates = [path, path + ".prev"] if local_path(path) is not None else [path]
    for candidate in candidates:
        if path_exists(candidate):
            for obj in _iter_lines(candidate):
                if obj.get("kind") == "header" and not obj.get("dryRun"):
                    return True
    return False


def read_checkpoint(path: str, header: dict[str, Any]) -> set[str]:
    """Digests of chunks recorded done by earlier real (not dry) runs of the same operation.

    The report's `.prev` copy (kept while an interrupted re-run rewrote the report) counts too.
    """
    same = ("operation", "fromObjectType", "toObjectType")
    done: set[str] = set()
    candidates = [path, path + ".prev"] if local_path(path) is not None else [path]
    for candidate in candidates:
        if not path_exists(candidate):
            continue
        usable = False
        for obj in _iter_lines(candidate):
            kind = obj.get("kind")
            if kind == "header":
                usable = not obj.get("dryRun") and all(obj.get(k) == header.get(k) for k in same)
            elif kind == "chunk" and usable and obj.get("status") == "done" and obj.get("digest"):
                done.add(str(obj["digest"]))
    return done


def iter_report_pairs(path: str, statuses: Iterable[str] = ("done",)) -> Iterator[VerifyPair]:
    """Yield the report's pair lines with the given statuses, as `VerifyPair` (used by the sensor).

    Pairs skipped because an earlier run archived them (category "checkpoint") count as "done".
    """
    wanted = set(statuses)
    for obj in _iter_lines(path):
        if obj.get("kind") != "pair":
            continue
        status = obj.get("status")
        if status == "skipped" and obj.get("category") == CHECKPOINT_CATEGORY and "done" in wanted:
            status = "done"
        if status in wanted:
            yield VerifyPair(from_id=str(obj["fromId"]), to_id=str(obj["toId"]), types=obj.get("types"))


class ReportWriter:
    """Writes the JSONL report, one flush per chunk. A previous report is kept as `.prev` while
    the new one is written (local paths), so an interrupted re-run loses no checkpoint."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = local = local_path(path)
        if local is not None:
            local.parent.mkdir(parents=True, exist_ok=True)
            if local.exists():
                prev = Path(str(local) + ".prev")
                if prev.exists():
                    # Both hold checkpoints: keep the union in .prev before the current is replaced.
                    with prev.open("a", encoding="utf-8") as out, local.open(encoding="utf-8") as src:
                        for line in src:
                            out.write(line if line.endswith("\n") else line + "\n")
                    local.unlink()
                else:
                    os.replace(local, prev)
        self._handle = open_text(path, "w")

    def write(self, obj: dict[str, Any]) -> None:
        self._handle.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def pair(self, pair: Pair, status: str, chunk: int, category: str | None, message: str | None) -> None:
        self.write(
            {
                "kind": "pair",
                "fromId": pair.from_id,
                "toId": pair.to_id,
                "types": pair.types_wire(),
                "status": status,
                "chunk": chunk,
                "category": category,
                "message": truncate(message) if message else None,
            }
        )

    def chunk(
        self,
        chunk: Chunk,
        status: str,
        http_status: int | None,
        batch_status: str | None,
        *,
        checkpoint: bool = False,
    ) -> None:
        line: dict[str, Any] = {
            "kind": "chunk",
            "chunk": chunk.index,
            "digest": chunk.digest,
            "status": status,
            "httpStatus": http_status,
            "batchStatus": batch_status,
        }
        if checkpoint:
            line["checkpoint"] = True
        self.write(line)
        self.flush()

    def flush(self) -> None:
        self._handle.flush()

    def close(self, *, finished: bool) -> None:
        self._handle.close()
        if finished and self._local is not None:
            Path(str(self._local) + ".prev").unlink(missing_ok=True)


class SummaryBuilder:
    """Accumulates counts and bounded samples while chunks complete."""

    def __init__(self, summary: ArchiveSummary) -> None:
        self.summary = summary
        self.categories: Counter[str] = Counter()
        self._seen_done = 0
        self._rng = random.Random(0)  # noqa: S311 - sampling, not security

    def record(
        self, pair: Pair, status: str, category: str | None = None, message: str | None = None
    ) -> None:
        totals = self.summary.totals
        if status in ("done", "would_remove", "absent"):
            totals.done += 1
            if status == "would_remove":
                totals.would_remove += 1
            elif status == "absent":
                totals.absent += 1
            else:
                self._sample_done(pair)
        elif status == "failed":
            totals.failed += 1
            self.categories[category or "UNKNOWN"] += 1
            if len(self.summary.failed_sample) < FAILED_SAMPLE_SIZE:
                self.summary.failed_sample.append(
                    FailedInput(
                        from_id=pair.from_id,
                        to_id=pair.to_id,
                        types=pair.types_wire(),
                        category=truncate(category or "UNKNOWN", 80),
                        message=truncate(message),
                    )
                )
        elif status == "skipped":
            totals.skipped += 1
            if category == CHECKPOINT_CATEGORY:
                self._sample_done(pair)
        else:
            raise ValueError(f"unknown pair status {status!r}")

    def _sample_done(self, pair: Pair) -> None:
        """Reservoir sampling: a uniform sample of done pairs however many there are."""
        self._seen_done += 1
        sample = self.summary.verify_sample
        if len(sample) < VERIFY_SAMPLE_SIZE:
            sample.append(VerifyPair(from_id=pair.from_id, to_id=pair.to_id, types=pair.types_wire()))
        else:
            slot = self._rng.randrange(self._seen_done)
            if slot < VERIFY_SAMPLE_SIZE:
                sample[slot] = VerifyPair(from_id=pair.from_id, to_id=pair.to_id, types=pair.types_wire())

    def batch(self, status: str | None) -> None:
        self.summary.batches += 1
        key = status or "NONE"
        self.summary.batch_statuses[key] = self.summary.batch_statuses.get(key, 0) + 1

    def finish(self) -> dict[str, Any]:
        top = self.categories.most_common(CATEGORY_LIMIT)
        by_category = {truncate(k, 80): v for k, v in top}
        rest = sum(self.categories.values()) - sum(v for _, v in top)
        if rest:
            by_category["OTHER"] = by_category.get("OTHER", 0) + rest
        self.summary.errors_by_category = by_category
        return bounded_xcom(self.summary)


def bounded_xcom(summary: ArchiveSummary) -> dict[str, Any]:
    """`summary.to_xcom()`, with samples shrunk until the JSON is under SUMMARY_MAX_BYTES."""
    value = summary.to_xcom()
    while len(json.dumps(value).encode()) >= SUMMARY_MAX_BYTES:
        if value["verifySample"]:
            value["verifySample"] = value["verifySample"][: len(value["verifySample"]) // 2]
        elif value["failedSample"]:
            value["failedSample"] = value["failedSample"][: len(value["failedSample"]) // 2]
        elif len(value["errorsByCategory"]) > 1:
            value["errorsByCategory"] = dict(list(value["errorsByCategory"].items())[:1])
        else:
            break
    return value
