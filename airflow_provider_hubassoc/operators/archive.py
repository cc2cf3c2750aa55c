"""The two archive operators: remove whole associations, or remove named labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from airflow_provider_hubassoc.operators.base import BaseHubSpotArchiveOperator

if TYPE_CHECKING:
    from airflow_provider_hubassoc.batch.store import Chunk
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.models.responses import BatchResult
    from airflow_provider_hubassoc.models.summary import Operation


class HubSpotArchiveAssociationsOperator(BaseHubSpotArchiveOperator):
    """Remove every association between record pairs (`batch/archive`).

    `inputs`: a list of pairs (`{"from_id": 1, "to_id": 2}`, `(1, 2)`, or HubSpot's wire form
    `{"from": {"id": "1"}, "to": [{"id": "2"}]}`), an XComArg resolving to one, or a CSV
    (`from_id,to_id` header) / JSONL file, local or an ObjectStoragePath URI. Pairs are grouped
    by their from record, deduplicated and sent `batch_size` pairs per request.
    """

    operation: ClassVar[Operation] = "batch_archive"
    with_labels: ClassVar[bool] = False

    def send(self, client: HubSpotClient, chunk: Chunk, from_type: str, to_type: str) -> BatchResult:
        return client.archive_associations(from_type, to_type, chunk.pairs)


class HubSpotArchiveAssociationLabelsOperator(BaseHubSpotArchiveOperator):
    """Remove named labels between record pairs (`batch/labels/archive`), leaving the others.

    Each input names its labels as `(category, type id)`, `{"category": ..., "typeId": ...}`,
    `{"associationCategory": ..., "associationTypeId": ...}`, `"USER_DEFINED:36"`, or a label
    name resolved once through the labels endpoint (unknown or ambiguous names fail the task
    before any archive call). CSV files take `from_id,to_id` plus `label`, or `category,type_id`,
    or `types` (JSON) columns. Naming the unlabeled type removes every label of the pair: warned.
    """

    operation: ClassVar[Operation] = "label_archive"
    with_labels: ClassVar[bool] = True
    ui_color = "#ffbc9f"

    def send(self, client: HubSpotClient, chunk: Chunk, from_type: str, to_type: str) -> BatchResult:
        return client.archive_labels(from_type, to_type, chunk.pairs)
