"""HubSpotBatchStatusSensor: confirms an archive task's batches finished and the pairs are gone.

HubSpot returns a batch's status only in the synchronous reply and has no endpoint to poll it
later. The sensor therefore judges the archive operator's XCom summary once (it cannot change)
and then reads the associations back with batch read until HubSpot shows them gone.
"""

from __future__ import annotations

import ast
import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    Context,
    PokeReturnValue,
    conf,
)

from airflow_provider_hubassoc.batch.report import ACCEPTED, CONFIRMED
from airflow_provider_hubassoc.models.associations import pair_line, pair_of_line
from airflow_provider_hubassoc.models.summary import VERIFY_SAMPLE_SIZE, ArchiveSummary

if TYPE_CHECKING:
    from airflow_provider_hubassoc.batch.readback import AssociationReader, ReadbackPlan, ReadbackResult
    from airflow_provider_hubassoc.models.associations import Pair

# Up to this many still-present pairs are handed to the trigger inline; beyond, the report path.
TRIGGER_INLINE_PAIRS = 1000
# Extra time Airflow grants a deferred task past the trigger's own deadline, so that the trigger's
# final check and its "still present" message win over Airflow's generic deferral timeout.
DEFER_GRACE_S = 60.0
# A read-back is worth repeating about once a minute. In reschedule mode a poke interval under
# about 10 s races Airflow 3.3's task supervisor (a task that just finished its try is seen
# `queued`, then failed), so reschedule mode never waits less than RESCHEDULE_MIN_POKE_S.
DEFAULT_POKE_INTERVAL_S = 60.0
RESCHEDULE_MIN_POKE_S = 10.0

Action = Literal["fail", "verify", "done"]


@dataclass(frozen=True)
class StatusVerdict:
    """What the summary alone says: fail now, read back, or done without a read-back."""

    action: Action
    reason: str


# The runs this sensor confirms: what they sent must be gone when read back.
REMOVALS = ("batch_archive", "label_archive")


def evaluate_summary(summary: ArchiveSummary, *, verify: bool = True) -> StatusVerdict:
    """Judge the batch statuses of a summary. Pure; the order of the checks is the policy.

    1. dry run: nothing was archived, so there is nothing to wait for (done).
    2. any CANCELED batch: fail at once; HubSpot will not finish it.
    3. errors beyond the operator's on_error/max_error_ratio: fail at once.
    4. any PENDING/PROCESSING batch: the status came from the synchronous reply and, with no poll
       endpoint, can never change by itself. Such batches are resolved by the read-back: the
       sensor waits until HubSpot shows the pairs gone, and then succeeds. The read-back is
       therefore done even when `verify=False`; without it the sensor could only time out.
    5. all COMPLETE: read back when `verify`, else done.
    """
    if summary.operation not in REMOVALS:
        return StatusVerdict(
            "fail",
            f"a {summary.operation} run created associations: this sensor reads back removals, and "
            "would wait for the created pairs to disappear (read a sync's or restore's outcome in its "
            "report and summary; a second sync with unchanged inputs sends nothing)",
        )
    if summary.dry_run:
        return StatusVerdict("done", "dry run: nothing was archived")
    counts = summary.batch_statuses  # unknown status names carry no policy
    if counts.get("CANCELED", 0) > 0:
        return StatusVerdict("fail", f"{counts['CANCELED']} batch(es) were CANCELED by HubSpot")
    exceeded = summary.error_policy_breach()
    if exceeded:
        return StatusVerdict("fail", exceeded)
    unfinished = counts.get("PENDING", 0) + counts.get("PROCESSING", 0)
    if unfinished:
        return StatusVerdict(
            "verify",
            f"{unfinished} batch(es) were PENDING/PROCESSING; HubSpot cannot be polled for them, "
            "so the read-back decides",
        )
    if verify:
        return StatusVerdict("verify", "every batch is COMPLETE; verifying by read-back")
    return StatusVerdict("done", "every batch is COMPLETE (verify=False)")


