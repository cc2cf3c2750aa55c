"""The operators' input edge: read the user's `inputs`, validate each pair once, spill it to the store.

API for the operators (one streaming pass; nothing is sent until it returns):

    with PairStore() as store:
        report = load_pairs(inputs, store)                                # batch archive
        report = load_pairs(inputs, store, labels=lambda: LabelCatalog(   # label archive
            from_type, to_type, client.list_labels(from_type, to_type)))
        report.empty                                                      # no pair: nothing to do
        for chunk in store.chunks(batch_size): ...

`load_pairs` reads the whole input once, validating every pair and spilling it to the store; then,
for label archive only, it calls `labels()` (the one labels request, made only once the input is
known to be well formed) and checks every label the input names, by name or by type. Any refusal
is an `InputValidationError` naming the input (list index or file line), at most
`MAX_MESSAGE` characters; errors raised by `labels()` itself (HubSpot errors) propagate unchanged.
An input with no records loads zero pairs (`fail_on_empty=True` refuses it, naming the input).
Field names follow `batch/fields.py`: any case, and a record that names one side twice is refused.

Dialects: `inputs` is a list (or any iterable an XComArg resolved to) of pairs, a CSV or JSONL
file (`operators/sources.py` reads them), or a `SqlSource` query (`operators/sql_source.py`).
One pair is `PairInput`: a mapping (`from_id`/`fromId`/`from`, `to_id`/`toId`/`to`, HubSpot's
`{"id": ...}` wrappers, a list of to ids, and for label archive its labels) or a
`(from_id, to_id[, labels])` list.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from airflow_provider_hubassoc.batch.fields import FIELDS, FROM_KEYS, KEYS, TO_KEYS, with_field_keys
from airflow_provider_hubassoc.batch.labels import LabelCatalog, LabelName, LabelSpec, spec_key
from airflow_provider_hubassoc.batch.sources import is_file_input, iter_inputs
from airflow_provider_hubassoc.batch.sql_source import SqlSource
from airflow_provider_hubassoc.batch.store import PairStore, Row
from airflow_provider_hubassoc.models.associations import AssociationCategory, AssociationType
from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_record_id, short_repr

MAX_MESSAGE = 1_800  # a refusal, plus the operator's prefix, stays under 2,000 characters


# -- one pair ---------------------------------------------------------------------------------------


def _unwrap_id(value: Any) -> Any:
    """HubSpot's wire format wraps ids: {"id": "1"}."""
    return value["id"] if isinstance(value, Mapping) and "id" in value else value


def _from_id(value: Any) -> str:
    return parse_record_id(_unwrap_id(value), field="from id")


def _to_ids(value: Any) -> tuple[str, ...]:
    """One to id, or a list of them (HubSpot's batch-archive wire form)."""
    if not isinstance(value, list):
        return (parse_record_id(_unwrap_id(value), field="to id"),)
    if not value:
        raise InputValidationError("an empty list of to ids")
    return tuple(parse_record_id(_unwrap_id(v), field="to id") for v in value)


def _looks_like_type_id(value: Any) -> bool:
    """The second of (category, type id) is a number; the second of two label names is not."""
    if isinstance(value, str):
        return value.strip().lstrip("-").isdigit()
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_spec_list(value: Any) -> bool:
    """A list of labels, unless it is one `(category, type id)`."""
    if not isinstance(value, (list, tuple)):
        return False
    return not (len(value) == 2 and isinstance(value[0], str) and _looks_like_type_id(value[1]))


@functools.lru_cache(maxsize=1024)  # a run names a few labels, each on many pairs
def _text_spec(text: str) -> LabelSpec:
    """`"USER_DEFINED:36"` is a type; any other text is a label name."""
    head, sep, tail = text.strip().partition(":")
    if sep and head.strip().upper() in AssociationCategory.__members__:
        return AssociationType.model_validate({"category": head, "typeId": tail.strip()})
    if not text.strip():
        raise InputValidationError("an empty label name")
    return LabelName(text.strip())


def _label_text(value: Any) -> str:
    if not isinstance(value, str):
        raise InputValidationError(f"label {short_repr(value)} is not usable: expected text")
    return value


def _label_spec(spec: Any) -> LabelSpec:
    """One label: a name, `"CATEGORY:id"`, `(category, type id)`, or a mapping in either spelling."""
    if isinstance(spec, str):
        return _text_spec(spec)
    if isinstance(spec, Mapping):
        return _mapping_spec(with_field_keys(spec))
    if isinstance(spec, (list, tuple)) and len(spec) == 2:
        return AssociationType.model_validate({"category": spec[0], "typeId": spec[1]})
    raise InputValidationError(
        f"label {short_repr(spec)} is not usable: expected a label name, (category, type id) "
        "or {'category': ..., 'typeId': ...}"
    )


