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


class InputValidationError(ValueError):
    """Bad user input, found before any request is sent. The message names the input."""


def parse_record_id(value: Any, *, field: str = "record id") -> str:
    """Return the canonical digit string of a HubSpot record id, or raise naming the value."""
    if isinstance(value, bool):
        raise InputValidationError(f"{field} {value!r} is not a record id (booleans are refused)")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise InputValidationError(
            f"{field} {value!r} is not a record id: expected a digit string or an int, "
            f"got {type(value).__name__}"
        )
    if not text or not text.isascii() or not text.isdigit():
        raise InputValidationError(f"{field} {value!r} is not a record id: expected digits only")
    number = int(text)
    if number <= 0 or number > MAX_RECORD_ID:
        raise InputValidationError(f"{field} {value!r} is out of range: expected 1 to {MAX_RECORD_ID}")
    return str(number)


def parse_object_type(value: Any, *, field: str = "object type") -> str:
    """Return a safe object type, or raise naming it. Path tricks ("../", "%2F") never pass."""
    if not isinstance(value, str):
        raise InputValidationError(f"{field} {value!r} is not an object type: expected a string")
    if not _OBJECT_TYPE_RE.fullmatch(value):
        raise InputValidationError(
            f"{field} {value!r} is not a HubSpot object type: expected a standard name such as "
            "'contacts', an object type id such as '0-1' or '2-1234567', or a fully qualified "
            "custom object name such as 'p1234_cars'"
        )
    return value


RecordId = Annotated[str, BeforeValidator(parse_record_id)]
ObjectType = Annotated[str, BeforeValidator(parse_object_type)]
