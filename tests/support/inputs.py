"""The operators' input edge alone: inputs -> validated pairs in a pair store, no HubSpot, no Airflow."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The labels the simulator's grid state defines between contacts and companies.
GRID_LABELS: tuple[dict[str, Any], ...] = (
    {"category": "USER_DEFINED", "typeId": 36, "label": "Decision maker"},
    {"category": "USER_DEFINED", "typeId": 37, "label": "Billing contact"},
    {"category": "INTEGRATOR_DEFINED", "typeId": 90, "label": "billing contact"},
    {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
    {"category": "HUBSPOT_DEFINED", "typeId": 279},
)


def label_catalog(labels: Iterable[dict[str, Any]] = GRID_LABELS) -> Any:
    """A LabelCatalog for contacts -> companies, as if the labels endpoint listed `labels`."""
    from airflow_provider_hubassoc.batch.labels import LabelCatalog
    from airflow_provider_hubassoc.models.responses import AssociationLabel

    listed = [AssociationLabel.model_validate(label) for label in labels]
    return LabelCatalog("contacts", "companies", listed)


def load_inputs(inputs: Any, *, labels: Iterable[dict[str, Any]] | None = None) -> tuple[Any, list[Any]]:
    """(LoadReport, pairs in store order) for `inputs`; label archive when `labels` is given."""
    from airflow_provider_hubassoc.batch.inputs import load_pairs
    from airflow_provider_hubassoc.batch.store import PairStore

    catalog = label_catalog(labels) if labels is not None else None
    with PairStore() as store:
        report = load_pairs(inputs, store, labels=(lambda: catalog) if catalog is not None else None)
        return report, list(store.iter_pairs())
