"""For tests of the read-back (sensor and trigger): a scriptable in-memory association reader, a
fake clock for the trigger and a probe of how long the event loop was blocked. Airflow-free."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_hubassoc.models.responses import AssociationReadResult


class FakeReader:
    """Holds `(from_id, to_id) -> {(category, typeId)}`; records every call and its thread.

    `on_read` runs before each read (e.g. to remove pairs after N reads, or to raise).
    """

    def __init__(self, edges: dict[tuple[str, str], set[tuple[str, int]]] | None = None) -> None:
        self.edges = dict(edges or {})
        self.calls: list[list[str]] = []
        self.threads: list[int] = []
        self.on_read: Callable[[FakeReader], None] | None = None

    def read_associations(
        self, from_type: str, to_type: str, ids: Iterable[str | int]
    ) -> AssociationReadResult:
        from airflow_provider_hubassoc.models.responses import AssociatedRecord, AssociationReadResult

        asked = [str(i) for i in ids]
        assert 0 < len(asked) <= 1000
        self.calls.append(asked)
        self.threads.append(threading.get_ident())
        if self.on_read is not None:
            self.on_read(self)
        out: dict[str, list[AssociatedRecord]] = {i: [] for i in asked}
        for (fid, tid), labels in self.edges.items():
            if fid in out:
                types = [{"category": c, "typeId": t} for c, t in sorted(labels)]
                out[fid].append(
                    AssociatedRecord.model_validate({"toObjectId": tid, "associationTypes": types})
                )
        return AssociationReadResult(associations=out)


class AsyncFakeClock:
    """Epoch time that moves only when the trigger sleeps (or a test moves it)."""

    START = 1_000_000.0

    def __init__(self) -> None:
        self.t = self.START
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class LoopLagProbe:
    """Measures how long the running event loop was blocked: the gaps between its 10 ms sleeps.

    `worst` is the largest gap past the tick, as a triggerer sees it. On a loaded machine a gap can
    also be the OS running other processes, which no trigger can help; `worst_busy` counts only
    the part of each gap this process spent on the CPU (a thread holding the GIL, or work on the
    loop), which is what a trigger is answerable for. Use as `async with LoopLagProbe() as probe:`.
    """

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.worst = 0.0
        self.worst_busy = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before, cpu_before = loop.time(), time.process_time()
            await asyncio.sleep(self.tick)
            gap = loop.time() - before - self.tick
            busy = time.process_time() - cpu_before - self.tick
            self.worst = max(self.worst, gap)
            self.worst_busy = max(self.worst_busy, min(gap, busy))

    async def __aenter__(self) -> LoopLagProbe:
        self._task = asyncio.create_task(self._watch())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
