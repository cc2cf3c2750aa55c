"""Input sources for the archive operators: parse and validate pairs as a stream.

Sources are lists/tuples (or any in-memory value an XComArg resolved to) and CSV/JSONL files
given as a local path or an ObjectStoragePath URI. Files are read line by line and may be read
twice (a validation pass, then a loading pass), so memory stays flat however large they are.
Every error is an `InputValidationError` that names the input: its list index or file line.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_hubassoc.models.associations import AssociationCategory, AssociationType
from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_record_id, short_repr

FILE_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_FROM_KEYS = ("from_id", "fromId", "from", "fromObjectId")
_TO_KEYS = ("to_id", "toId", "to", "toObjectId")
_TYPE_KEYS = ("types", "type", "labels", "label", "category", "associationCategory")


@dataclass(frozen=True)
class LabelName:
    """A label given by its text; resolved once through the labels endpoint."""

    name: str


TypeSpec = AssociationType | LabelName


@dataclass(frozen=True)
class ParsedPair:
    """One from->to pair (label archive: with the types to remove). `where` names its origin."""

    from_id: str
    to_id: str
    types: tuple[TypeSpec, ...]
    where: str


def is_file_input(value: Any) -> bool:
    """A string or path-like value names a file; anything else is an in-memory collection."""
    return isinstance(value, (str, Path)) or type(value).__name__ == "ObjectStoragePath"


def local_path(location: Any) -> Path | None:
    """The local file behind a plain path or a `file://` URI; None for object storage URIs."""
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        return None
    return Path(text.removeprefix("file://"))


def open_text(location: Any, mode: str = "r") -> Any:
    """Open a local path or an ObjectStoragePath URI (anything with '://') as UTF-8 text."""
    local = local_path(location)
    if local is None:
        from airflow.sdk import ObjectStoragePath  # heavy, only when a URI is used

        return ObjectStoragePath(str(location)).open(mode, encoding="utf-8", newline="")  # type: ignore[no-untyped-call]
    return open(local, mode, encoding="utf-8", newline="")


def path_exists(location: Any) -> bool:
    local = local_path(location)
    if local is None:
        from airflow.sdk import ObjectStoragePath

        return bool(ObjectStoragePath(str(location)).exists())
    return local.exists()


def _text_lines(handle: Any, name: str) -> Iterator[str]:
    """The file's lines; text that is not UTF-8, or a read that fails, is refused naming the place.

    Decoding happens a block at a time, so the line named is the one being read when it failed.
    """
    number = 0
    while True:
        try:
            line = next(handle)
        except StopIteration:
            return
        except UnicodeDecodeError as err:
            raise InputValidationError(
                f"{name} near line {number + 1}: not UTF-8 text ({err.reason})"
            ) from None
        except OSError as err:
            raise InputValidationError(f"{name} line {number + 1}: could not be read ({err})") from None
        number += 1
        yield line


class PairSource:
    """A re-iterable stream of validated pairs from one user-supplied `inputs` value."""

    def __init__(self, inputs: Any, *, labels: bool) -> None:
        self.labels = labels
        if inputs is None:
            raise InputValidationError("inputs is empty: give a list of pairs, an XComArg or a file path")
        if is_file_input(inputs):
            name = str(inputs)
            if not name.strip():
                raise InputValidationError("inputs is an empty string: expected a file path or URI")
            suffix = Path(name.split("?", 1)[0]).suffix.lower()
            if suffix not in FILE_SUFFIXES:
                raise InputValidationError(
                    f"inputs file {name!r} has an unknown format: expected a .csv, .jsonl or .ndjson file"
                )
            if not path_exists(name):
                raise InputValidationError(f"inputs file {name!r} does not exist")
            self.file: str | None = name
            self.format = FILE_SUFFIXES[suffix]
            self.items: list[Any] = []
        elif isinstance(inputs, Mapping):
            raise InputValidationError(
                "inputs is a single mapping: expected a list of pairs (wrap one pair in a list)"
            )
        elif isinstance(inputs, Iterable) and not isinstance(inputs, (bytes, bytearray)):
            self.file = None
            self.format = "list"
            # XCom values (including lazy sequences from mapped tasks) are already in memory.
            self.items = inputs if isinstance(inputs, list) else list(inputs)
        else:
            raise InputValidationError(
                f"inputs {inputs!r} is not usable: expected a list of pairs, an XComArg or a file path"
            )

    def describe(self) -> str:
        return f"{self.format} file {self.file}" if self.file else f"list of {len(self.items)} inputs"

    def __iter__(self) -> Iterator[ParsedPair]:
        if self.file is None:
            for index, item in enumerate(self.items):
                yield from parse_item(item, where=f"inputs[{index}]", labels=self.labels)
        elif self.format == "csv":
            yield from self._iter_csv(self.file)
        else:
            yield from self._iter_jsonl(self.file)

    def _iter_jsonl(self, name: str) -> Iterator[ParsedPair]:
        with open_text(name) as handle:
            for number, line in enumerate(_text_lines(handle, name), start=1):
                if not line.strip():
                    continue
                where = f"{name} line {number}"
                try:
                    item = json.loads(line)
                except ValueError as err:  # JSONDecodeError, or an integer literal past int()'s limit
                    reason = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
                    raise InputValidationError(f"{where}: malformed JSON ({reason})") from None
                yield from parse_item(item, where=where, labels=self.labels)

    def _iter_csv(self, name: str) -> Iterator[ParsedPair]:
        with open_text(name) as handle:
            reader = csv.reader(_text_lines(handle, name))
            header: list[str] | None = None
            fast: tuple[int, int] | None = None
            for row in _csv_rows(reader, name):
                number = reader.line_num
                if not row or all(not cell.strip() for cell in row):
                    continue
                if header is None:
                    header = [cell.strip() for cell in row]
                    _check_csv_header(header, name, labels=self.labels)
                    fast = _fast_columns(header) if not self.labels else None
                    continue
                if len(row) != len(header):
                    where = f"{name} line {number}"
                    raise InputValidationError(
                        f"{where}: expected {len(header)} columns ({', '.join(header)}), got {len(row)}"
                    )
                where = f"{name} line {number}"
                if fast is not None:  # batch archive: two id columns, no per-row dict
                    yield ParsedPair(
                        parse_record_id(row[fast[0]].strip(), field=f"{where}: from id"),
                        parse_record_id(row[fast[1]].strip(), field=f"{where}: to id"),
                        (),
                        where,
                    )
                    continue
                record = {key: cell.strip() for key, cell in zip(header, row, strict=True) if cell.strip()}
                if "types" in record:
                    # JSON types, else a plain label name or "CATEGORY:id"
                    with contextlib.suppress(ValueError):
                        record["types"] = json.loads(record["types"])
                yield from parse_item(record, where=where, labels=self.labels)
            if header is None:
                raise InputValidationError(f"inputs file {name!r} is empty")


def _csv_rows(reader: Any, name: str) -> Iterator[list[str]]:
    """The reader's rows; a row the csv module cannot read is refused naming the file and line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise InputValidationError(f"{name} line {reader.line_num}: unreadable CSV ({err})") from None
        yield row


