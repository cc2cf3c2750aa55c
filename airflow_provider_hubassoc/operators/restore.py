"""Undo an archive run: re-create, with batch create, exactly what its report's snapshot shows it removed.

An archive run with `snapshot=True` writes, before each chunk is sent, what each pair had (each
type's category, type id and label). A pair is re-created with those types when the run removed
it (`confirmed`, `accepted`, or done by an earlier attempt of that run) or may have (snapshot
written, then a crash before its outcome: creating what exists is safe). Pairs that were absent,
failed or never attempted are left alone. When a retry of the run re-read a pair an earlier
attempt had already removed, the earlier snapshot (carried first into the report) wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_hubassoc.operators.base import BaseHubSpotArchiveOperator

if TYPE_CHECKING:
    from airflow_provider_hubassoc.batch.outcomes import ChunkOutcome
    from airflow_provider_hubassoc.batch.store import Chunk, PairStore
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.models.associations import AssociationType
    from airflow_provider_hubassoc.models.responses import BatchResult
    from airflow_provider_hubassoc.models.summary import Operation

ARCHIVE_OPERATIONS = ("batch_archive", "label_archive")
IN_DOUBT = "in_doubt"  # a snapshot without a pair line: the run crashed between the two
Key = tuple[str, str]


@dataclass
class RestorePlan:
    """What an archive report says: its header, each pair's first snapshot, each pair's last status."""

    path: str
    header: dict[str, Any] | None = None
    snapshots: dict[Key, tuple[AssociationType, ...]] = field(default_factory=dict)
    statuses: dict[Key, str] = field(default_factory=dict)

    def removed(self, keep: Callable[[Key], bool]) -> Iterable[dict[str, Any]]:
        """Restore inputs: the pairs the run removed (or may have), with their recorded types."""
        from airflow_provider_hubassoc.batch.report import ACCEPTED, CONFIRMED, DONE_EARLIER

        restorable = {CONFIRMED, ACCEPTED, DONE_EARLIER, IN_DOUBT}
        for key, types in self.snapshots.items():
            if types and keep(key) and self.statuses.get(key, IN_DOUBT) in restorable:
                # "CATEGORY:id" text: the input edge parses each distinct one once (cached)
                yield {
                    "from_id": key[0],
                    "to_id": key[1],
                    "types": [f"{t.category.value}:{t.type_id}" for t in types],
                }


def read_plan(path: str) -> RestorePlan:
    """Read an archive report in one pass. Raises `ReportUnreadableError` / `InputValidationError`."""
    from airflow_provider_hubassoc.batch.report import (
        KIND_HEADER,
        KIND_PAIR,
        KIND_SNAPSHOT,
        iter_report_objects,
        pair_status,
        snapshot_types,
    )

    plan = RestorePlan(path)
    parsed: dict[str, tuple[AssociationType, ...]] = {}  # a run has few distinct type sets: parse each once
    for line in iter_report_objects(path, (KIND_HEADER, KIND_PAIR, KIND_SNAPSHOT)):
        kind = line["kind"]
        if kind == KIND_HEADER:
            plan.header = plan.header or line
            continue
        key = (str(line.get("fromId")), str(line.get("toId")))
        if kind == KIND_PAIR:
            plan.statuses[key] = pair_status(line)
        elif key not in plan.snapshots:
            raw = json.dumps(line.get("types"), sort_keys=True)
            if raw not in parsed:
                parsed[raw] = snapshot_types(line, f"report {path!r}, snapshot of {key[0]}->{key[1]}")
            plan.snapshots[key] = parsed[raw]
    return plan


def check_plan(plan: RestorePlan, from_type: str | None, to_type: str | None) -> tuple[str, str]:
    """The archive run's object types; refuses a report this operator cannot undo (ValueError)."""
    header = plan.header
    if header is None or header.get("operation") not in ARCHIVE_OPERATIONS:
        raise ValueError(f"report_path {plan.path!r} is not the report of an archive run")
    if header.get("dryRun"):
        raise ValueError(f"report_path {plan.path!r} is a dry run's report: it removed nothing")
    if not plan.snapshots:
        raise ValueError(
            f"report_path {plan.path!r} has no snapshot: the run did not record what it removed "
            "(run the archive operators with snapshot=True to make a clean-up undoable)"
        )
    recorded = (str(header.get("fromObjectType")), str(header.get("toObjectType")))
    from airflow_provider_hubassoc.models.identifiers import parse_object_type

    names = ("from_object_type", "to_object_type")
    for given, found, name in zip((from_type, to_type), recorded, names, strict=True):
        if given and parse_object_type(given, field=name) != found:
            raise ValueError(
                f"report_path {plan.path!r} is from a {recorded[0]} -> {recorded[1]} run, but "
                f"{name} is {given!r}: a restore re-creates associations between the same types"
            )
    return recorded


