"""Shared pieces: workload files, the child-process result protocol and the RSS probe.

Every measured run happens in its own process; the child prints one `BENCH_RESULT {json}` line,
which the harness parses, so nothing but the numbers crosses the process boundary.
"""

from __future__ import annotations

import csv
import json
import resource
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "
FROM_TYPE = "contacts"
TO_TYPE = "companies"
TO_ID_OFFSET = 10_000_000  # keeps from ids and to ids apart, so a swapped pair cannot hit another edge
SEED_COLUMNS = ("from_object_type", "from_id", "to_object_type", "to_id", "category", "type_id")


def pair_ids(n: int) -> Iterator[tuple[str, str]]:
    """The N distinct contact->company pairs every run archives (deterministic, so runs compare)."""
    for i in range(1, n + 1):
        yield str(i), str(TO_ID_OFFSET + i)


def write_workload(directory: Path, n: int) -> tuple[Path, Path]:
    """Write the simulator seed CSV and the operator's pairs CSV (from_id,to_id) for N pairs."""
    directory.mkdir(parents=True, exist_ok=True)
    seed, pairs = directory / f"seed_{n}.csv", directory / f"pairs_{n}.csv"
    with (
        seed.open("w", newline="", encoding="utf-8") as s,
        pairs.open("w", newline="", encoding="utf-8") as p,
    ):
        seed_writer, pairs_writer = csv.writer(s), csv.writer(p)
        seed_writer.writerow(SEED_COLUMNS)
        pairs_writer.writerow(("from_id", "to_id"))
        for from_id, to_id in pair_ids(n):
            seed_writer.writerow((FROM_TYPE, from_id, TO_TYPE, to_id, "", ""))
            pairs_writer.writerow((from_id, to_id))
    return seed, pairs


def read_pairs(path: Path) -> Iterator[tuple[str, str]]:
    """Stream (from_id, to_id) rows from the pairs CSV; the baselines never hold the whole file."""
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield row["from_id"], row["to_id"]


def chunks(pairs: Iterator[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    """Group a pair stream into lists of at most `size`."""
    chunk: list[tuple[str, str]] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def rss_kb() -> int:
    """Current RSS in KB (psutil), so a child can report what it held before the measured work."""
    import psutil

    return int(psutil.Process().memory_info().rss // 1024)


def peak_rss_kb() -> int:
    """This process's peak RSS in KB (ru_maxrss is KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak // 1024) if sys.platform == "darwin" else int(peak)


def emit(result: dict[str, Any]) -> None:
    """Hand the child's numbers to the harness on one stdout line."""
    result["peak_rss_kb"] = peak_rss_kb()
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


def parse_result(stdout: str) -> dict[str, Any]:
    """Find the child's result line; raise with the output tail when it never printed one."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            value: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return value
    raise RuntimeError("the benchmark child printed no result line:\n" + stdout[-2000:])


def write_docs_section(docs: Path, begin: str, end: str, text: str) -> None:
    """Replace the part of `docs` between the `begin` and `end` markers (or append it), keeping the rest."""
    current = docs.read_text(encoding="utf-8") if docs.exists() else ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        updated = head + text + rest.split(end, 1)[1]
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    docs.write_text(updated, encoding="utf-8")
