"""The labels an input names, checked against the labels HubSpot defines between two object types.

A label-archive input names each label either by its text ("Decision maker") or by its type
(`USER_DEFINED:36`). Both are checked once per run against `GET .../labels`, before any archive
request: label text can change and can repeat across categories, so a name must match exactly one
label (case-insensitively); a type must be one HubSpot defines with that exact category, or HubSpot
answers "done" and leaves the label in place.

While the input streams into the pair store, each label is kept as a short text key (`spec_key`);
`LabelCatalog.resolve` turns a key into the `AssociationType` sent on the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airflow_provider_hubassoc.models.associations import (
    STANDARD_OBJECT_TYPE_IDS,
    UNLABELED_TYPE_IDS,
    AssociationCategory,
    AssociationType,
)
from airflow_provider_hubassoc.models.identifiers import InputValidationError
from airflow_provider_hubassoc.models.responses import AssociationLabel

_NAME = "name:"
_TYPE = "type:"
# The unlabeled association between the two object types, whatever its id: an undo that must
# remove a pair whole (labels and all) names it; HubSpot then drops every label too.
UNLABELED_KEY = "unlabeled:"
_LISTED = 20  # labels listed in a refusal: enough to spot the right one, bounded for the log


@dataclass(frozen=True)
class LabelName:
    """A label given by its text; resolved once through the labels endpoint."""

    name: str


LabelSpec = AssociationType | LabelName


def spec_key(spec: LabelSpec) -> str:
    """The text a label is stored under: `name:<lower-cased text>` or `type:<CATEGORY>:<id>`."""
    if isinstance(spec, LabelName):
        return _NAME + spec.name.strip().lower()
    return f"{_TYPE}{spec.category.value}:{spec.type_id}"


def _describe(labels: Sequence[AssociationLabel]) -> str:
    shown = [f"{lab.label or '(unlabeled)'!r} = {lab.category}:{lab.type_id}" for lab in labels[:_LISTED]]
    more = f" and {len(labels) - _LISTED} more" if len(labels) > _LISTED else ""
    return (", ".join(shown) + more) if shown else "none"


@dataclass(frozen=True)
class LabelCatalog:
    """The labels defined between `from_type` and `to_type`, as the labels endpoint listed them."""

    from_type: str
    to_type: str
    labels: Sequence[AssociationLabel]

    def resolve(self, key: str, where: str) -> AssociationType:
        """The type a stored label key stands for, or a refusal naming the input it came from."""
        if key.startswith(_NAME):
            return self._by_name(key.removeprefix(_NAME), where)
        if key == UNLABELED_KEY:
            return self._unlabeled(where)
        category, _, type_id = key.removeprefix(_TYPE).partition(":")
        return self._by_type(AssociationCategory(category), int(type_id), where)

    def unlabeled_type_ids(self) -> set[int]:
        """HUBSPOT_DEFINED type ids that are the *unlabeled* association between the two types."""
        # Standard object type ids ("0-1") map to names, so the table also works for them.
        key = (
            STANDARD_OBJECT_TYPE_IDS.get(self.from_type, self.from_type),
            STANDARD_OBJECT_TYPE_IDS.get(self.to_type, self.to_type),
        )
        ids = {UNLABELED_TYPE_IDS[key]} if key in UNLABELED_TYPE_IDS else set()
        ids.update(lab.type_id for lab in self.labels if not lab.label and lab.category == "HUBSPOT_DEFINED")
        return ids

    def _unlabeled(self, where: str) -> AssociationType:
        ids = self.unlabeled_type_ids()
        if not ids:
            raise InputValidationError(
                f"{where}: the unlabeled association type {self._between()} is unknown (the labels "
                "endpoint lists none), so this pair cannot be removed whole"
            )
        return AssociationType(category=AssociationCategory.HUBSPOT_DEFINED, type_id=min(ids))

    def _between(self) -> str:
        return f"between {self.from_type} and {self.to_type}"

    def _by_name(self, name: str, where: str) -> AssociationType:
        found = [lab for lab in self.labels if lab.label and lab.label.strip().lower() == name]
        if not found:
            raise InputValidationError(
                f"{where}: label {name!r} is not defined {self._between()}; "
                f"available labels: {_describe(self.labels)}"
            )
        if len(found) > 1:
            raise InputValidationError(
                f"{where}: label {name!r} matches {len(found)} labels {self._between()} "
                f"({_describe(found)}); give the category and type id instead"
            )
        if found[0].category not in AssociationCategory.__members__:
            raise InputValidationError(
                f"{where}: label {name!r} has category {found[0].category!r}, which this provider "
                f"cannot send yet (known: {', '.join(AssociationCategory.__members__)})"
            )
        return AssociationType(category=found[0].category, type_id=found[0].type_id)

    def _by_type(self, category: AssociationCategory, type_id: int, where: str) -> AssociationType:
        wanted = AssociationType.model_construct(category=category, type_id=type_id)  # checked on the way in
        defined = {(lab.category, lab.type_id) for lab in self.labels}
        if (category.value, type_id) in defined:
            return wanted
        if category is AssociationCategory.HUBSPOT_DEFINED and type_id in self.unlabeled_type_ids():
            return wanted  # the unlabeled association, which the labels list may leave out
        same_id = [lab for lab in self.labels if lab.type_id == type_id]
        hint = f" ({_describe(same_id)}: the category must match too)" if same_id else ""
        raise InputValidationError(
            f"{where}: label type {category.value}:{type_id} is not defined {self._between()}{hint}; "
            f"available labels: {_describe(self.labels)}"
        )
