"""What the simulator knows about HubSpot, in one table of its own (from docs' facts, not the provider).

The simulator imports nothing from the provider: a wrong fact in the provider must be caught by
the simulator, not confirmed by it. Sources: `shared/hubspot-api-notes.md` (HubSpot's API
reference, its published descriptions, its changelog).
"""

from __future__ import annotations

import re
from typing import Any, Literal

# ----- versions and what each one answers (the published description, 2026-08 revision) -------
Version = Literal["2025-09", "2026-03", "2026-09", "v4"]
VERSIONS: tuple[Version, ...] = ("2025-09", "2026-03", "2026-09", "v4")
DATE_VERSIONS = ("2025-09", "2026-03", "2026-09")

# Archive and labels archive: "200" = a batch body, per-input errors inside it; "204" = no body,
# failures not reported at all; "207" = the flipped variant (207 when some inputs failed).
ArchiveReply = Literal["200", "204", "207", "alternate"]
DEFAULT_ARCHIVE_REPLIES: dict[Version, ArchiveReply] = {
    "2025-09": "200",
    "2026-03": "200",
    "2026-09": "200",
    "v4": "204",
}
# Batch read: "207" when some inputs failed where the version allows it; 2026-09 declares 200 only.
ReadReply = Literal["200", "207"]
DEFAULT_READ_REPLIES: dict[Version, ReadReply] = {
    "2025-09": "207",
    "2026-03": "207",
    "2026-09": "200",
    "v4": "207",
}
# Batch create: 201, or 200 since HubSpot's August 2025 change; 207 when some inputs failed.
CreateReply = Literal["201", "200"]
DEFAULT_CREATE_REPLIES: dict[Version, CreateReply] = {
    "2025-09": "201",
    "2026-03": "201",
    "2026-09": "201",
    "v4": "201",
}

# ----- limits ---------------------------------------------------------------------------------
INT32_MAX = 2**31 - 1  # associationTypeId / typeId are int32: HubSpot refuses larger ones
MAX_RECORD_ID = 2**63 - 1  # record ids are positive int64, sent as digit strings
READ_MAX_INPUTS = 1000  # batch read, since 10 Feb 2025
ARCHIVE_MAX_INPUTS = 100  # no official number: a setting, defaulting to what integrations use
BATCH_STATUSES = ("PENDING", "PROCESSING", "CANCELED", "COMPLETE")
CATEGORIES = frozenset({"HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED", "WORK"})
HUBSPOT_DEFINED = "HUBSPOT_DEFINED"

# ----- object types ---------------------------------------------------------------------------
OBJECT_TYPE_IDS: dict[str, str] = {
    "0-1": "contacts",
    "0-2": "companies",
    "0-3": "deals",
    "0-5": "tickets",
    "0-7": "products",
    "0-8": "line_items",
    "0-14": "quotes",
    "0-27": "tasks",
    "0-46": "notes",
    "0-47": "meetings",
    "0-48": "calls",
    "0-49": "emails",
}
TYPE_ID_OF: dict[str, str] = {name: type_id for type_id, name in OBJECT_TYPE_IDS.items()}
STANDARD_OBJECT_TYPES = frozenset(
    {
        *OBJECT_TYPE_IDS.values(),
        "communications",
        "postal_mail",
        "invoices",
        "orders",
        "carts",
        "payments",
        "subscriptions",
        "leads",
        "appointments",
        "courses",
        "listings",
        "services",
        "goals",
        "users",
        "feedback_submissions",
    }
)
SINGULAR = {"contact": "contacts", "company": "companies", "deal": "deals", "ticket": "tickets"}
# Names, object type ids (0-1, 2-1234567) and custom names p{portal}_{name}, where the name may
# hold letters of either case, digits and underscores (p1234_MyObject).
_OBJECT_TYPE = re.compile(r"[0-9]-[0-9]{1,12}|p[0-9]{1,12}_[A-Za-z][A-Za-z0-9_]{0,99}|[a-z][a-z0-9_]{0,99}")

# ----- HUBSPOT_DEFINED association types ------------------------------------------------------
# (from, to, type id, label): label None is the pair's unlabeled type.
HUBSPOT_LABELS: tuple[tuple[str, str, int, str | None], ...] = (
    ("contacts", "companies", 1, "Primary"),
    ("contacts", "companies", 279, None),
    ("companies", "contacts", 2, "Primary"),
    ("companies", "contacts", 280, None),
    ("deals", "contacts", 3, None),
    ("contacts", "deals", 4, None),
    ("deals", "companies", 5, "Primary"),
    ("deals", "companies", 341, None),
    ("companies", "deals", 6, "Primary"),
    ("companies", "deals", 342, None),
    ("companies", "companies", 13, "Child Company"),
    ("companies", "companies", 14, "Parent Company"),
    ("contacts", "tickets", 15, None),
    ("tickets", "contacts", 16, None),
    ("companies", "tickets", 25, "Primary"),
    ("companies", "tickets", 340, None),
    ("tickets", "companies", 26, "Primary"),
    ("tickets", "companies", 339, None),
    ("deals", "tickets", 27, None),
    ("tickets", "deals", 28, None),
)
# The type a pair gets when nothing else is said (archiving it removes every label of the pair).
DEFAULT_TYPE_IDS: dict[tuple[str, str], int] = {
    (f, t): type_id for f, t, type_id, label in HUBSPOT_LABELS if label is None
}
PRIMARY_TYPE_IDS: dict[tuple[str, str], int] = {
    (f, t): type_id for f, t, type_id, label in HUBSPOT_LABELS if label == "Primary"
}
# HubSpot-defined ids come in pairs, one per direction.
_INVERSE_PAIRS = (
    (1, 2), (279, 280), (3, 4), (5, 6), (341, 342), (13, 14), (15, 16), (25, 26), (340, 339), (27, 28),
)  # fmt: skip
INVERSE_TYPE_IDS: dict[int, int] = {**dict(_INVERSE_PAIRS), **{b: a for a, b in _INVERSE_PAIRS}}


# ----- validation (the simulator's own, so it can disagree with the provider's) ---------------
def record_id(value: Any) -> str | None:
    """The canonical digit string of a record id (str or int, 1..2**63-1), or None."""
    if isinstance(value, bool):
        return None
    text = str(value) if isinstance(value, int) else value
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 40:
        return None
    number = int(text)
    return str(number) if 0 < number <= MAX_RECORD_ID else None


def object_type(value: str) -> str | None:
    """The stored name of an object type ("0-1" and "contact" -> "contacts"), or None if malformed."""
    if not _OBJECT_TYPE.fullmatch(value):
        return None
    return OBJECT_TYPE_IDS.get(value) or SINGULAR.get(value) or value


def is_custom_type(name: str) -> bool:
    return name.startswith("2-") or (name.startswith("p") and "_" in name)


def type_id_of(name: str) -> str:
    """The object type id replies name (`fromObjectTypeId`); custom types are echoed as named."""
    return TYPE_ID_OF.get(name, name)


def type_id(value: Any) -> int | None:
    """An association type id: a JSON integer from 1 to int32's maximum, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= INT32_MAX:
        return None
    return value
