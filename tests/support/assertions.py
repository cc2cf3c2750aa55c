"""Checks shared by the reliability and operator suites: no secret anywhere a test gathered text
from (LeakScan), and the simulator's final state is exactly what a run's report says."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tests.support.connections import SECRETS
from tests.support.sim_states import FT, TT

if TYPE_CHECKING:
    from hubassoc_simulator import Simulator
    from tests.support.operator_runs import Run


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
