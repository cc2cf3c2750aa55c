"""Reliability suite helpers: distinctive secrets, a simulator + connection factory, an operator
runner that captures everything a secret could leak into, and the report-vs-state checker.

Every test in this folder is also checked, at teardown, for leaked secrets: captured logs,
stdout/stderr, and whatever the test handed to `leak_scan.add(...)` (XComs, rendered template
fields, exception texts and reprs, hook/client reprs, subprocess output).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubassoc.simulator import Simulator, SimulatorConfig, SimulatorState, TokenSpec
from tests.operators.conftest import BILLING, BOSS, FT, TT, UNLABELED

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

__all__ = ["BILLING", "BOSS", "FT", "TT", "UNLABELED"]


def grid_state(froms: int = 8, tos: int = 8) -> SimulatorState:
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


# -- leak scanning ---------------------------------------------------------------------------------


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


@pytest.fixture(autouse=True)
def leak_scan(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[LeakScan]:
    caplog.set_level(logging.DEBUG)
    scan = LeakScan()
    yield scan
    out, err = capfd.readouterr()
    scan.add("stdout", out)
    scan.add("stderr", err)
    scan.add("log records", caplog.text)
    scan.add("log messages", "\n".join(r.getMessage() for r in caplog.records))
    scan.check()


# -- simulator + connection ------------------------------------------------------------------------


def conn_json(url: str, *, oauth: bool = False, **extra: Any) -> str:
    conn: dict[str, Any] = {"conn_type": "hubspot", "host": url, "extra": {**FAST_EXTRA, **extra}}
    if oauth:
        conn["extra"].update(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    else:
        conn["password"] = TOKEN
    return json.dumps(conn)


MakeSim = Callable[..., Simulator]


@pytest.fixture
def rel_sim(
    simulator_factory: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch, leak_scan: LeakScan
) -> MakeSim:
    """`rel_sim(state=None, oauth=False, extra=None, **config)`: a started simulator knowing the
    secret token and OAuth client, and `hubspot_default` pointing at it with short retries."""

    def make(
        state: SimulatorState | None = None,
        *,
        oauth: bool = False,
        extra: dict[str, Any] | None = None,
        **config: Any,
    ) -> Simulator:
        config.setdefault("rate_limit", 10_000)
        config.setdefault("rate_interval_ms", 500)
        config.setdefault("tokens", {TOKEN: TokenSpec()})
        config.setdefault("oauth_client_id", CLIENT_ID)
        config.setdefault("oauth_client_secret", CLIENT_SECRET)
        config.setdefault("refresh_tokens", frozenset({REFRESH_TOKEN}))
        sim = simulator_factory(SimulatorConfig(**config), state if state is not None else grid_state())
        leak_scan.sims.append(sim)
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", conn_json(sim.url, oauth=oauth, **(extra or {})))
        return sim

    return make


# -- running an operator ---------------------------------------------------------------------------


class FakeTI:
    """Records what the operator pushes to XCom (the failure summary goes to key 'summary')."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # an XCom must be JSON-safe
        self.pushed[key] = value


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


def run_operator(op: Any, sim: Simulator, scan: LeakScan, report_path: Path | None = None) -> Run:
    """Execute `op` as a task would (context with a ti), capturing everything a secret could hit."""
    before = sim.state.edges(FT, TT)
    ti = FakeTI()
    context: dict[str, Any] = {"ti": ti}
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

    - every requested pair is in the report once, with done / failed / skipped;
    - done (or checkpoint-skipped) pairs are gone (label archive: their labels are gone);
    - failed / skipped pairs are unchanged, except `ambiguous` ones (the server may have applied a
      request whose reply was lost): those are either unchanged or removed;
    - every pair never requested keeps exactly its labels.
    Returns the pairs by reported status.
    """
    wanted = set(requested)
    lines = run.pair_statuses()
    assert set(lines) == wanted, "the report must account for every requested pair, and only those"
    by_status: dict[str, set[tuple[str, str]]] = {"done": set(), "failed": set(), "skipped": set()}
    for key, line in lines.items():
        status = line["status"]
        if status == "skipped" and line["category"] == "checkpoint":
            status = "done"
        assert status in by_status, line
        by_status[status].add(key)
    totals = run.summary["totals"]
    assert totals["requested"] == len(wanted)
    assert totals["done"] + totals["failed"] + totals["skipped"] == totals["requested"]
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
