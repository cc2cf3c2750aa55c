"""Where the operators' raw inputs come from: an in-memory list, or a CSV or JSONL file, streamed.

`iter_inputs(inputs)` yields `(where, record)`: `where` names the record for error messages
(`inputs[3]`, `pairs.csv line 40001`); a record is a list item, a CSV row as a mapping of its
non-blank cells, or a JSONL line's value. What a record means is `inputs.PairInput`'s business.

Files are local paths, `file://` URIs or object-storage URIs / `ObjectStoragePath`s. They are read
as bytes a block at a time and each line is decoded on its own, so memory stays flat, a line or a
CSV header costs at most `MAX_LINE_BYTES`, and a byte that is not UTF-8 is named at its exact line.
A UTF-8 byte-order mark is dropped.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from airflow_provider_hubassoc.batch.fields import FROM_KEYS, KEYS, TO_KEYS, field_keys
from airflow_provider_hubassoc.models.identifiers import InputValidationError, short_repr

FILE_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
MAX_LINE_BYTES = 1 << 20  # a longer line is refused: one line never costs more than a few MB
MAX_COLUMNS = 1_000
MAX_NESTING = 32  # a pair nests 3 deep ({"types": [{...}]}); json.loads recurses per level
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[^\[\]{}]")
_BLOCK = 1 << 16
_BOM = b"\xef\xbb\xbf"


# -- files ------------------------------------------------------------------------------------------


def is_file_input(value: Any) -> bool:
    """A string or path-like value names a file; anything else is an in-memory collection."""
    return isinstance(value, (str, Path)) or type(value).__name__ == "ObjectStoragePath"


def local_path(location: Any) -> Path | None:
    """The local file behind a plain path or a `file://` URI; None for object storage URIs."""
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        return None
    return Path(text.removeprefix("file://"))


def _open_bytes(location: Any) -> Any:
    """Open an input file for reading as bytes: lines are split and decoded here, one at a time."""
    local = local_path(location)
    if local is None:
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        return ObjectStoragePath(str(location)).open("rb")  # type: ignore[no-untyped-call]
    return open(local, "rb")


def path_exists(location: Any) -> bool:
    local = local_path(location)
    if local is None:
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        return bool(ObjectStoragePath(str(location)).exists())
    return local.exists()


def _byte_lines(handle: IO[bytes], name: str) -> Iterator[bytes]:
    """The file's lines without their `\\n`, read a block at a time; an overlong line is refused."""
    pending = b""
    done = 0
    while block := handle.read(_BLOCK):
        *lines, pending = (pending + block).split(b"\n")
        done += len(lines)
        yield from lines
        if len(pending) > MAX_LINE_BYTES:
            raise InputValidationError(f"{name} line {done + 1}: longer than {MAX_LINE_BYTES:,} bytes")
    if pending:
        yield pending


def _decode(raw: bytes, name: str, number: int) -> str:
    """UTF-8 text of one line (a leading byte-order mark dropped), or a refusal naming its line."""
    try:
        return (raw.removeprefix(_BOM) if number == 1 else raw).decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputValidationError(
            f"{name} line {number}: not UTF-8 text (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
        ) from None


