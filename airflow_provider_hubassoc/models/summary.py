"""The archive operators' XCom summary: small (under 16 KB), JSON-safe, read by the sensor."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SUMMARY_MAX_BYTES = 16 * 1024
FAILED_SAMPLE_SIZE = 20
VERIFY_SAMPLE_SIZE = 50

Operation = Literal["batch_archive", "label_archive"]
OnError = Literal["fail", "threshold", "ignore"]


class Totals(BaseModel):
    """Pair-level counts. Invariant: done + failed + skipped == requested (after duplicates)."""

    model_config = ConfigDict(populate_by_name=True)

    requested: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    duplicates: int = 0
    # Dry run only: of the `done` (checked) pairs, how many exist and would be removed / are absent.
    would_remove: int = Field(default=0, alias="wouldRemove")
    absent: int = 0


class FailedInput(BaseModel):
    """A failed pair, as shown in the sample."""

    model_config = ConfigDict(populate_by_name=True)

    from_id: str = Field(alias="fromId")
    to_id: str = Field(alias="toId")
    types: list[dict[str, Any]] | None = None
    category: str
    message: str


class VerifyPair(BaseModel):
    """A pair the sensor reads back; `types` set for label archive (the labels that must be gone)."""

    model_config = ConfigDict(populate_by_name=True)

    from_id: str = Field(alias="fromId")
    to_id: str = Field(alias="toId")
    types: list[dict[str, Any]] | None = None


class ArchiveSummary(BaseModel):
    """The `return_value` XCom of both archive operators (camelCase on the wire)."""

    model_config = ConfigDict(populate_by_name=True)

    operation: Operation
    from_object_type: str = Field(alias="fromObjectType")
    to_object_type: str = Field(alias="toObjectType")
    api_version: str = Field(alias="apiVersion")
    dry_run: bool = Field(default=False, alias="dryRun")
    on_error: OnError = Field(default="fail", alias="onError")
    max_error_ratio: float | None = Field(default=None, alias="maxErrorRatio")
    totals: Totals = Field(default_factory=Totals)
    batches: int = 0
    batch_statuses: dict[str, int] = Field(default_factory=dict, alias="batchStatuses")
    errors_by_category: dict[str, int] = Field(default_factory=dict, alias="errorsByCategory")
    failed_sample: list[FailedInput] = Field(default_factory=list, alias="failedSample")
    verify_sample: list[VerifyPair] = Field(default_factory=list, alias="verifySample")
    started_at: str = Field(alias="startedAt")
    completed_at: str | None = Field(default=None, alias="completedAt")
    report_path: str | None = Field(default=None, alias="reportPath")
    hubspot_conn_id: str = Field(default="hubspot_default", alias="hubspotConnId")

    def error_policy_breach(self) -> str | None:
        """Why the failed pairs break `on_error`, or None: one rule for the operator and the sensor."""
        failed, requested = self.totals.failed, self.totals.requested
        if not failed or self.on_error == "ignore":
            return None
        ratio = failed / requested if requested else 0.0
        if self.on_error == "fail":
            return f"{failed} of {requested} pairs failed and on_error is 'fail'"
        limit = self.max_error_ratio or 0.0
        if ratio <= limit:
            return None
        return f"{failed} of {requested} pairs failed ({ratio:.2%}), above max_error_ratio {limit:.2%}"

    def to_xcom(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> ArchiveSummary:
        return cls.model_validate(value)
