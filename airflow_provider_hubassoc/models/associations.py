"""Association types and the request inputs of batch archive and label archive."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

from airflow_provider_hubassoc.models.identifiers import (
    InputValidationError,
    TypeId,
    parse_record_id,
    short_repr,
)


class AssociationCategory(str, Enum):
    """Who defined a label. The category must match the label, or HubSpot leaves it in place."""

    HUBSPOT_DEFINED = "HUBSPOT_DEFINED"
    USER_DEFINED = "USER_DEFINED"
    INTEGRATOR_DEFINED = "INTEGRATOR_DEFINED"
    WORK = "WORK"


# Object type ids HubSpot accepts in paths for its standard objects, mapped to their names.
STANDARD_OBJECT_TYPE_IDS: dict[str, str] = {
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

# HubSpot-defined *unlabeled* type ids: archiving one removes every label of the pair.
UNLABELED_TYPE_IDS: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("companies", "tickets"): 340,
    ("tickets", "companies"): 339,
}


def parse_category(value: Any) -> AssociationCategory:
    """A category in any letter case; anything else is refused naming it."""
    name = value.strip().upper() if isinstance(value, str) else ""
    if name not in AssociationCategory.__members__:
        raise InputValidationError(
            f"association category {short_repr(value)} is unknown: expected one of "
            f"{', '.join(AssociationCategory.__members__)}"
        )
    return AssociationCategory[name]


Category = Annotated[AssociationCategory, BeforeValidator(parse_category)]


class AssociationType(BaseModel):
    """One association label, as HubSpot's request bodies name it.

    Validating a mapping accepts the wire names (`associationCategory`, `associationTypeId`) and
    the short ones users write (`category`, `typeId`, `type_id`); type ids are ASCII digits only.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    category: Category = Field(
        validation_alias=AliasChoices("associationCategory", "category"),
        serialization_alias="associationCategory",
    )
    type_id: TypeId = Field(
        validation_alias=AliasChoices("associationTypeId", "typeId", "type_id"),
        serialization_alias="associationTypeId",
    )

    def to_wire(self) -> dict[str, Any]:
        return {"associationCategory": self.category.value, "associationTypeId": self.type_id}


@dataclass(frozen=True)
class Pair:
    """The one pair shape: validated once at the input edge, then used unchanged to the wire.

    `types` is empty for batch archive (remove everything between the two records) and holds
    the resolved labels, sorted and unique, for label archive.
    """

    from_id: str
    to_id: str
    types: tuple[AssociationType, ...] = ()

    def canonical(self) -> str:
        types = ",".join(f"{t.category.value}/{t.type_id}" for t in self.types)
        return f"{self.from_id}>{self.to_id}[{types}]"

    def types_wire(self) -> list[dict[str, object]] | None:
        return [t.to_wire() for t in self.types] if self.types else None


def type_key(t: AssociationType) -> tuple[str, int]:
    """Sort key of a type: category, then type id."""
    return (t.category.value, t.type_id)


def pair_line(pair: Pair, status: str | None = None) -> dict[str, Any]:
    """A pair as report lines, summaries and trigger kwargs show it; `status` added when given."""
    line: dict[str, Any] = {"fromId": pair.from_id, "toId": pair.to_id, "types": pair.types_wire()}
    if status is not None:
        line["status"] = status
    return line


def pair_of_line(line: dict[str, Any], where: str = "pair") -> Pair:
    """The inverse of `pair_line`: ids canonical, labels sorted and unique. Raises
    `InputValidationError` naming `where` for a line that is not a pair of ours."""
    try:
        labels = {AssociationType.model_validate(t) for t in line.get("types") or ()}
        return Pair(
            from_id=parse_record_id(line["fromId"], field="fromId"),
            to_id=parse_record_id(line["toId"], field="toId"),
            types=tuple(sorted(labels, key=type_key)),
        )
    except (KeyError, TypeError, ValueError) as err:  # pydantic's ValidationError is a ValueError
        text = str(err)
        raise InputValidationError(
            f"{where}: not a pair ({text[:297] + '...' if len(text) > 300 else text})"
        ) from None