def _mapping_spec(spec: Mapping[Any, Any]) -> LabelSpec:
    """`{"label": ...}` is a name; with a type id (as the labels endpoint lists them) it is the type."""
    if KEYS["label"] in spec and KEYS["label type id"] not in spec:
        return _text_spec(_label_text(spec[KEYS["label"]]))
    return AssociationType.model_validate(spec)


def _label_specs(value: Any) -> tuple[LabelSpec, ...]:
    specs = list(value) if _is_spec_list(value) else [value]
    if not specs:
        raise InputValidationError("the list of labels is empty")
    return tuple(dict.fromkeys(_label_spec(spec) for spec in specs))


_FROM = AliasChoices(*FROM_KEYS)
_TO = AliasChoices(*TO_KEYS)
_LABELS = AliasChoices(*FIELDS["label"])
# One label as two top-level keys (how CSV rows name it); any of them makes the pair a labelled one.
_FLAT_TYPE = (KEYS["label category"], KEYS["label type id"])
_FLAT_KEYS = frozenset(_FLAT_TYPE)


def _names(aliases: AliasChoices) -> str:
    return "/".join(str(choice) for choice in aliases.choices)


class PairInput(BaseModel):
    """One user input: a from record, one or more to records and, for label archive, its labels.

    Keys: `from_id`/`fromId`/`from`, `to_id`/`toId`/`to` (an id, `{"id": ...}`, or a list of
    them), and `types`/`labels`/`label` (one label or a list), or `category` with `type_id`/
    `typeId`. A `(from_id, to_id[, labels])` list is read the same way. Other keys are ignored.
    """

    model_config = ConfigDict(frozen=True)

    from_id: Annotated[str, BeforeValidator(_from_id)] = Field(validation_alias=_FROM)
    to_ids: Annotated[tuple[str, ...], BeforeValidator(_to_ids)] = Field(validation_alias=_TO)
    labels: Annotated[tuple[LabelSpec, ...], BeforeValidator(_label_specs)] = Field(
        default=(), validation_alias=_LABELS
    )

    @model_validator(mode="before")
    @classmethod
    def _as_mapping(cls, item: Any) -> Any:
        if isinstance(item, Mapping):
            return _with_flat_type(with_field_keys(item))
        if isinstance(item, (list, tuple)) and len(item) in (2, 3):
            return dict(zip(("from_id", "to_id", "types"), item, strict=False))
        raise InputValidationError(
            f"{short_repr(item)} is not a pair: expected a mapping or a (from_id, to_id[, labels]) "
            f"list, got {type(item).__name__}"
        )