def _fast_columns(header: list[str]) -> tuple[int, int] | None:
    """Column indexes of the from and to ids when the header holds nothing else to interpret."""
    from_key, _ = _first(dict.fromkeys(header), _FROM_KEYS)
    to_key, _ = _first(dict.fromkeys(header), _TO_KEYS)
    if from_key is None or to_key is None or any(k in header for k in _TYPE_KEYS):
        return None
    return header.index(from_key), header.index(to_key)


def _check_csv_header(header: list[str], name: str, *, labels: bool) -> None:
    if not any(k in header for k in _FROM_KEYS) or not any(k in header for k in _TO_KEYS):
        raise InputValidationError(
            f"{name} line 1: the CSV header {header!r} needs a from column ({'/'.join(_FROM_KEYS)}) "
            f"and a to column ({'/'.join(_TO_KEYS)})"
        )
    if labels and not any(k in header for k in (*_TYPE_KEYS, "typeId", "type_id", "associationTypeId")):
        raise InputValidationError(
            f"{name} line 1: the CSV header {header!r} needs the labels to remove: a 'label' column, "
            "'category' and 'type_id' columns, or a 'types' column"
        )


def _first(record: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in record:
            return key, record[key]
    return None, None


def _unwrap_id(value: Any) -> Any:
    """HubSpot's wire format wraps ids: {"id": "1"}."""
    if isinstance(value, Mapping) and "id" in value:
        return value["id"]
    return value


def parse_item(item: Any, *, where: str, labels: bool) -> Iterator[ParsedPair]:
    """Turn one user input (dict, tuple/list, or HubSpot wire format) into pairs, or refuse it."""
    types_value: Any = None
    has_types = False
    if isinstance(item, Mapping):
        from_key, from_value = _first(item, _FROM_KEYS)
        to_key, to_value = _first(item, _TO_KEYS)
        if from_key is None or to_key is None:
            raise InputValidationError(
                f"{where}: {short_repr(item)} needs a from id ({'/'.join(_FROM_KEYS)}) "
                f"and a to id ({'/'.join(_TO_KEYS)})"
            )
        types_value, has_types = _types_from_mapping(item, where)
    elif isinstance(item, (list, tuple)):
        if len(item) not in (2, 3) or (len(item) == 3 and not labels):
            expected = "(from_id, to_id, types)" if labels else "(from_id, to_id)"
            raise InputValidationError(f"{where}: {short_repr(item)} is not a pair: expected {expected}")
        from_value, to_value = item[0], item[1]
        if len(item) == 3:
            types_value, has_types = item[2], True
    else:
        raise InputValidationError(
            f"{where}: {short_repr(item)} is not a pair: expected a dict or a (from_id, to_id"
            f"{', types' if labels else ''}) tuple, got {type(item).__name__}"
        )
    if labels and not has_types:
        raise InputValidationError(f"{where}: {short_repr(item)} names no label to remove (types/label)")
    if not labels and has_types:
        raise InputValidationError(
            f"{where}: {short_repr(item)} names labels, but batch archive removes every association "
            "between the pair; use HubSpotArchiveAssociationLabelsOperator to remove labels"
        )
    from_id = parse_record_id(_unwrap_id(from_value), field=f"{where}: from id")
    to_values = to_value if isinstance(to_value, list) and not labels else [to_value]
    if not to_values:
        raise InputValidationError(f"{where}: {short_repr(item)} has an empty list of to ids")
    types = parse_types(types_value, where=where) if labels else ()
    for raw_to in to_values:
        to_id = parse_record_id(_unwrap_id(raw_to), field=f"{where}: to id")
        yield ParsedPair(from_id, to_id, types, where)


def _types_from_mapping(item: Mapping[str, Any], where: str) -> tuple[Any, bool]:
    if "types" in item:
        return item["types"], True
    if "labels" in item:
        return item["labels"], True
    if "type" in item:
        return item["type"], True
    if "label" in item:
        return item["label"], True
    cat_key, category = _first(item, ("category", "associationCategory"))
    id_key, type_id = _first(item, ("type_id", "typeId", "associationTypeId"))
    if cat_key is None and id_key is None:
        return None, False
    if cat_key is None or id_key is None:
        raise InputValidationError(f"{where}: {short_repr(item)} needs both a category and a type id")
    return {"category": category, "typeId": type_id}, True


def parse_types(value: Any, *, where: str) -> tuple[TypeSpec, ...]:
    """Accept one type or a list: a label name, (category, id), or a dict in either spelling."""
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and isinstance(value[0], str)
        and _is_type_id(value[1])
    ):
        specs: list[Any] = [value]
    elif isinstance(value, (list, tuple)):
        specs = list(value)
    else:
        specs = [value]
    if not specs:
        raise InputValidationError(f"{where}: the list of types is empty")
    out: list[TypeSpec] = []
    for spec in specs:
        parsed = parse_type(spec, where=where)
        if parsed not in out:
            out.append(parsed)
    return tuple(out)


