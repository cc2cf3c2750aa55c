"""Follow many DAG runs at once and remember every state each task instance was seen in.

Transient states (`deferred`, `up_for_reschedule`) last seconds, so a background thread polls every
run once a second while the tests assert on runs that finished.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.deploy.airflow_api import TERMINAL_RUN_STATES, AirflowApi, RunRef

TaskKey = tuple[str, int]  # (task_id, map_index)


@dataclass
class RunRecord:
    state: str = "queued"
    tasks: dict[TaskKey, dict[str, Any]] = field(default_factory=dict)
    seen: dict[TaskKey, set[str]] = field(default_factory=lambda: defaultdict(set))
    finished: threading.Event = field(default_factory=threading.Event)

    def states_seen(self, task_id: str, map_index: int = -1) -> set[str]:
        return set(self.seen.get((task_id, map_index), set()))

    def final_states(self) -> dict[TaskKey, str | None]:
        """Each task instance's last state; a mapped task's unexpanded placeholder (-1) left out."""
        mapped = {task_id for task_id, map_index in self.tasks if map_index >= 0}
        return {key: ti["state"] for key, ti in self.tasks.items() if not (key[1] == -1 and key[0] in mapped)}


class RunWatcher:
    """`watch(run)` then `wait(run)`; `stop()` ends the polling thread."""

    def __init__(self, api: AirflowApi, alive: Callable[[], None], poll_s: float = 1.0) -> None:
        self.api = api
        self.alive = alive  # raises when a component of the deployment died: no point waiting on
        self.poll_s = poll_s
        self.records: dict[RunRef, RunRecord] = {}
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-watcher", daemon=True)
        self._thread.start()

    def watch(self, runs: Iterable[RunRef]) -> None:
        with self._lock:
            for run in runs:
                self.records.setdefault(run, RunRecord())

    def wait(self, run: RunRef, timeout_s: float) -> RunRecord:
        record = self.records[run]
        deadline = time.monotonic() + timeout_s
        while not record.finished.wait(min(5.0, max(deadline - time.monotonic(), 0.0))):
            self.alive()
            if time.monotonic() < deadline:
                continue
            last_error = f"; last polling error: {self.error!r}" if self.error else ""
            raise AssertionError(
                f"{run} not finished after {timeout_s:.0f} s: {record.final_states()}{last_error}"
            )
        return record

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            with self._lock:
                pending = [(run, rec) for run, rec in self.records.items() if not rec.finished.is_set()]
            for run, record in pending:
                try:
                    self._poll(run, record)
                except Exception as exc:  # a transient API error: note it, try again next round
                    self.error = exc

    def _poll(self, run: RunRef, record: RunRecord) -> None:
        state = self.api.run_state(run)
        for ti in self.api.task_instances(run):
            key = (str(ti["task_id"]), int(ti["map_index"]))
            record.tasks[key] = ti
            if ti["state"]:
                record.seen[key].add(str(ti["state"]))
        record.state = state
        if state in TERMINAL_RUN_STATES:
            record.finished.set()


def wait_all(watcher: RunWatcher, runs: Iterable[RunRef], timeout_s: float) -> dict[RunRef, RunRecord]:
    deadline = time.monotonic() + timeout_s
    return {run: watcher.wait(run, max(deadline - time.monotonic(), 0.1)) for run in runs}