def _with_flat_type(item: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """`{"category": ..., "type_id": ...}` beside the ids is one label (how CSV rows name it).

    A record that also names a label by `label`/`labels`/`types` names it twice: refused, as
    either one silently winning could remove the wrong label."""
    if _FLAT_KEYS.isdisjoint(item):
        return item
    flat = [key for key in _FLAT_TYPE if key in item]
    if KEYS["label"] in item:
        raise InputValidationError(
            f"{short_repr(item)} names its label twice, by {_names(_LABELS)} and by "
            f"{' and '.join(flat)}: keep one"
        )
    return {**item, KEYS["label"]: {key: item[key] for key in flat}}


def _refusal(err: ValidationError, item: Any) -> str:
    """What a failed validation means, in the input's own terms."""
    first = err.errors(include_url=False)[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, InputValidationError):
        return str(cause)
    if first["type"] == "missing" and first["loc"][-1] in (_FROM.choices[0], _TO.choices[0]):
        return f"{short_repr(item)} needs a from id ({_names(_FROM)}) and a to id ({_names(_TO)})"
    if first["type"] == "missing":
        return f"label {short_repr(first['input'])} needs both a category and a type id"
    return f"{short_repr(item)} is not usable: {first['msg']}"


def parse_input(item: Any, *, where: str, with_labels: bool) -> PairInput:
    """Validate one user input, or refuse it naming `where`."""
    try:
        parsed = PairInput.model_validate(item)
    except ValidationError as err:
        raise InputValidationError(f"{where}: {_refusal(err, item)}") from None
    if with_labels and not parsed.labels:
        raise InputValidationError(
            f"{where}: {short_repr(item)} names no label to remove ({_names(_LABELS)}, or category "
            "and type_id)"
        )
    if parsed.labels and not with_labels:
        raise InputValidationError(
            f"{where}: {short_repr(item)} names labels, but batch archive removes every association "
            "between the pair; use HubSpotArchiveAssociationLabelsOperator to remove labels"
        )
    return parsed


# -- the whole input --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadReport:
    """What `load_pairs` found: the totals the summary starts from, warnings to log, and the
    digest of the pairs to send (a retry's checkpoint applies only to the same pairs)."""

    description: str
    requested: int
    duplicates: int
    warnings: list[str] = field(default_factory=list)
    digest: str = ""

    @property
    def empty(self) -> bool:
        """The input held no pairs: the run has nothing to do."""
        return self.requested == 0


@dataclass
class _Tally:
    inputs: int = 0


def _rows(items: Iterator[tuple[str, Any]], with_labels: bool, tally: _Tally) -> Iterator[Row]:
    """Store rows, one per pair and label; `tally` counts the inputs read."""
    for where, item in items:
        tally.inputs += 1
        parsed = parse_input(item, where=where, with_labels=with_labels)
        keys = [spec_key(spec) for spec in parsed.labels] or [""]
        for to_id in parsed.to_ids:
            for key in keys:
                yield parsed.from_id, to_id, key, where


def _items(inputs: Any) -> Generator[tuple[str, Any], None, None]:
    """(where, raw item) for every user input: a query's rows, or a list's or a file's items.
    Closing it closes the query's cursor and connection (a refusal stops the read early)."""
    yield from inputs.records() if isinstance(inputs, SqlSource) else iter_inputs(inputs)


def _describe(inputs: Any, count: int) -> str:
    if isinstance(inputs, SqlSource):
        return f"{inputs.describe()} ({count} rows)"
    return f"file {inputs}" if is_file_input(inputs) else f"list of {count} inputs"


def input_digest(store: PairStore) -> str:
    """The digest of the loaded pairs (`PairStore.digest`): what a retry's checkpoint is checked
    against. The same pairs give the same digest whatever the input's order or duplicates."""
    return store.digest()


def _unlabeled_warnings(store: PairStore, catalog: LabelCatalog) -> list[str]:
    """Archiving the unlabeled type removes every label of the pair: allowed, but said."""
    hubspot = AssociationCategory.HUBSPOT_DEFINED
    warnings = []
    for type_id, count in sorted(store.type_counts(hubspot, catalog.unlabeled_type_ids()).items()):
        first = store.first_where(spec_key(AssociationType(category=hubspot, type_id=type_id)))
        warnings.append(
            f"{count} pair(s) (first: {first}) name HUBSPOT_DEFINED type {type_id}, the unlabeled "
            f"association between {catalog.from_type} and {catalog.to_type}: HubSpot then removes "
            "every label of those pairs, not just this one"
        )
    return warnings


def _bounded(err: InputValidationError) -> InputValidationError:
    text = str(err)
    return err if len(text) <= MAX_MESSAGE else InputValidationError(text[: MAX_MESSAGE - 3] + "...")


def load_pairs(
    inputs: Any,
    store: PairStore,
    *,
    labels: Callable[[], LabelCatalog] | None = None,
    fail_on_empty: bool = False,
) -> LoadReport:
    """Validate the whole input in one streaming pass into `store`; label archive iff `labels`.

    An input with no records (an empty list, a header-only CSV, a query with no rows: a nightly
    job with nothing to do) loads zero pairs and asks HubSpot nothing; `fail_on_empty` refuses it.
    Raises `InputValidationError` (bounded, naming the input) before anything can be sent.
    """
    tally = _Tally()
    try:
        with contextlib.closing(_items(inputs)) as items:  # a refusal mid-query closes the cursor
            store.add(_rows(items, labels is not None, tally))
        description = _describe(inputs, tally.inputs)
        if tally.inputs == 0 and fail_on_empty:
            raise InputValidationError(f"inputs is empty ({description}) and fail_on_empty is set")
        warnings: list[str] = []
        if labels is not None and tally.inputs:  # nothing to check when there are no pairs
            catalog = labels()
            store.apply_labels(catalog.resolve)
            warnings = _unlabeled_warnings(store, catalog)
    except InputValidationError as err:
        raise _bounded(err) from None
    return LoadReport(description, store.pair_count, store.duplicates, warnings, input_digest(store))


__all__ = ["MAX_MESSAGE", "LoadReport", "PairInput", "input_digest", "load_pairs", "parse_input"]
