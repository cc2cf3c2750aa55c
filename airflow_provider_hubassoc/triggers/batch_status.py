"""Deferrable read-back of archived pairs: waits, off the worker, until HubSpot shows them gone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_hubassoc.client.errors import HubSpotError
from airflow_provider_hubassoc.client.readback import (
    STILL_PRESENT_SAMPLE_SIZE,
    AssociationReader,
    ReadbackResult,
    find_still_present,
)
from airflow_provider_hubassoc.models.summary import VerifyPair

# Report pair statuses that were archived and must be read back as gone.
REPORT_STATUSES: tuple[str, ...] = ("done",)


def report_pairs(report_path: str) -> Iterator[VerifyPair]:
    """Every archived pair of a JSONL report, streamed (the reader belongs to the operators)."""
    from airflow_provider_hubassoc.operators.report import iter_report_pairs

    return iter_report_pairs(report_path, statuses=REPORT_STATUSES)


class HubSpotBatchStatusTrigger(BaseTrigger):
    """Poll a read-back until every pair is gone or an absolute deadline passes; yield one event.

    Its kwargs are stored in the metadata database, so it carries either a small list of `pairs`
    or the `report_path` to stream them from, never 100k inline pairs; and the connection id,
    never a token. Each pass runs the blocking read-back in a thread (`asyncio.to_thread`), so the
    triggerer's event loop is never blocked. After the first pass only the pairs still present are
    re-read. The last check happens at or after `deadline` (epoch seconds) before a timeout is
    reported, so a pair that vanished during the last interval does not cause a false timeout.

    The single event's payload: `status` ("success" | "timeout" | "error"), `message`, `checked`,
    `still_present_count` (None when never read), `still_present` (a bounded sample) and `fatal`.
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
        poll_interval: float = 60.0,
        scope: str = "sample",
        total_pairs: int | None = None,
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
        self.poll_interval = float(poll_interval)
        self.scope = scope
        self.total_pairs = total_pairs  # pairs the sensor already read back, for counts in messages
        # Seams for tests (a fake clock); never serialized.
        self._now: Callable[[], float] = time.time
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._reader: AssociationReader | None = None

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
                "poll_interval": self.poll_interval,
                "scope": self.scope,
                "total_pairs": self.total_pairs,
            },
        )

    def _get_reader(self) -> AssociationReader:
        """The hook (its rate governor included), built once, in the worker thread."""
        if self._reader is None:
            from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

            self._reader = HubSpotHook(hubspot_conn_id=self.hubspot_conn_id, api_version=self.api_version)
        return self._reader

    def _read_back(self, pending: list[VerifyPair] | None) -> ReadbackResult:
        """Blocking: runs in a thread."""
        source: Iterable[VerifyPair]
        if pending is not None:
            source = pending
        elif self.report_path is not None:
            source = report_pairs(self.report_path)
        else:
            source = [VerifyPair.model_validate(p) for p in self.pairs or []]
        return find_still_present(
            self._get_reader(),
            self.from_object_type,
            self.to_object_type,
            source,
            api_version=self.api_version,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async for event in self._poll():
                yield event
        finally:
            if self._reader is not None and hasattr(self._reader, "close"):
                self._reader.close()  # the pooled connections of a finished trigger

    async def _poll(self) -> AsyncIterator[TriggerEvent]:
        """Read back until all gone or the deadline; the last pass is timed to end by the deadline."""
        pending: list[VerifyPair] | None = None
        total = self.total_pairs  # pairs of the first, full pass; later passes re-read fewer
        last: ReadbackResult | None = None
        last_error: HubSpotError | None = None
        pass_s = 0.0  # how long the last read-back took: the final pass must start that early
        while True:
            started = self._now()
            try:
                result = await asyncio.to_thread(self._read_back, pending)
                total = result.checked if total is None else total
                last, last_error = replace(result, checked=total), None
            except HubSpotError as err:
                if err.fatal:
                    yield self._event("error", f"read-back failed: {err}", last, fatal=True)
                    return
                self.log.warning("Read-back failed, retrying at the next poll: %s", err)
                last_error = err
            except Exception as err:
                self.log.exception("Read-back failed")
                where = f" (report {self.report_path!r} must be readable from the triggerer)"
                yield self._event(
                    "error", f"read-back failed: {err!r}{where if self.report_path else ''}", last
                )
                return
            now = self._now()
            pass_s = max(now - started, 0.0)
            if last is not None and last_error is None:
                if last.all_gone:
                    yield self._event("success", f"all {last.checked} archived pairs are gone", last)
                    return
                pending = last.still_present
                self.log.info("Still present: %s", last.describe(5))
            if now + pass_s >= self.deadline:  # another pass could not finish by the deadline
                yield self._event("timeout", self._timeout_message(last, last_error), last)
                return
            await self._sleep(min(self.poll_interval, self.deadline - now - pass_s))

    def _timeout_message(self, last: ReadbackResult | None, last_error: HubSpotError | None) -> str:
        parts = [f"timed out waiting for HubSpot to show the archived pairs gone ({self.scope} read-back)"]
        if last is not None:
            parts.append(last.describe())
        if last_error is not None:
            parts.append(f"the last read-back failed: {last_error}")
        return "; ".join(parts)

    def _event(
        self, status: str, message: str, last: ReadbackResult | None, *, fatal: bool = False
    ) -> TriggerEvent:
        return TriggerEvent(  # type: ignore[no-untyped-call]
            {
                "status": status,
                "message": message,
                "scope": self.scope,
                "checked": last.checked if last is not None else 0,
                "still_present_count": len(last.still_present) if last is not None else None,
                "still_present": last.sample(STILL_PRESENT_SAMPLE_SIZE) if last is not None else [],
                "fatal": fatal,
            }
        )
