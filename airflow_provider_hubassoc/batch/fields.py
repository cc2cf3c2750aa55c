"""The names an input may give a pair's fields, and the one rule every input kind follows.

A list item's keys, a JSONL object's keys, a CSV header and a query's columns all name the fields
the same way: `from_id`/`fromId`/`from`, `to_id`/`toId`/`to`, `types`/`labels`/`label`,
`category`/`associationCategory` and `type_id`/`typeId`/`associationTypeId`. Names match in any
case (`FROM_ID` is `from_id`), and one record names each field once: with two names for one side
(`from_id` and `fromId`, or `from_id` twice) one of them would silently win and the wrong
association would be removed, so the record is refused, naming both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_hubassoc.models.identifiers import InputValidationError, short_repr

FIELDS: dict[str, tuple[str, ...]] = {
    "from id": ("from_id", "fromId", "from"),
    "to id": ("to_id", "toId", "to"),
    "label": ("types", "labels", "label"),
    "label category": ("category", "associationCategory"),
    "label type id": ("type_id", "typeId", "associationTypeId"),
}
# The key each field is stored under once matched: a name every reader of a record accepts
# (`PairInput` at the top level, `AssociationType` and the label-name rule inside `types`).
KEYS: dict[str, str] = {
    "from id": "from_id",
    "to id": "to_id",
    "label": "label",
    "label category": "category",
    "label type id": "type_id",
}
FROM_KEYS = FIELDS["from id"]
TO_KEYS = FIELDS["to id"]
_FIELD_OF_NAME = {name.lower(): field for field, names in FIELDS.items() for name in names}
_STORED = frozenset(KEYS.values())


def field_of(name: object) -> str | None:
    """The field a key or column name gives (any case), or None for a name that is not ours."""
    return _FIELD_OF_NAME.get(name.lower()) if isinstance(name, str) else None


def field_keys(names: Iterable[object], *, noun: str = "key") -> list[str | None]:
    """The stored key each name feeds, in order (None: a name we ignore).

    Two names for one field are refused (naming both; `noun` "column" also gives their positions).
    """
    seen: dict[str, tuple[int, object]] = {}
    keys: list[str | None] = []
    for position, name in enumerate(names, start=1):
        field = field_of(name)
        if field is not None and field in seen:
            raise InputValidationError(_twice(field, seen[field], (position, name), noun))
        if field is not None:
            seen[field] = (position, name)
        keys.append(KEYS[field] if field is not None else None)
    return keys


def _twice(field: str, first: tuple[int, object], second: tuple[int, object], noun: str) -> str:
    where = f" (columns {first[0]} and {second[0]})" if noun == "column" else ""
    return (
        f"{noun}s {short_repr(first[1], 60)} and {short_repr(second[1], 60)}{where} both name the "
        f"{field} (names match in any case): keep one, or one of them would silently win"
    )


def with_field_keys(record: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """The record with each field under its stored key; other keys are kept as they are."""
    if record.keys() <= _STORED:  # the common case, and every CSV row: nothing to rename or refuse
        return record
    keys = field_keys(record)
    return {key or name: value for (name, value), key in zip(record.items(), keys, strict=True)}


__all__ = ["FIELDS", "FROM_KEYS", "KEYS", "TO_KEYS", "field_keys", "field_of", "with_field_keys"]