def pair_filter(from_ids: Any, pairs: Any) -> Callable[[Key], bool]:
    """Which pairs to restore: all, those of `from_ids`, or exactly `pairs`. Raises
    `InputValidationError` naming the bad item."""
    from airflow_provider_hubassoc.batch.inputs import parse_input
    from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_record_id

    if from_ids is not None:
        if isinstance(from_ids, (str, bytes, int)) or not isinstance(from_ids, Iterable):
            raise InputValidationError(
                f"from_ids must be a list of record ids, got {type(from_ids).__name__}"
            )
        wanted_from = {parse_record_id(i, field=f"from_ids[{n}]") for n, i in enumerate(from_ids)}
        return lambda key: key[0] in wanted_from
    if pairs is not None:
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
            raise InputValidationError(f"pairs must be a list of pairs, got {type(pairs).__name__}")
        wanted: set[Key] = set()
        for n, item in enumerate(pairs):
            parsed = parse_input(item, where=f"pairs[{n}]", with_labels=False)
            wanted.update((parsed.from_id, to_id) for to_id in parsed.to_ids)
        return lambda key: key in wanted
    return lambda key: True


class HubSpotRestoreAssociationsOperator(BaseHubSpotArchiveOperator):
    """Re-create what an archive run with `snapshot=True` removed (`batch/create`), from its report.

    :param report_path: the archive run's report (local path or object storage URI).
    :param restore_report_path: this restore's own report (and checkpoint): give one per run.
    :param from_ids: restore only the pairs of these from records; or
    :param pairs: restore only these pairs (`(from_id, to_id)` or `{"from_id":..., "to_id":...}`).
    :param from_object_type, to_object_type: optional; when given they must match the report's.

    Same conventions as the archive operators (chunking, governor, retries, `on_error`, checkpoint,
    summary). Dry run: `wouldRemove` counts the pairs that would be re-created (some recorded type
    is missing now), `absent` those that already hold every recorded type.
    """

    template_fields: Sequence[str] = (
        "hubspot_conn_id",
        "archive_report_path",
        "report_path",
        "from_ids",
        "pairs",
        "api_version",
    )
    operation: ClassVar[Operation] = "batch_create"
    with_labels: ClassVar[bool] = True
    progress_verb: ClassVar[str] = "restored"
    ui_color = "#7fc97f"

    def __init__(
        self,
        *,
        report_path: str,
        restore_report_path: str | None = None,
        from_ids: Any = None,
        pairs: Any = None,
        from_object_type: str | None = None,
        to_object_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        for refused in ("read_back", "snapshot", "inputs", "resume"):
            if kwargs.pop(refused, None):
                raise ValueError(
                    f"{refused} is not an argument of a restore (it re-creates from report_path)"
                )
        if from_ids is not None and pairs is not None:
            raise ValueError("give from_ids or pairs, not both")
        super().__init__(
            from_object_type=from_object_type or "",
            to_object_type=to_object_type or "",
            inputs=None,
            report_path=restore_report_path,
            **kwargs,
        )
        self.archive_report_path = report_path
        self.from_ids = from_ids
        self.pairs = pairs
        self._plan: RestorePlan | None = None
        self._keep: Callable[[Key], bool] = lambda key: True

    def send(self, client: HubSpotClient, chunk: Chunk, from_type: str, to_type: str) -> BatchResult:
        return client.create_associations(from_type, to_type, chunk.pairs)

    def check(self, client: HubSpotClient, chunk: Chunk, from_type: str, to_type: str) -> ChunkOutcome:
        """Dry run: a pair holding every recorded type already is `absent` (nothing to re-create)."""
        from airflow_provider_hubassoc.batch.outcomes import ChunkOutcome, Verdict
        from airflow_provider_hubassoc.batch.readback import index_labels

        read = client.read_associations(from_type, to_type, chunk.from_ids())
        indexes = {from_id: index_labels(records) for from_id, records in read.associations.items()}
        verdicts = []
        for pair in chunk.pairs:
            held = indexes.get(pair.from_id, {}).get(pair.to_id, set())
            missing = {(t.category.value, t.type_id) for t in pair.types} - held
            verdicts.append(
                Verdict("would_remove", None, "would be re-created")
                if missing
                else Verdict("absent", None, "every recorded type is present already")
            )
        return ChunkOutcome(chunk, verdicts, sent=False)

    # -- before any request ---------------------------------------------------------------------
    def _object_types(self) -> tuple[str, str]:
        """The archive report is read and checked first: its types are the restore's."""
        from airflow_provider_hubassoc.batch.report import ReportUnreadableError
        from airflow_provider_hubassoc.models.identifiers import InputValidationError

        try:
            self._keep = pair_filter(self.from_ids, self.pairs)
            self._plan = read_plan(self.archive_report_path)
            recorded = check_plan(self._plan, self.from_object_type or None, self.to_object_type or None)
        except (ReportUnreadableError, InputValidationError, ValueError) as err:
            self._refuse(err)
        self.from_object_type, self.to_object_type = recorded
        return super()._object_types()

    def _load(self, store: PairStore, client: HubSpotClient, from_type: str, to_type: str) -> str:
        from airflow_provider_hubassoc.batch.inputs import input_digest

        assert self._plan is not None, "_object_types reads the plan first"
        self.inputs = list(self._plan.removed(self._keep))
        self.log.info(
            "restoring from %s: %d pairs with recorded types to re-create (of %d snapshots)",
            self.archive_report_path,
            len(self.inputs),
            len(self._plan.snapshots),
        )
        self._plan = None  # the inputs hold what is needed; free the rest
        if not self.inputs:
            self.log.warning("nothing to restore: no removed pair with recorded types matches")
            return input_digest(store)
        return super()._load(store, client, from_type, to_type)
