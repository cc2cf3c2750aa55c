"""The two archive operators: remove whole associations, or remove named labels."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_hubassoc.operators.base import HubSpotBatchOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hubassoc.batch.inputs import LoadReport
    from airflow_provider_hubassoc.batch.operations import Operation
    from airflow_provider_hubassoc.batch.run import Loader
    from airflow_provider_hubassoc.batch.settings import Target
    from airflow_provider_hubassoc.batch.store import PairStore


class HubSpotArchiveAssociationsOperator(HubSpotBatchOperator):
    """Remove every association between record pairs (`batch/archive`).

    `inputs`: a list of pairs (`{"from_id": 1, "to_id": 2}`, `(1, 2)`, or HubSpot's wire form
    `{"from": {"id": "1"}, "to": [{"id": "2"}]}`), an XComArg resolving to one, a CSV
    (`from_id,to_id` header) / JSONL file, local or an ObjectStoragePath URI, or a `SqlSource`.
    Pairs are grouped by their from record, deduplicated and sent `batch_size` pairs per request.

    :param from_object_type: the object type the associations go from (`contacts`, `0-1`,
        `p1234_MyObject`...).
    :param to_object_type: the object type they go to.
    :param inputs: the pairs to archive (see above); templated.
    :param read_back: read the `accepted` pairs back at the end of the run (HubSpot's batch read),
        so they end `confirmed`, or `failed` if still present after `read_back_timeout` seconds.
        Without it, a v4 run (204, no body) ends with every sent pair `accepted`.
    :param read_back_timeout: seconds the end-of-run read-back waits for HubSpot's reads to catch
        up with its writes.
    :param resume: let the checkpoint of another run's report (same operation and object types)
        skip chunks. Without it only a retry of the same task of the same DAG run skips work.
    :param snapshot: before each chunk is sent, record in the report what its pairs have (each
        type's category, type id and label), so `HubSpotRestoreAssociationsOperator` can undo the
        run. Needs `report_path`.
    """

    template_fields: Sequence[str] = (
        *HubSpotBatchOperator.template_fields,
        "from_object_type",
        "to_object_type",
        "inputs",
    )
    operation_name: ClassVar[str] = "batch_archive"

    @cached_property
    def operation(self) -> Operation:
        """What this operator sends (looked up at run time: a DAG file does not load the engine)."""
        from airflow_provider_hubassoc.batch.operations import OPERATIONS

        return OPERATIONS[self.operation_name]

    def __init__(
        self,
        *,
        from_object_type: str,
        to_object_type: str,
        inputs: Any,
        read_back: bool = False,
        read_back_timeout: float = 60.0,
        resume: bool = False,
        snapshot: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.from_object_type = from_object_type
        self.to_object_type = to_object_type
        self.inputs = inputs
        self.read_back = bool(read_back)
        self.read_back_timeout = read_back_timeout
        self.resume = bool(resume)
        self.snapshot = bool(snapshot)
        self.settings(**self._own_settings())

    def _own_settings(self) -> dict[str, Any]:
        return {
            "read_back": self.read_back,
            "read_back_timeout": self.read_back_timeout,
            "resume": self.resume,
            "snapshot": self.snapshot,
        }

    def execute(self, context: Context) -> dict[str, Any]:
        settings = self.settings(context, **self._own_settings())
        target = self.target(self.from_object_type, self.to_object_type)
        # An undoable run records its account, so its undo can refuse another account's connection.
        header = {"account": target.client.account().to_json()} if settings.snapshot else None
        from airflow_provider_hubassoc.batch.run import Phase

        phase = Phase(self.operation, self._loader(target))
        return self.run_engine(context, settings, [phase], target, header)

    def _loader(self, target: Target) -> Loader:
        """Stream `inputs` into the store; label names resolved through one labels request."""
        from airflow_provider_hubassoc.batch.inputs import load_pairs
        from airflow_provider_hubassoc.batch.labels import LabelCatalog

        def catalog() -> LabelCatalog:
            labels = target.client.list_labels(target.from_type, target.to_type)
            return LabelCatalog(target.from_type, target.to_type, labels)

        def load(store: PairStore) -> LoadReport:
            labels = catalog if self.operation.with_labels else None
            return load_pairs(self.inputs, store, labels=labels, fail_on_empty=self.fail_on_empty)

        return load

    def _lineage_inputs(self) -> list[Any]:
        """OpenLineage: a `SqlSource` query's tables, or the file / object-storage URI read."""
        from airflow_provider_hubassoc.lineage import input_datasets

        return input_datasets(self.inputs)


class HubSpotArchiveAssociationLabelsOperator(HubSpotArchiveAssociationsOperator):
    """Remove named labels between record pairs (`batch/labels/archive`), leaving the others.

    Each input names its labels as `(category, type id)`, `{"category": ..., "typeId": ...}`,
    `{"associationCategory": ..., "associationTypeId": ...}`, `"USER_DEFINED:36"`, or a label
    name resolved once through the labels endpoint (unknown or ambiguous names fail the task
    before any archive call). CSV files take `from_id,to_id` plus `label`, or `category,type_id`,
    or `types` (JSON) columns. Naming the unlabeled type removes every label of the pair: warned.
    """

    operation_name: ClassVar[str] = "label_archive"
    ui_color = "#ffbc9f"
