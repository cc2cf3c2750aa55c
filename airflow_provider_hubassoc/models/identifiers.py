"""Record ids and object types, validated before they can reach a URL path or a request body."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

# HubSpot record ids are positive signed 64-bit integers, sent as digit strings.
MAX_RECORD_ID = 2**63 - 1

# Standard names ("contacts", "line_items"), object type ids ("0-1", "2-1234567"),
# and fully qualified custom object names ("p1234_cars"). Nothing else may reach a URL path.
_OBJECT_TYPE_RE = re.compile(
    r"^(?:[0-9]-[0-9]{1,12}|p[0-9]{1,12}_[a-z][a-z0-9_]{0,99}|[a-z][a-z0-9_]{0,99})$"
)


# Digits in the largest id; longer text is refused before int() (Python caps int() at 4,300 digits).
_MAX_ID_DIGITS = len(str(MAX_RECORD_ID))


class InputValidationError(ValueError):
    """Bad user input, found before any request is sent. The message names the input."""


def short_repr(value: Any, limit: int = 120) -> str:
    """`repr(value)` cut to `limit` characters: a 1 MB bogus input must not become a 1 MB message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_record_id(value: Any, *, field: str = "record id") -> str:
    """Return the canonical digit string of a HubSpot record id, or raise naming the value."""
    if isinstance(value, bool):
        raise InputValidationError(f"{field} {value!r} is not a record id (booleans are refused)")
    if isinstance(value, int):
        if not 0 < value <= MAX_RECORD_ID:  # compared as ints: str() of a huge int would raise
            raise InputValidationError(
                f"{field} {short_repr(value) if value.bit_length() < 4000 else '<huge int>'} "
                f"is out of range: expected 1 to {MAX_RECORD_ID}"
            )
        return str(value)
    if not isinstance(value, str):
        raise InputValidationError(
            f"{field} {short_repr(value)} is not a record id: expected a digit string or an int, "
            f"got {type(value).__name__}"
        )
    if not value or not value.isascii() or not value.isdigit():
        raise InputValidationError(f"{field} {short_repr(value)} is not a record id: expected digits only")
    digits = value.lstrip("0")
    # Longer text is refused before int(), which Python caps at 4,300 digits.
    if not digits or len(digits) > _MAX_ID_DIGITS or int(digits) > MAX_RECORD_ID:
        raise InputValidationError(
            f"{field} {short_repr(value)} is out of range: expected 1 to {MAX_RECORD_ID}"
        )
    return digits


def parse_object_type(value: Any, *, field: str = "object type") -> str:
    """Return a safe object type, or raise naming it. Path tricks ("../", "%2F") never pass."""
    if not isinstance(value, str):
        raise InputValidationError(f"{field} {short_repr(value)} is not an object type: expected a string")
    if not _OBJECT_TYPE_RE.fullmatch(value):
        raise InputValidationError(
            f"{field} {short_repr(value)} is not a HubSpot object type: expected a standard name such as "
            "'contacts', an object type id such as '0-1' or '2-1234567', or a fully qualified "
            "custom object name such as 'p1234_cars'"
        )
    return value


RecordId = Annotated[str, BeforeValidator(parse_record_id)]
ObjectType = Annotated[str, BeforeValidator(parse_object_type)]
