"""The simulated CRM: records, label definitions and association edges, behind one lock.

An association is a directed edge (from record -> to record) holding a set of (category, typeId)
labels; it exists while the set is non-empty. Batch read may lag behind archives for a while
(`visibility_delay_s`); the Python accessors always show the truth.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hubassoc_simulator import facts
from hubassoc_simulator.facts import (
    DEFAULT_TYPE_IDS,
    HUBSPOT_DEFINED,
    HUBSPOT_LABELS,
    INVERSE_TYPE_IDS,
    PRIMARY_TYPE_IDS,
    STANDARD_OBJECT_TYPES,
)

Label = tuple[str, int]
Pair = tuple[str, str]
_HUBSPOT = HUBSPOT_DEFINED
__all__ = ["DEFAULT_TYPE_IDS", "PRIMARY_TYPE_IDS", "Label", "SimulatorState", "canonical_type"]


def canonical_type(object_type: str) -> str:
    """Map ids and singular names to the stored name ("0-1" -> "contacts"); custom types stay as given."""
    return facts.object_type(object_type) or object_type


def default_types(from_type: str, to_type: str) -> frozenset[Label]:
    type_id = DEFAULT_TYPE_IDS.get((from_type, to_type))
    return frozenset({(_HUBSPOT, type_id if type_id is not None else 1)})


def _label(category: Any, type_id: Any) -> Label:
    category = getattr(category, "value", category)  # an enum member reads as its value
    if category not in facts.CATEGORIES:
        raise ValueError(f"association category {category!r}: expected one of {sorted(facts.CATEGORIES)}")
    number = facts.type_id(type_id)
    if number is None:
        raise ValueError(f"association type id {type_id!r} must be an integer from 1 to {facts.INT32_MAX}")
    return (str(category), number)


def _record(value: Any) -> str:
    record = facts.record_id(value)
    if record is None:
        raise ValueError(f"record id {value!r} is not a positive 64-bit integer")
    return record


class SimulatorState:
    """Thread-safe store of records, labels and association edges."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._records: dict[str, set[str]] = {}
        self._custom_types: set[str] = set()
        self._labels: dict[Pair, dict[Label, str | None]] = {}
        # (from_type, to_type) -> from_id -> to_id -> labels
        self._edges: dict[Pair, dict[str, dict[str, set[Label]]]] = {}
        # Archived but still visible to batch read: ... -> to_id -> (visible_until, labels)
        self._ghosts: dict[Pair, dict[str, dict[str, tuple[float, set[Label]]]]] = {}
        # Every ghost written, soonest expiry first, so expired ones go without being read:
        # (visible_until, tie-breaker, pair, from_id, to_id). A renewed ghost leaves a stale entry.
        self._ghost_heap: list[tuple[float, int, Pair, str, str]] = []
        self._ghost_seq = itertools.count()
        for from_type, to_type, type_id, label in HUBSPOT_LABELS:
            self._labels.setdefault((from_type, to_type), {})[(_HUBSPOT, type_id)] = label

    @property
    def lock(self) -> threading.RLock:
        """Hold it to make several changes atomic (the API holds it for a whole batch)."""
        return self._lock

    # ----- object types and records -------------------------------------------------------
    def _known(self, object_type: str) -> str:
        """Canonical name of an object type, registering custom ones."""
        name = facts.object_type(object_type) if isinstance(object_type, str) else None
        if name is None:
            raise ValueError(f"object type {object_type!r} is not a HubSpot object type")
        if name not in STANDARD_OBJECT_TYPES:
            self._custom_types.add(name)
        return name

    def resolve_type(self, object_type: str) -> str | None:
        """Canonical name of a type the API knows, or None (the API answers 404)."""
        name = canonical_type(object_type)
        if name in STANDARD_OBJECT_TYPES or name in self._custom_types:
            return name
        return None

    def define_object_type(self, object_type: str) -> None:
        """Make a custom object type known without records (2-1234567 or p1234_cars)."""
        with self._lock:
            self._known(object_type)

    def add_records(self, object_type: str, ids: Iterable[str | int]) -> None:
        with self._lock:
            name = self._known(object_type)
            self._records.setdefault(name, set()).update(_record(i) for i in ids)

    def has_record(self, object_type: str, record_id: str) -> bool:
        return record_id in self._records.get(canonical_type(object_type), ())

    def record_ids(self, object_type: str) -> frozenset[str]:
        with self._lock:
            return frozenset(self._records.get(canonical_type(object_type), ()))

    # ----- labels -------------------------------------------------------------------------
    def define_label(
        self, from_type: str, to_type: str, category: str, type_id: int, label: str | None
    ) -> None:
        with self._lock:
            pair = (self._known(from_type), self._known(to_type))
            self._labels.setdefault(pair, {})[_label(category, type_id)] = label

    def label_definitions(self, from_type: str, to_type: str) -> list[dict[str, Any]]:
        with self._lock:
            defs = self._labels.get((canonical_type(from_type), canonical_type(to_type)), {})
            return [{"category": c, "typeId": t, "label": name} for (c, t), name in sorted(defs.items())]

    def label_name(self, pair: Pair, label: Label) -> str | None:
        return self._labels.get(pair, {}).get(label)

    # ----- associations -------------------------------------------------------------------
    def add_association(
        self,
        from_type: str,
        from_id: str | int,
        to_type: str,
        to_id: str | int,
        types: Iterable[tuple[str, int]] | None = None,
        *,
        mirror: bool = False,
    ) -> None:
        """Add labels to an edge (creating it and both records). `mirror` adds the reverse edge too."""
        with self._lock:
            ft, tt = self._known(from_type), self._known(to_type)
            fid, tid = _record(from_id), _record(to_id)
            labels = {_label(c, t) for c, t in types} if types is not None else set(default_types(ft, tt))
            if not labels:
                raise ValueError("an association needs at least one type")
            self._records.setdefault(ft, set()).add(fid)
            self._records.setdefault(tt, set()).add(tid)
            self._edges.setdefault((ft, tt), {}).setdefault(fid, {}).setdefault(tid, set()).update(labels)
            if mirror:
                reverse = {
                    (c, INVERSE_TYPE_IDS[t]) if c == _HUBSPOT and t in INVERSE_TYPE_IDS else (c, t)
                    for c, t in labels
                }
                self._edges.setdefault((tt, ft), {}).setdefault(tid, {}).setdefault(fid, set()).update(
                    reverse
                )

    def has_association(self, from_type: str, from_id: str, to_type: str, to_id: str) -> bool:
        return bool(self.labels_of(from_type, from_id, to_type, to_id))

    def labels_of(self, from_type: str, from_id: str, to_type: str, to_id: str) -> set[Label]:
        with self._lock:
            pair = (canonical_type(from_type), canonical_type(to_type))
            return set(self._edges.get(pair, {}).get(str(from_id), {}).get(str(to_id), ()))

    def count_with_type(self, from_type: str, from_id: str, to_type: str, label: Label) -> int:
        """How many to records `from_id` is associated with through `label` (association limits)."""
        with self._lock:
            tos = self._edges.get((canonical_type(from_type), canonical_type(to_type)), {}).get(
                str(from_id), {}
            )
            return sum(1 for labels in tos.values() if label in labels)

    def edges(self, from_type: str, to_type: str) -> dict[tuple[str, str], frozenset[Label]]:
        with self._lock:
            by_from = self._edges.get((canonical_type(from_type), canonical_type(to_type)), {})
            return {(f, t): frozenset(ls) for f, tos in by_from.items() for t, ls in tos.items()}

    def association_count(self, from_type: str | None = None, to_type: str | None = None) -> int:
        with self._lock:
            total = 0
            for (ft, tt), by_from in self._edges.items():
                if from_type is not None and ft != canonical_type(from_type):
                    continue
                if to_type is not None and tt != canonical_type(to_type):
                    continue
                total += sum(len(tos) for tos in by_from.values())
            return total

    # ----- archive (called by the API handlers; types already canonical) ------------------
    def _edge(self, pair: Pair, fid: str, tid: str) -> set[Label] | None:
        by_from = self._edges.get(pair)
        tos = by_from.get(fid) if by_from is not None else None
        return tos.get(tid) if tos is not None else None

    def _drop(self, pair: Pair, fid: str, tid: str, labels: set[Label] | None, ghost_until: float) -> None:
        """Remove `labels` (None = all) from one edge, remembering them for delayed reads."""
        by_from = self._edges.get(pair)
        current = by_from.get(fid, {}).get(tid) if by_from else None
        if current is None or by_from is None:
            return
        removed = set(current) if labels is None else current & labels
        current -= removed
        if not current:
            del by_from[fid][tid]
            if not by_from[fid]:
                del by_from[fid]
        if removed and ghost_until > 0:
            ghosts = self._ghosts.setdefault(pair, {}).setdefault(fid, {})
            _, before = ghosts.get(tid, (0.0, set()))
            ghosts[tid] = (ghost_until, before | removed)
            heapq.heappush(self._ghost_heap, (ghost_until, next(self._ghost_seq), pair, fid, tid))

    def _prune_ghosts(self) -> None:
        """Forget ghosts whose delay is over (lock held). O(1) when none has expired."""
        heap = self._ghost_heap
        if not heap:
            return
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, pair, fid, tid = heapq.heappop(heap)
            self._forget_ghost(pair, fid, tid, now)

    def _forget_ghost(self, pair: Pair, fid: str, tid: str, now: float) -> None:
        """Drop one expired ghost; one already read away, or renewed by a later archive, stays."""
        by_from = self._ghosts.get(pair, {})
        tos = by_from.get(fid, {})
        ghost = tos.get(tid)
        if ghost is None or ghost[0] > now:
            return
        del tos[tid]
        if not tos:
            del by_from[fid]
            if not by_from:
                del self._ghosts[pair]

    def expire_ghosts(self) -> None:
        """HubSpot's read index catches up now: every archived edge vanishes from batch read."""
        with self._lock:
            self._ghosts.clear()
            self._ghost_heap.clear()

    def ghost_count(self) -> int:
        """Archived edges still visible to batch read (expired ones may linger until the next archive)."""
        with self._lock:
            return sum(len(tos) for by_from in self._ghosts.values() for tos in by_from.values())

    def archive_pair(
        self, from_type: str, fid: str, to_type: str, tid: str, ghost_until: float = 0.0
    ) -> None:
        """Batch archive: drop the whole edge and its reverse edge."""
        with self._lock:
            self._prune_ghosts()
            self._drop((from_type, to_type), fid, tid, None, ghost_until)
            self._drop((to_type, from_type), tid, fid, None, ghost_until)

    def archive_labels(
        self, from_type: str, fid: str, to_type: str, tid: str, labels: set[Label], ghost_until: float = 0.0
    ) -> None:
        """Label archive: naming the pair's unlabeled type drops every label, as HubSpot documents.

        HubSpot-defined labels go from the reverse edge too (as their inverse ids). When this removes
        the last label of an existing edge, the association is gone, so the reverse edge goes as well;
        a reverse edge whose forward edge never existed (seeds need not mirror) keeps its other labels.
        """
        with self._lock:
            pair, reverse_pair = (from_type, to_type), (to_type, from_type)
            unlabeled = DEFAULT_TYPE_IDS.get(pair)
            if unlabeled is not None and (_HUBSPOT, unlabeled) in labels:
                self.archive_pair(from_type, fid, to_type, tid, ghost_until)
                return
            self._prune_ghosts()
            existed = bool(self._edge(pair, fid, tid))
            self._drop(pair, fid, tid, labels, ghost_until)
            inverse = {(c, INVERSE_TYPE_IDS[t]) for c, t in labels if c == _HUBSPOT and t in INVERSE_TYPE_IDS}
            if inverse:
                self._drop(reverse_pair, tid, fid, inverse, ghost_until)
            if existed and not self._edge(pair, fid, tid):
                self._drop(reverse_pair, tid, fid, None, ghost_until)

    def read(
        self, from_type: str, to_type: str, fid: str, now: float | None = None
    ) -> list[tuple[str, set[Label]]]:
        """What batch read shows for one record: (to_id, labels) sorted by numeric id, ghosts included."""
        with self._lock:
            pair = (from_type, to_type)
            visible: dict[str, set[Label]] = {
                t: set(ls) for t, ls in self._edges.get(pair, {}).get(fid, {}).items()
            }
            ghosts = self._ghosts.get(pair, {}).get(fid)
            if ghosts:
                moment = time.monotonic() if now is None else now
                for tid, (until, labels) in list(ghosts.items()):
                    if until <= moment:
                        del ghosts[tid]  # its heap entry is skipped when it comes up
                    else:
                        visible.setdefault(tid, set()).update(labels)
            return sorted(visible.items(), key=lambda item: int(item[0]))

    # ----- whole-state views ---------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The state in the seed JSON format (so a snapshot can seed another simulator)."""
        with self._lock:
            labels = [
                {"fromObjectType": ft, "toObjectType": tt, "category": c, "typeId": t, "label": name}
                for (ft, tt), defs in sorted(self._labels.items())
                for (c, t), name in sorted(defs.items())
            ]
            associations = [
                {
                    "fromObjectType": ft,
                    "fromId": fid,
                    "toObjectType": tt,
                    "toId": tid,
                    "types": [{"category": c, "typeId": t} for c, t in sorted(ls)],
                }
                for (ft, tt), by_from in sorted(self._edges.items())
                for fid, tos in sorted(by_from.items(), key=lambda item: int(item[0]))
                for tid, ls in sorted(tos.items(), key=lambda item: int(item[0]))
            ]
            records = {t: sorted(ids, key=int) for t, ids in sorted(self._records.items())}
            return {"records": records, "labels": labels, "associations": associations}

    @classmethod
    def generate(
        cls,
        records: int,
        associations: int,
        seed: int,
        from_type: str = "contacts",
        to_type: str = "companies",
    ) -> SimulatorState:
        """A deterministic random state; see `seed.generate` for the id layout."""
        from hubassoc_simulator.seed import generate

        return generate(cls(), records, associations, seed, from_type, to_type)

    @classmethod
    def from_file(cls, path: str | Path) -> SimulatorState:
        """Load a seed file: JSON (the `snapshot()` format) or CSV (one row per label)."""
        from hubassoc_simulator.seed import load_file

        return load_file(cls(), Path(path))
