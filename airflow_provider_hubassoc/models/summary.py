"""The archive operators' XCom summary: small (under 16 KB), JSON-safe, read by the sensor.

Every pair ends in exactly one state, and the totals say which, so a run never claims more than
it knows:
- `confirmed`: HubSpot's reply body (or a read-back) shows the pair done;
- `accepted`: sent and answered 2xx, but the reply said nothing about the pair (a 204, a body
  without per-input detail, or a PENDING / PROCESSING batch);
- `failed`: HubSpot refused it, the request failed, or a read-back still shows it;
- `skipped`: not sent (`doneEarlier` of them because an earlier attempt of the same run did
  them; in a dry run every pair is skipped, as `wouldRemove` or `absent`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_hubassoc.models.associations import Pair, pair_of_line

SUMMARY_MAX_BYTES = 16 * 1024
FAILED_SAMPLE_SIZE = 20
VERIFY_SAMPLE_SIZE = 50

# batch_create: a restore (or the create phase of a sync)
# sync: a run of several phases (its summary's `phases` keeps each one's totals)
OperationName = Literal["batch_archive", "label_archive", "batch_create", "sync"]
OnError = Literal["fail", "threshold", "ignore"]
# Dry runs: `would_remove` / `absent` for removals, `would_create` / `present` for creates.
PairStatus = Literal[
    "confirmed", "accepted", "failed", "skipped", "would_remove", "absent", "would_create", "present"
]
PAIR_STATUSES: tuple[PairStatus, ...] = (
    "confirmed",
    "accepted",
    "failed",
    "skipped",
    "would_remove",
    "absent",
    "would_create",
    "present",
)


class Totals(BaseModel):
    """Pair-level counts. Invariant: confirmed + accepted + failed + skipped == requested.

    `doneEarlier` (of the skipped) and `wouldRemove` / `absent` (dry run, of the skipped) break
    the skipped pairs down; `duplicates` counts input rows dropped before `requested`.
    """

    model_config = ConfigDict(populate_by_name=True)

    requested: int = 0
    confirmed: int = 0
    accepted: int = 0
    failed: int = 0
    skipped: int = 0
    done_earlier: int = Field(default=0, alias="doneEarlier")
    duplicates: int = 0
    would_remove: int = Field(default=0, alias="wouldRemove")
    absent: int = 0
    would_create: int = Field(default=0, alias="wouldCreate")
    present: int = 0

    @property
    def dry_run_skipped(self) -> int:
        """Skipped pairs a dry run only looked at."""
        return self.would_remove + self.absent + self.would_create + self.present

    @property
    def accounted(self) -> int:
        return self.confirmed + self.accepted + self.failed + self.skipped

    def describe(self) -> str:
        """One plain sentence for logs, e.g. `requested 100: 60 confirmed, 40 done earlier`."""
        not_attempted = self.skipped - self.done_earlier - self.dry_run_skipped
        parts = [
            (self.confirmed, "confirmed"),
            (self.accepted, "accepted (sent; HubSpot's reply did not confirm them: read back to confirm)"),
            (self.failed, "failed"),
            (self.done_earlier, "done earlier (by an earlier attempt of this run)"),
            (not_attempted, "skipped (not attempted)"),
            (self.would_remove, "would be removed (dry run)"),
            (self.absent, "absent (dry run)"),
            (self.would_create, "would be created (dry run)"),
            (self.present, "present already (dry run)"),
        ]
        told = ", ".join(f"{count} {what}" for count, what in parts if count) or "nothing to do"
        return f"requested {self.requested}: {told}; {self.duplicates} duplicate input rows dropped"


class ArchiveSummary(BaseModel):
    """The `return_value` XCom of both archive operators (camelCase on the wire).

    `verifySample` holds pairs (as `models.report.pair_line` shows them) confirmed or accepted by this run
    or done earlier; `failedSample` failed ones, each with `category` and `message`. `stoppedBy`
    says why a run ended before every pair was attempted (None when it did not).
    """

    model_config = ConfigDict(populate_by_name=True)

    operation: OperationName
    from_object_type: str = Field(alias="fromObjectType")
    to_object_type: str = Field(alias="toObjectType")
    api_version: str = Field(alias="apiVersion")
    dry_run: bool = Field(default=False, alias="dryRun")
    on_error: OnError = Field(default="fail", alias="onError")
    max_error_ratio: float | None = Field(default=None, alias="maxErrorRatio")
    read_back: bool = Field(default=False, alias="readBack")
    totals: Totals = Field(default_factory=Totals)
    batches: int = 0
    batch_statuses: dict[str, int] = Field(default_factory=dict, alias="batchStatuses")
    errors_by_category: dict[str, int] = Field(default_factory=dict, alias="errorsByCategory")
    failed_sample: list[dict[str, Any]] = Field(default_factory=list, alias="failedSample")
    verify_sample: list[dict[str, Any]] = Field(default_factory=list, alias="verifySample")
    stopped_by: str | None = Field(default=None, alias="stoppedBy")
    started_at: str = Field(alias="startedAt")
    completed_at: str | None = Field(default=None, alias="completedAt")
    report_path: str | None = Field(default=None, alias="reportPath")
    hubspot_conn_id: str = Field(default="hubspot_default", alias="hubspotConnId")
    # A run of several phases: each phase's totals, by its operation (absent for one phase).
    phases: dict[str, dict[str, int]] | None = None

    def error_policy_breach(self) -> str | None:
        """Why the failed pairs break `on_error`, or None: one rule for the operator and the sensor."""
        return error_policy_breach(
            self.totals.failed, self.totals.requested, self.on_error, self.max_error_ratio
        )

    def verify_pairs(self) -> list[Pair]:
        return [pair_of_line(p, "verifySample") for p in self.verify_sample]

    def to_xcom(self) -> dict[str, Any]:
        value = self.model_dump(mode="json", by_alias=True)
        if value["phases"] is None:
            del value["phases"]
        return value

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> ArchiveSummary:
        return cls.model_validate(value)


def error_policy_breach(
    failed: int, requested: int, on_error: OnError, max_error_ratio: float | None
) -> str | None:
    """Why `failed` of `requested` pairs break `on_error`, or None. Also judges a whole fan-out."""
    if not failed or on_error == "ignore":
        return None
    if on_error == "fail":
        return f"{failed} of {requested} pairs failed and on_error is 'fail'"
    ratio = failed / requested if requested else 0.0
    limit = max_error_ratio or 0.0
    if ratio <= limit:
        return None
    return f"{failed} of {requested} pairs failed ({ratio:.2%}), above max_error_ratio {limit:.2%}"


def fan_out_breach(
    summaries: list[dict[str, Any]], on_error: OnError, max_error_ratio: float | None
) -> str | None:
    """Judge a fan-out's partitions together: the ratio is over the whole clean-up, not per part."""
    parsed = [ArchiveSummary.from_xcom(s) for s in summaries]
    failed = sum(s.totals.failed for s in parsed)
    requested = sum(s.totals.requested for s in parsed)
    return error_policy_breach(failed, requested, on_error, max_error_ratio)