def parse_summary(value: Any) -> ArchiveSummary:
    """Accept the summary as a dict, a JSON string or a Python-literal string.

    A template such as "{{ ti.xcom_pull(task_ids='archive') }}" renders to `str(dict)` unless the
    DAG sets `render_template_as_native_obj`, hence the literal fallback. A one-element list (a
    mapped archive task with one instance) is unwrapped; for several, map the sensor too.
    """
    if isinstance(value, ArchiveSummary):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                raise AirflowFailException(
                    f"summary is neither JSON nor a Python literal: {value[:200]!r}"
                ) from None
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = list(value)
        if len(items) != 1:
            raise AirflowFailException(
                f"expected one archive summary, got {len(items)}: for a mapped archive task, map the "
                "sensor too, e.g. HubSpotBatchStatusSensor.partial(...).expand(summary=archive.output)"
            )
        value = items[0]
    if not isinstance(value, Mapping):
        raise AirflowFailException(f"expected an archive summary dict, got {type(value).__name__}")
    try:
        return ArchiveSummary.from_xcom(dict(value))
    except ValueError as err:  # pydantic's ValidationError, or a verify sample pair that is not one
        raise AirflowFailException(f"not an archive summary: {str(err)[:1500]}") from None


class HubSpotBatchStatusSensor(BaseSensorOperator):
    """Wait until an archive task's batches are done and HubSpot shows the archived pairs gone.

    :param summary: the archive operator's XCom summary (dict, JSON string or templated string).
    :param archive_task_id: instead of `summary`, the archive task whose `return_value` to pull.
    :param hubspot_conn_id: defaults to the summary's `hubspotConnId`.
    :param verify: read back COMPLETE batches (PENDING/PROCESSING ones are always read back).
    :param max_pairs_to_verify: bound of the read-back in sample mode.
    :param deferrable: wait in the triggerer (`HubSpotBatchStatusTrigger`) instead of a worker.
    :param poke_interval: seconds between read-backs (default 60; at least 10 in reschedule mode).

    A pair whose from record HubSpot's batch read answered with an error other than not-found
    (the record, or its associations, do not exist) is unknown, never done: the sensor keeps
    waiting for it, and a timeout names it with the error.

    Read-back scope: when the summary has a `reportPath` and the file is readable, every pair the
    run sent (`confirmed` or `accepted` in the report, or done by an earlier attempt) is read
    back, since only the report lists them all. Otherwise the summary's `verifySample` (at most
    `max_pairs_to_verify` pairs) is read back: the XCom is kept small, so a sample is all it can
    carry; it catches a systemic failure, not a single pair. The XCom says how many pairs were
    verified and how many of them the run had left `accepted` (now confirmed).
    """

    template_fields: Sequence[str] = ("summary", "archive_task_id", "hubspot_conn_id")
    ui_color = "#ff7a59"

    def __init__(
        self,
        *,
        summary: dict[str, Any] | str | None = None,
        archive_task_id: str | None = None,
        hubspot_conn_id: str | None = None,
        verify: bool = True,
        max_pairs_to_verify: int | None = VERIFY_SAMPLE_SIZE,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: timedelta | float = DEFAULT_POKE_INTERVAL_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        if (summary is None) == (archive_task_id is None):
            raise ValueError("HubSpotBatchStatusSensor needs exactly one of summary and archive_task_id")
        if max_pairs_to_verify is not None and max_pairs_to_verify < 1:
            raise ValueError(f"max_pairs_to_verify must be at least 1, got {max_pairs_to_verify}")
        if self.mode == "reschedule" and self.poke_interval < RESCHEDULE_MIN_POKE_S:
            warnings.warn(
                f"{self.task_id}: poke_interval {self.poke_interval:g} s is raised to "
                f"{RESCHEDULE_MIN_POKE_S:g} s: in reschedule mode a shorter interval races Airflow's "
                "task supervisor and can fail the task",
                UserWarning,
                stacklevel=2,
            )
            self.poke_interval = RESCHEDULE_MIN_POKE_S
        self.summary = summary
        self.archive_task_id = archive_task_id
        self.hubspot_conn_id = hubspot_conn_id
        self.verify = verify
        self.max_pairs_to_verify = max_pairs_to_verify
        self.deferrable = deferrable
        # Per-process state: the summary, the read-back plan (narrowed poke by poke), the client.
        self._summary: ArchiveSummary | None = None
        self._plan: ReadbackPlan | None = None
        self._last: ReadbackResult | None = None
        self._reader: AssociationReader | None = None
        # Pulling an XCom does not order tasks: wire the archive task upstream when it is known,
        # so the sensor cannot start before the summary exists.
        has_dag = self.has_dag()  # type: ignore[no-untyped-call]
        if archive_task_id is not None and has_dag and archive_task_id in self.dag.task_dict:
            self.set_upstream(self.dag.task_dict[archive_task_id])

    # -- inputs ---------------------------------------------------------------------------------

    def _load_summary(self, context: Context) -> ArchiveSummary:
        """Pulled and parsed once per process: the summary of a finished archive cannot change."""
        if self._summary is None:
            if self.archive_task_id is not None:
                value = context["ti"].xcom_pull(task_ids=self.archive_task_id)
                if value is None:
                    raise AirflowFailException(f"task {self.archive_task_id!r} pushed no summary")
            else:
                value = self.summary
            self._summary = parse_summary(value)
        return self._summary

    def _conn_id(self, summary: ArchiveSummary) -> str:
        return self.hubspot_conn_id or summary.hubspot_conn_id

    def _get_reader(self, summary: ArchiveSummary) -> AssociationReader:
        """One client per process, so every poke's reads share its session and rate governor."""
        if self._reader is None:
            from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

            self._reader = HubSpotHook(self._conn_id(summary), api_version=summary.api_version).get_conn()
        return self._reader

    def _get_plan(self, summary: ArchiveSummary) -> ReadbackPlan:
        """The report (with the sample as its stand-in), or the sample alone; built once."""
        if self._plan is None:
            from airflow_provider_hubassoc.batch.readback import ReadbackPlan

            self._plan = ReadbackPlan(
                summary.from_object_type,
                summary.to_object_type,
                report_path=summary.report_path,
                sample=sample_entries(summary, self.max_pairs_to_verify),
            )
        return self._plan

    # -- one check ------------------------------------------------------------------------------

    def _read_back(self, summary: ArchiveSummary) -> ReadbackResult | None:
        """One pass; None when a transient HubSpot error says "try again at the next poke"."""
        from airflow_provider_hubassoc.client.errors import HubSpotError

        plan = self._get_plan(summary)
        try:
            self._last = plan.read_back(self._get_reader(summary))
        except HubSpotError as err:
            if err.fatal:
                raise AirflowFailException(f"read-back failed: {err}") from err
            self.log.warning("Read-back failed, retrying at the next poke: %s", err)
            return None
        if plan.fallback_reason:
            self.log.warning("%s", plan.fallback_reason)
        return self._last

    def _xcom(self, reason: str) -> dict[str, Any]:
        plan, last = self._plan, self._last
        return {
            "verified": last.checked if last is not None else 0,
            "scope": plan.scope if plan is not None else "none",
            "acceptedConfirmed": plan.accepted if plan is not None and last is not None else 0,
            "reason": reason,
        }

    def poke(self, context: Context) -> bool | PokeReturnValue:
        summary = self._load_summary(context)
        verdict = evaluate_summary(summary, verify=self.verify)
        if verdict.action == "fail":
            raise AirflowFailException(verdict.reason)
        if verdict.action == "done":
            self.log.info("%s", verdict.reason)
            return PokeReturnValue(is_done=True, xcom_value=self._xcom(verdict.reason))
        result = self._read_back(summary)
        if result is None:
            return False
        if result.all_gone:
            scope = self._plan.scope if self._plan is not None else "none"
            message = f"{verdict.reason}: all {result.checked} pairs ({scope}) are gone"
            self.log.info("%s", message)
            return PokeReturnValue(is_done=True, xcom_value=self._xcom(message))
        if result.unknown_keys:
            self.log.warning(
                "%d pairs are not confirmed: HubSpot's batch read of their from record failed with an "
                "error other than not-found, so they are read again at the next poke",
                len(result.unknown_keys),
            )
        self.log.info("Waiting: %s", result.describe(5))
        return False

    def _still_present_message(self) -> str:
        if self._last is None or self._plan is None:
            return "no read-back succeeded"
        return f"{self._plan.scope} read-back: {self._last.describe()}"

    # -- modes ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if self.deferrable:
            return self._execute_deferrable(context)
        try:
            return super().execute(context)
        except AirflowSensorTimeout as err:
            raise AirflowSensorTimeout(f"{err} {self._still_present_message()}") from err

    def _execute_deferrable(self, context: Context) -> Any:
        """Check once on the worker; if not done, hand the waiting to the trigger."""
        # Imported here: a DAG file that only defines the sensor does not load Airflow's trigger base.
        from airflow_provider_hubassoc.triggers.batch_status import HubSpotBatchStatusTrigger

        started = time.time()
        try:
            done = self.poke(context)
        except AirflowFailException as err:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping: {err}") from err
            raise
        if done:
            return done.xcom_value if isinstance(done, PokeReturnValue) else None
        summary = self._load_summary(context)
        deadline = started + self.timeout
        self.defer(
            trigger=HubSpotBatchStatusTrigger(
                hubspot_conn_id=self._conn_id(summary),
                from_object_type=summary.from_object_type,
                to_object_type=summary.to_object_type,
                api_version=summary.api_version,
                deadline=deadline,
                poll_interval=max(self.poke_interval, 1.0),
                **trigger_pairs(self._get_plan(summary)),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(deadline - time.time(), 0.0) + self.poke_interval + DEFER_GRACE_S),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: pass on success, raise with its message otherwise."""
        status, message = event.get("status"), str(event.get("message", ""))
        if status == "success":
            self.log.info("%s", message)
            return {
                "verified": event.get("checked", 0),
                "scope": event.get("scope"),
                "acceptedConfirmed": event.get("accepted", 0),
                "reason": message,
            }
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        if event.get("fatal"):
            raise AirflowFailException(message)
        raise AirflowException(message)


def sample_entries(summary: ArchiveSummary, limit: int | None) -> list[tuple[str, Pair]]:
    """The summary's verify sample as `(status, pair)`, at most `limit` of them.

    A sample entry may name its status; otherwise it is inferred from the totals when they leave
    no doubt (all sent pairs accepted, or none), and taken as `confirmed` when they do.
    """
    totals = summary.totals
    all_accepted = totals.accepted and not (totals.confirmed or totals.done_earlier)
    default = ACCEPTED if all_accepted else CONFIRMED
    entries = summary.verify_sample if limit is None else summary.verify_sample[:limit]
    try:
        return [(str(e.get("status") or default), pair_of_line(e, "verifySample")) for e in entries]
    except ValueError as err:
        raise AirflowFailException(f"not an archive summary: {err}") from None


def trigger_pairs(plan: ReadbackPlan) -> dict[str, Any]:
    """The trigger kwargs that carry the plan: its still-present pairs inline when they are few,
    else the report path (trigger kwargs live in the metadata database); plus the sample, which
    stands in for a report the triggerer cannot read, and the counts of the passes made so far."""
    sample = [pair_line(p, status) for status, p in plan.sample or []]
    kwargs: dict[str, Any] = {"scope": plan.scope, "total_pairs": plan.checked, "accepted_pairs": None}
    pending = plan.pending  # still present or unknown, as pair keys
    if plan.scope == "report" and (pending is None or len(pending) > TRIGGER_INLINE_PAIRS):
        return {**kwargs, "report_path": plan.report_path, "fallback_pairs": sample}
    pairs = plan.pending_pairs()
    if pairs is None:  # the first read failed transiently: the trigger starts from the sample
        return {**kwargs, "pairs": sample}
    return {**kwargs, "pairs": [pair_line(p) for p in pairs], "accepted_pairs": plan.accepted}
