"""Record ids and object types, validated before they can reach a URL path or a request body."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

# HubSpot record ids are positive signed 64-bit integers, sent as digit strings.
MAX_RECORD_ID = 2**63 - 1

# Association type ids are int32 in HubSpot's API: a larger one is refused there, so here first.
MAX_TYPE_ID = 2**31 - 1

# Standard names ("contacts", "line_items"), object type ids ("0-1", "2-1234567"), and fully
# qualified custom object names ("p1234_cars", "p1234_MyObject": HubSpot allows either case).
# Nothing else may reach a URL path.
_OBJECT_TYPE_RE = re.compile(
    r"^(?:[0-9]-[0-9]{1,12}|p[0-9]{1,12}_[A-Za-z][A-Za-z0-9_]{0,99}|[a-z][a-z0-9_]{0,99})$"
)


class InputValidationError(ValueError):
    """Bad user input, found before any request is sent. The message names the input."""


def short_repr(value: Any, limit: int = 120) -> str:
    """`repr(value)` cut to `limit` characters: a 1 MB bogus input must not become a 1 MB message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _positive_int(value: Any, field: str, kind: str, maximum: int) -> int:
    """One rule for ids and type ids: an int, or a string of ASCII digits, from 1 to `maximum`.

    Other digits ("²", "٣٦") are refused although `int()` would take some of them.
    """
    if isinstance(value, bool):
        raise InputValidationError(f"{field} {value!r} is not a {kind} (booleans are refused)")
    if isinstance(value, int):
        return _in_range(value, field, maximum)
    if not isinstance(value, str):
        raise InputValidationError(
            f"{field} {short_repr(value)} is not a {kind}: expected a digit string or an int, "
            f"got {type(value).__name__}"
        )
    return _from_digits(value, field, kind, maximum)


def _in_range(value: int, field: str, maximum: int) -> int:
    if not 0 < value <= maximum:  # compared as ints: str() of a huge int would raise
        shown = short_repr(value) if value.bit_length() < 4000 else "<huge int>"
        raise InputValidationError(f"{field} {shown} is out of range: expected 1 to {maximum}")
    return value


def _from_digits(value: str, field: str, kind: str, maximum: int) -> int:
    if not value or not value.isascii() or not value.isdigit():
        raise InputValidationError(f"{field} {short_repr(value)} is not a {kind}: expected ASCII digits only")
    digits = value.lstrip("0")
    # Longer text is refused before int(), which Python caps at 4,300 digits.
    if not digits or len(digits) > len(str(maximum)) or int(digits) > maximum:
        raise InputValidationError(f"{field} {short_repr(value)} is out of range: expected 1 to {maximum}")
    return int(digits)


def parse_record_id(value: Any, *, field: str = "record id") -> str:
    """Return the canonical digit string of a HubSpot record id, or raise naming the value."""
    return str(_positive_int(value, field, "record id", MAX_RECORD_ID))


def parse_type_id(value: Any, *, field: str = "association type id") -> int:
    """Return an association type id (int32, positive), or raise naming the value."""
    return _positive_int(value, field, "type id", MAX_TYPE_ID)


def parse_object_type(value: Any, *, field: str = "object type") -> str:
    """Return a safe object type, or raise naming it. Path tricks ("../", "%2F") never pass."""
    if not isinstance(value, str):
        raise InputValidationError(f"{field} {short_repr(value)} is not an object type: expected a string")
    if not _OBJECT_TYPE_RE.fullmatch(value):
        raise InputValidationError(
            f"{field} {short_repr(value)} is not a HubSpot object type: expected a standard name such as "
            "'contacts', an object type id such as '0-1' or '2-1234567', or a fully qualified "
            "custom object name such as 'p1234_cars' or 'p1234_MyObject'"
        )
    return value


RecordId = Annotated[str, BeforeValidator(parse_record_id)]
TypeId = Annotated[int, BeforeValidator(parse_type_id)]
ObjectType = Annotated[str, BeforeValidator(parse_object_type)]
