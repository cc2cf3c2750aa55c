"""Fixtures of the reliability suite (helpers live in tests/support/).

Every test in this folder is also checked, at teardown, for leaked secrets: captured logs,
stdout/stderr, and whatever the test handed to `leak_scan.add(...)` (XComs, rendered template
fields, exception texts and reprs, hook/client reprs, subprocess output).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hubassoc_simulator import Simulator, SimulatorConfig, SimulatorState, TokenSpec
from tests.support.airflow_versions import AIRFLOW_VERSION
from tests.support.assertions import LeakScan
from tests.support.connections import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, TOKEN, conn_json
from tests.support.sim_states import MakeSim, reliability_grid


@pytest.fixture(autouse=True)
def leak_scan(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[LeakScan]:
    caplog.set_level(logging.DEBUG)
    scan = LeakScan()
    yield scan
    out, err = capfd.readouterr()
    scan.add("stdout", _without_airflow_3_0_own_echoes(out))
    scan.add("stderr", err)
    scan.add("log records", caplog.text)
    scan.add("log messages", "\n".join(r.getMessage() for r in caplog.records))
    scan.check()


def _without_airflow_3_0_own_echoes(out: str) -> str:
    """stdout without two things only Airflow 3.0 prints, on the console of `dag.test()`:

    - its DEBUG line `Sending request msg=MaskSecret(value='<secret>')`, one per secret the task
      asks the supervisor to mask;
    - the "locals" panels of its Rich tracebacks (3.0's pretty console uses structlog's
      RichTracebackFormatter with show_locals; its task log files and 3.1+ do not show locals).

    Every other line, ours included, is still scanned. The README tells 3.0 users about both.
    """
    if AIRFLOW_VERSION != (3, 0):
        return out
    kept: list[str] = []
    in_locals = False
    for line in out.splitlines():
        if "─ locals ─" in line:
            in_locals = True
        elif in_locals:
            in_locals = "╰" not in line
        elif not ("Sending request" in line and "msg=MaskSecret(" in line):
            kept.append(line)
    return "\n".join(kept)


# -- simulator + connection ------------------------------------------------------------------------


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
        sim = simulator_factory(SimulatorConfig(**config), state if state is not None else reliability_grid())
        leak_scan.sims.append(sim)
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", conn_json(sim.url, oauth=oauth, **(extra or {})))
        return sim

    return make