def text_lines(name: str) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line of a UTF-8 file; each line is decoded on its own, so an
    error names its exact line."""
    number = 0
    try:
        with _open_bytes(name) as handle:
            for number, raw in enumerate(_byte_lines(handle, name), start=1):
                yield number, _decode(raw, name, number)
    except OSError as err:
        raise InputValidationError(f"{name} line {number + 1}: could not be read ({err})") from None


# -- sources ----------------------------------------------------------------------------------------


def _list_items(inputs: Any) -> Iterator[tuple[str, Any]]:
    """(where, item) for an in-memory list: XCom values, lazy sequences from mapped tasks included."""
    if inputs is None:
        raise InputValidationError("inputs is empty: give a list of pairs, an XComArg or a file path")
    if isinstance(inputs, Mapping):
        raise InputValidationError(
            "inputs is a single mapping: expected a list of pairs (wrap one pair in a list)"
        )
    if isinstance(inputs, (bytes, bytearray)) or not isinstance(inputs, Iterable):
        raise InputValidationError(
            f"inputs {short_repr(inputs)} is not usable: expected a list of pairs, an XComArg or a file path"
        )
    for index, item in enumerate(inputs):
        yield f"inputs[{index}]", item


def _file_items(location: Any) -> Iterator[tuple[str, Any]]:
    """(where, item) for each record of a CSV or JSONL file."""
    name = str(location)
    if not name.strip():
        raise InputValidationError("inputs is an empty string: expected a file path or URI")
    kind = FILE_SUFFIXES.get(Path(name.split("?", 1)[0]).suffix.lower())
    if kind is None:
        raise InputValidationError(
            f"inputs file {short_repr(name)} has an unknown format: expected a .csv, .jsonl or .ndjson file"
        )
    if not path_exists(name):
        raise InputValidationError(f"inputs file {short_repr(name)} does not exist")
    yield from _csv_items(name) if kind == "csv" else _jsonl_items(name)


def _jsonl_items(name: str) -> Iterator[tuple[str, Any]]:
    for number, text in text_lines(name):
        if text.strip():
            where = f"{name} line {number}"
            yield where, _json_value(text, where)


class _DuplicateKeyError(Exception):
    """One JSON object names a key twice (json.loads would silently keep the last value)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook`: a JSON object, refused when it repeats a key."""
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKeyError(key)
        record[key] = value
    return record


def _json_value(text: str, where: str) -> Any:
    if _nesting(text) > MAX_NESTING:
        raise InputValidationError(f"{where}: malformed JSON (nested deeper than {MAX_NESTING} levels)")
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKeyError as err:
        raise InputValidationError(
            f"{where}: key {short_repr(err.key, 60)} appears twice in one object: keep one, or one of "
            "them would silently win"
        ) from None
    except json.JSONDecodeError as err:
        raise InputValidationError(f"{where}: malformed JSON ({err.msg})") from None
    except ValueError as err:  # an integer literal past int()'s digit limit
        raise InputValidationError(f"{where}: malformed JSON ({err})") from None


def _nesting(text: str) -> int:
    """How deep the line's arrays and objects nest, counted before parsing: json.loads would hit
    Python's recursion limit on `[[[[...`, and a caught RecursionError can upset the interpreter."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return 0
    brackets = _BRACKETS.sub("", _JSON_STRING.sub("", text))
    return max(itertools.accumulate(1 if char in "[{" else -1 for char in brackets), default=0)


def _csv_items(name: str) -> Iterator[tuple[str, Any]]:
    """Each CSV row after the header as a mapping of its non-blank cells (blank lines skipped)."""
    reader = csv.reader(text for _, text in text_lines(name))
    header: list[str] | None = None
    for row in _csv_rows(reader, name):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{name} line {reader.line_num}"
        if header is None:
            header = _csv_header(row, where)
        else:
            yield where, _csv_record(header, row, where)


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


def _csv_header(row: list[str], where: str) -> list[str]:
    """The key each column feeds (a field's stored key, or the column's own name when it is not
    one of ours); names match in any case, and two columns naming one field are refused."""
    if len(row) > MAX_COLUMNS:
        raise InputValidationError(
            f"{where}: the CSV header has {len(row):,} columns; at most {MAX_COLUMNS:,} are read"
        )
    names = [cell.strip() for cell in row]
    try:
        keys = field_keys(names, noun="column")
    except InputValidationError as err:
        raise InputValidationError(f"{where}: the CSV header {short_repr(names)}: {err}") from None
    if not {KEYS["from id"], KEYS["to id"]} <= set(keys):
        raise InputValidationError(
            f"{where}: the CSV header {short_repr(names)} needs a from column ({'/'.join(FROM_KEYS)}) "
            f"and a to column ({'/'.join(TO_KEYS)}), in any case"
        )
    return [key or name for key, name in zip(keys, names, strict=True)]


def _csv_record(header: list[str], row: list[str], where: str) -> dict[str, str]:
    if len(row) != len(header):
        raise InputValidationError(
            f"{where}: expected {len(header)} columns ({short_repr(','.join(header))}), got {len(row)}"
        )
    return {key: cell.strip() for key, cell in zip(header, row, strict=True) if cell.strip()}


def iter_inputs(inputs: Any) -> Iterator[tuple[str, Any]]:
    """(where, raw item) for every user input, streamed from a list or a file."""
    return _file_items(inputs) if is_file_input(inputs) else _list_items(inputs)


__all__ = [
    "FILE_SUFFIXES",
    "FROM_KEYS",
    "MAX_LINE_BYTES",
    "TO_KEYS",
    "is_file_input",
    "iter_inputs",
    "local_path",
]