def _is_type_id(value: Any) -> bool:
    """A (category, type id) pair has an int (or digit string) second; two label names do not."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit())


def _is_category(text: str) -> bool:
    return text.upper() in AssociationCategory.__members__


def parse_type(spec: Any, *, where: str) -> TypeSpec:
    """One association type: "Decision maker", "USER_DEFINED:36", ("USER_DEFINED", 36) or a dict."""
    category: Any
    type_id: Any
    if isinstance(spec, str):
        text = spec.strip()
        head, sep, tail = text.partition(":")
        if sep and _is_category(head.strip()) and tail.strip().isdigit():
            category, type_id = head.strip(), tail.strip()
        elif text:
            return LabelName(text)
        else:
            raise InputValidationError(f"{where}: an empty label name")
    elif isinstance(spec, (list, tuple)) and len(spec) == 2:
        category, type_id = spec
    elif isinstance(spec, Mapping):
        if "label" in spec and not any(k in spec for k in ("typeId", "associationTypeId", "type_id")):
            return parse_type(str(spec["label"]), where=where)
        category = spec.get("category", spec.get("associationCategory"))
        type_id = spec.get("typeId", spec.get("associationTypeId", spec.get("type_id")))
    else:
        raise InputValidationError(
            f"{where}: type {short_repr(spec)} is not usable: expected a label name, (category, type id) "
            "or {'category': ..., 'typeId': ...}"
        )
    if not isinstance(category, str) or not _is_category(category):
        raise InputValidationError(
            f"{where}: association category {category!r} is unknown: expected one of "
            f"{', '.join(AssociationCategory.__members__)}"
        )
    if isinstance(type_id, bool) or not (
        isinstance(type_id, int) or (isinstance(type_id, str) and type_id.strip().isdigit())
    ):
        raise InputValidationError(f"{where}: association type id {type_id!r} is not a positive integer")
    number = int(type_id)
    if number <= 0 or number > 2**31 - 1:
        raise InputValidationError(f"{where}: association type id {type_id!r} is out of range")
    return AssociationType(category=AssociationCategory(category.upper()), type_id=number)


__all__ = [
    "LabelName",
    "PairSource",
    "ParsedPair",
    "TypeSpec",
    "local_path",
    "open_text",
    "parse_item",
    "parse_type",
    "parse_types",
    "path_exists",
]
