"""Deferrable read-back of archived pairs: waits, off the worker, until HubSpot shows them gone."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_hubassoc.batch.readback import (
        AssociationReader,
        ReadbackPass,
        ReadbackPlan,
        ReadbackResult,
    )
    from airflow_provider_hubassoc.models.associations import Pair

_T = TypeVar("_T")

# A pass that starts at or after the deadline (the final check) still gets this long.
FINAL_PASS_S = 2.0


class HubSpotBatchStatusTrigger(BaseTrigger):
    """Poll a read-back until every pair is gone or an absolute deadline passes; yield one event.

    Its kwargs are stored in the metadata database, so it carries either a small list of `pairs`
    or the `report_path` to stream them from, never 100k inline pairs; and the connection id,
    never a token. `fallback_pairs` (the summary's verify sample) stand in for a report the
    triggerer cannot read, the same rule as the sensor's. `total_pairs` / `accepted_pairs` carry
    the counts of a first pass the sensor already made, so `pairs` are then only what was left.

    Every blocking step (connection lookup, report reading, HTTP, parsing) runs in this trigger's
    own thread, one batch read per hop (`ReadbackPlan.start` / `ReadbackPass.step`), and every
    pass is bounded by the deadline (`asyncio.wait_for`), so neither the triggerer's event loop
    nor a stalled HubSpot reply can hold the event back. A hop keeps nothing past itself but
    plain strings and tuples (pair keys, read results), so a pass over many pairs does not feed
    the garbage collector full collections of the triggerer's heap, which would stall the loop
    (the collector itself is never touched: the triggerer runs every provider's triggers). The
    HTTP rules (auth, rate budget, retries, error mapping) stay the sync client's, in one place.
    The last check happens at the deadline, so a pair that vanished during the last interval
    does not cause a false timeout.

    Pairs whose read failed with an error other than not-found are unknown: never done; a
    success needs every pair read and gone.

    The single event's payload: `status` ("success" | "timeout" | "error"), `message`, `scope`,
    `checked`, `accepted` (pairs the run left `accepted` that the read-back confirmed: set on
    success), `still_present_count` (None when never read), `still_present` (a bounded sample),
    `unknown_count` (None when never read), `unknown` (a bounded sample, each with its `reason`)
    and `fatal`.
    """

    def __init__(
        self,
        *,
        hubspot_conn_id: str,
        from_object_type: str,
        to_object_type: str,
        deadline: float,
        api_version: str | None = None,
        pairs: list[dict[str, Any]] | None = None,
        report_path: str | None = None,
        fallback_pairs: list[dict[str, Any]] | None = None,
        poll_interval: float = 60.0,
        scope: str = "sample",
        total_pairs: int | None = None,
        accepted_pairs: int | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if (pairs is None) == (report_path is None):
            raise ValueError("HubSpotBatchStatusTrigger needs exactly one of pairs and report_path")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}")
        self.hubspot_conn_id = hubspot_conn_id
        self.from_object_type = from_object_type
        self.to_object_type = to_object_type
        self.deadline = float(deadline)
        self.api_version = api_version
        self.pairs = pairs
        self.report_path = report_path
        self.fallback_pairs = fallback_pairs
        self.poll_interval = float(poll_interval)
        self.scope = scope
        self.total_pairs = total_pairs
        self.accepted_pairs = accepted_pairs
        # Seams for tests (a fake clock, a fake reader); never serialized.
        self._now: Callable[[], float] = time.time
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._reader: AssociationReader | None = None
        self._plan: ReadbackPlan | None = None
        self._fallback_logged = False
        self._executor: ThreadPoolExecutor | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "hubspot_conn_id": self.hubspot_conn_id,
                "from_object_type": self.from_object_type,
                "to_object_type": self.to_object_type,
                "deadline": self.deadline,
                "api_version": self.api_version,
                "pairs": self.pairs,
                "report_path": self.report_path,
                "fallback_pairs": self.fallback_pairs,
                "poll_interval": self.poll_interval,
                "scope": self.scope,
                "total_pairs": self.total_pairs,
                "accepted_pairs": self.accepted_pairs,
            },
        )

    # -- blocking steps, run in the trigger's thread ------------------------------------------------

    def _build_plan(self) -> ReadbackPlan:
        from airflow_provider_hubassoc.batch.readback import ReadbackPlan
        from airflow_provider_hubassoc.models.associations import pair_of_line

        def entries(lines: list[dict[str, Any]] | None) -> list[tuple[str, Pair]] | None:
            return None if lines is None else [(str(p.get("status")), pair_of_line(p)) for p in lines]

        plan = ReadbackPlan(
            self.from_object_type,
            self.to_object_type,
            report_path=self.report_path,
            sample=entries(self.pairs if self.report_path is None else self.fallback_pairs),
            checked=self.total_pairs,
            scope="report" if self.report_path or self.scope == "report" else "sample",
        )
        if self.pairs is not None and self.total_pairs is not None:  # the sensor's first pass is done
            plan.set_pending(pair for _, pair in plan.sample or [])
            plan.accepted = self.accepted_pairs or 0
        return plan

    def _start_pass(self) -> ReadbackPass:
        """A new pass; the first one also looks the connection up and parses the kwargs' pairs."""
        if self._plan is None:
            self._plan = self._build_plan()
        if self._reader is None:
            from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

            self._reader = HubSpotHook(self.hubspot_conn_id, api_version=self.api_version).get_conn()
        return self._plan.start(self._reader)

    def _close(self) -> None:
        closer = getattr(self._reader, "close", None)
        if callable(closer):
            closer()  # the pooled connections of a finished trigger

    async def _off_loop(self, func: Callable[[], _T]) -> _T:
        """`func()` in the trigger's own thread (with the caller's context, so its logs land in
        this trigger's log). One thread, so hops run in order, even after a pass timed out."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubassoc-readback")
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._executor, context.run, func)

    async def _read_back(self) -> ReadbackResult:
        """One pass, one batch read per thread hop; the loop only hands the pass from hop to hop."""
        started = await self._off_loop(self._start_pass)
        while not await self._off_loop(started.step):
            pass
        assert self._plan is not None  # set by _start_pass
        return self._plan.finish(started)

    # -- the event loop side ------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async for event in self._poll():
                yield event
        finally:
            executor, self._executor = self._executor, None
            if executor is not None:
                executor.submit(self._close)  # runs after a pass still in flight; never waited for
                executor.shutdown(wait=False)

    async def _poll(self) -> AsyncIterator[TriggerEvent]:
        """Read back until all gone or the deadline; the last pass is timed to end by the deadline."""
        last: ReadbackResult | None = None
        failure: str | None = None  # why the last pass gave no result
        while True:
            started = self._now()
            outcome = await self._one_pass(max(self.deadline - started, FINAL_PASS_S), last)
            if isinstance(outcome, TriggerEvent):
                yield outcome
                return
            last, failure = (last, outcome) if isinstance(outcome, str) else (outcome, None)
            now = self._now()
            if failure is None and last is not None:
                if last.all_gone:
                    yield self._event("success", f"all {last.checked} archived pairs are gone", last)
                    return
                self.log.info("Still present: %s", last.describe(5))
            pass_s = max(now - started, 0.0)  # the final pass must start this early
            if now + pass_s >= self.deadline:  # another pass could not finish by the deadline
                yield self._event("timeout", self._timeout_message(last, failure), last)
                return
            await self._sleep(min(self.poll_interval, self.deadline - now - pass_s))

    async def _one_pass(
        self, bound: float, last: ReadbackResult | None
    ) -> ReadbackResult | str | TriggerEvent:
        """A pass bounded by `bound` seconds: its result, why it gave none, or the final error event."""
        from airflow_provider_hubassoc.batch.report import ReportUnreadableError
        from airflow_provider_hubassoc.client.errors import HubSpotError

        try:
            result = await asyncio.wait_for(self._read_back(), bound)
        except HubSpotError as err:
            if err.fatal:
                return self._event("error", f"read-back failed: {err}", last, fatal=True)
            self.log.warning("Read-back failed, retrying at the next poll: %s", err)
            return f"the last read-back failed: {err}"
        except TimeoutError:
            return f"the last read-back did not finish within {bound:.1f} s"
        except ReportUnreadableError as err:
            where = "it must be readable from the triggerer, or the sensor must pass the sample"
            return self._event("error", f"read-back failed: {err} ({where})", last)
        if self._plan is not None and self._plan.fallback_reason and not self._fallback_logged:
            self.log.warning("%s", self._plan.fallback_reason)
            self._fallback_logged = True
        return result

    def _timeout_message(self, last: ReadbackResult | None, failure: str | None) -> str:
        scope = self._plan.scope if self._plan is not None else self.scope
        parts = [f"timed out waiting for HubSpot to show the archived pairs gone ({scope} read-back)"]
        if last is not None:
            parts.append(last.describe())
        if failure is not None:
            parts.append(failure)
        return "; ".join(parts)

    def _event(
        self, status: str, message: str, last: ReadbackResult | None, *, fatal: bool = False
    ) -> TriggerEvent:
        plan = self._plan
        return TriggerEvent(  # type: ignore[no-untyped-call]
            {
                "status": status,
                "message": message,
                "scope": plan.scope if plan is not None else self.scope,
                "checked": last.checked if last is not None else 0,
                "accepted": plan.accepted if plan is not None and status == "success" else 0,
                "still_present_count": len(last.present_keys) if last is not None else None,
                "still_present": last.sample() if last is not None else [],
                "unknown_count": len(last.unknown_keys) if last is not None else None,
                "unknown": last.unknown_sample() if last is not None else [],
                "fatal": fatal,
            }
        )
