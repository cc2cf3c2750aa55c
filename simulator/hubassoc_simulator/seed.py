"""Filling a SimulatorState: a deterministic generator and JSON/CSV seed files."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubassoc_simulator.state import SimulatorState

CSV_COLUMNS = ("from_object_type", "from_id", "to_object_type", "to_id", "category", "type_id")
GENERATED_TO_ID_OFFSET = 1_000_000
PRIMARY_SHARE = 0.2


def generate(
    state: SimulatorState, records: int, associations: int, seed: int, from_type: str, to_type: str
) -> SimulatorState:
    """`records` records of each type and `associations` distinct edges from_type -> to_type.

    From ids are "1".."records"; to ids are offset by 1,000,000 ("1000001"...) so a swapped
    from/to shows up as unknown records instead of silently hitting other edges. About a fifth
    of the edges also carry the pair's "Primary" label when HubSpot defines one.
    """
    from hubassoc_simulator.state import PRIMARY_TYPE_IDS, canonical_type, default_types

    if records < 0 or associations < 0:
        raise ValueError("records and associations must be non-negative")
    rng = random.Random(seed)  # noqa: S311 (reproducible faults, not crypto)
    from_ids = [str(i) for i in range(1, records + 1)]
    to_ids = [str(GENERATED_TO_ID_OFFSET + i) for i in range(1, records + 1)]
    state.add_records(from_type, from_ids)
    state.add_records(to_type, to_ids)
    ft, tt = canonical_type(from_type), canonical_type(to_type)
    base = sorted(default_types(ft, tt))
    primary = PRIMARY_TYPE_IDS.get((ft, tt))
    count = min(associations, records * records)
    for index in rng.sample(range(records * records), count):
        f, t = divmod(index, records)
        types = list(base)
        if primary is not None and rng.random() < PRIMARY_SHARE:
            types.append(("HUBSPOT_DEFINED", primary))
        state.add_association(ft, from_ids[f], tt, to_ids[t], types)
    return state


def load_json(state: SimulatorState, data: dict[str, Any]) -> SimulatorState:
    """Load the seed JSON format (the same one `SimulatorState.snapshot()` writes)."""
    for object_type, ids in dict(data.get("records", {})).items():
        state.add_records(object_type, ids)
    for item in data.get("labels", []):
        state.define_label(
            item["fromObjectType"], item["toObjectType"], item["category"], item["typeId"], item.get("label")
        )
    for item in data.get("associations", []):
        raw_types = item.get("types")
        types = None if not raw_types else [(t["category"], t["typeId"]) for t in raw_types]
        state.add_association(
            item["fromObjectType"], item["fromId"], item["toObjectType"], item["toId"], types
        )
    return state


def load_csv(state: SimulatorState, path: Path) -> SimulatorState:
    """One row per label; an empty category/type_id gives the pair's default (unlabeled) type."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS[:4] if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing CSV columns {missing}")
        for row in reader:
            category, type_id = (row.get("category") or "").strip(), (row.get("type_id") or "").strip()
            types = [(category, int(type_id))] if category and type_id else None
            state.add_association(
                row["from_object_type"].strip(),
                row["from_id"].strip(),
                row["to_object_type"].strip(),
                row["to_id"].strip(),
                types,
            )
    return state


def load_file(state: SimulatorState, path: Path) -> SimulatorState:
    """JSON or CSV, chosen by suffix (or by the first character when the suffix says neither)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return load_csv(state, path)
    text = path.read_text(encoding="utf-8")
    if suffix == ".json" or text.lstrip().startswith("{"):
        return load_json(state, json.loads(text))
    return load_csv(state, path)
