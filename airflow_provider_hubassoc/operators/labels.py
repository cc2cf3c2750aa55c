"""Label names -> (category, type id), resolved once per run through the labels endpoint.

Label text can change and can repeat across categories, so a name must match exactly one
label (case-insensitively) or the run fails before any archive call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from airflow_provider_hubassoc.models.associations import (
    STANDARD_OBJECT_TYPE_IDS,
    UNLABELED_TYPE_IDS,
    AssociationCategory,
    AssociationType,
)
from airflow_provider_hubassoc.models.identifiers import InputValidationError
from airflow_provider_hubassoc.models.responses import AssociationLabel
from airflow_provider_hubassoc.operators.inputs import LabelName, TypeSpec


def _describe(labels: Sequence[AssociationLabel]) -> str:
    shown = [f"{lab.label or '(unlabeled)'!r} = {lab.category}:{lab.type_id}" for lab in labels]
    return ", ".join(shown) if shown else "none"


def resolve_names(
    names: Mapping[str, str], labels: Sequence[AssociationLabel], from_type: str, to_type: str
) -> dict[str, AssociationType]:
    """Map each lower-cased name (value: where it first appeared) to exactly one label, or raise."""
    by_text: dict[str, list[AssociationLabel]] = {}
    for lab in labels:
        if lab.label:
            by_text.setdefault(lab.label.strip().lower(), []).append(lab)
    resolved: dict[str, AssociationType] = {}
    for name, where in names.items():
        found = by_text.get(name, [])
        if not found:
            raise InputValidationError(
                f"{where}: label {name!r} is not defined between {from_type} and {to_type}; "
                f"available labels: {_describe(labels)}"
            )
        if len(found) > 1:
            raise InputValidationError(
                f"{where}: label {name!r} matches {len(found)} labels between {from_type} and {to_type} "
                f"({_describe(found)}); give the category and type id instead"
            )
        if found[0].category not in AssociationCategory.__members__:
            raise InputValidationError(
                f"{where}: label {name!r} has category {found[0].category!r}, which this provider "
                f"cannot send yet (known: {', '.join(AssociationCategory.__members__)})"
            )
        resolved[name] = AssociationType(category=found[0].category, type_id=found[0].type_id)
    return resolved


def substitute(
    types: Iterable[TypeSpec], resolved: Mapping[str, AssociationType]
) -> tuple[AssociationType, ...]:
    """Replace label names with their resolved types (deduplicated, order kept)."""
    out: list[AssociationType] = []
    for spec in types:
        t = resolved[spec.name.strip().lower()] if isinstance(spec, LabelName) else spec
        if t not in out:
            out.append(t)
    return tuple(out)


def unlabeled_type_ids(from_type: str, to_type: str, labels: Sequence[AssociationLabel] | None) -> set[int]:
    """HUBSPOT_DEFINED type ids that are the *unlabeled* association between the two object types."""
    # Standard object type ids ("0-1") map to names, so the unlabeled-type table also works for them.
    key = (STANDARD_OBJECT_TYPE_IDS.get(from_type, from_type), STANDARD_OBJECT_TYPE_IDS.get(to_type, to_type))
    ids = {UNLABELED_TYPE_IDS[key]} if key in UNLABELED_TYPE_IDS else set()
    for lab in labels or ():
        if not lab.label and lab.category == "HUBSPOT_DEFINED":
            ids.add(lab.type_id)
    return ids
