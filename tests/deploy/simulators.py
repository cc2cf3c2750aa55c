"""The two HubSpot simulators of the deployment test and the state each must end in.

`examples` is seeded from the demo data the example DAGs are written for, plus a block of
`LOAD_CONTACTS` x `LOAD_COMPANIES` contact -> company edges that the fan-out example removes under
load on the default connection (issue 24: the machine-local budget). `delayed` holds a
generated portal large enough for a 10,000-pair read-back and keeps archived pairs readable for
`VISIBILITY_DELAY_S`, so that the sensors have to wait (defer, reschedule) before they succeed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubassoc_simulator import SimulatorState
from hubassoc_simulator.process import SimulatorProcess

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SEED = REPO / "dags_examples" / "data" / "demo_seed.json"
# Long enough for the trigger to read back all 10,000 pairs several times: under load the archive,
# the sensor's first poke, the deferral and the triggerer's first connection look-up (it builds its
# in-process execution API then, about 30 s here) take about a minute.
VISIBILITY_DELAY_S = 90
DELAYED_RATE_LIMIT = 1000  # per 10 s: archiving 10,000 pairs takes 100 requests
DELAYED_PORTAL = ("3000", "14000", "5")  # records, associations, seed
# The fan-out load: 20,000 pairs, 200 archive requests of 100 against the account's 100 per 10 s.
LOAD_CONTACTS, LOAD_COMPANIES = 2_500, 8
LOAD_FIRST_CONTACT, LOAD_FIRST_COMPANY = 200_001, 300_001

Pair = tuple[str, str]
LabelRemoval = tuple[str, str, frozenset[tuple[str, int]]]
# The mirror example's desired state: (contact, company) -> the types the pair must hold.
Desired = dict[Pair, frozenset[tuple[str, int]]]
UNLABELED = ("HUBSPOT_DEFINED", 279)


@dataclass
class Simulators:
    examples: SimulatorProcess
    delayed: SimulatorProcess
    examples_before: dict[str, Any]
    delayed_before: dict[str, Any]


def start_simulators(root: Path, started: list[SimulatorProcess]) -> Simulators:
    """Start both; `started` lists every process started so far, for the caller's teardown."""
    examples = _start(["--seed", str(write_examples_seed(root))], root / "simulator-examples.log", started)
    delayed_args = ["--generate", *DELAYED_PORTAL, "--visibility-delay", str(VISIBILITY_DELAY_S)]
    delayed_args += ["--rate-limit", str(DELAYED_RATE_LIMIT)]
    delayed = _start(delayed_args, root / "simulator-delayed.log", started)
    return Simulators(examples, delayed, examples.admin("state"), delayed.admin("state"))


def load_pairs() -> list[Pair]:
    """The fan-out load's pairs, contact by contact."""
    companies = range(LOAD_FIRST_COMPANY, LOAD_FIRST_COMPANY + LOAD_COMPANIES)
    contacts = range(LOAD_FIRST_CONTACT, LOAD_FIRST_CONTACT + LOAD_CONTACTS)
    return [(str(contact), str(company)) for contact in contacts for company in companies]


def write_examples_seed(root: Path) -> Path:
    """The demo seed plus the load's records and edges (each with the unlabeled type)."""
    seed = json.loads(EXAMPLE_SEED.read_text())
    pairs = load_pairs()
    seed["records"]["contacts"] += sorted({contact for contact, _ in pairs})
    seed["records"]["companies"] += sorted({company for _, company in pairs})
    seed["associations"] += [
        {
            "fromObjectType": "contacts",
            "fromId": contact,
            "toObjectType": "companies",
            "toId": company,
            "types": [{"category": "HUBSPOT_DEFINED", "typeId": 279}],
        }
        for contact, company in pairs
    ]
    path = root / "examples-seed.json"
    path.write_text(json.dumps(seed))
    return path


def _start(args: list[str], log_path: Path, started: list[SimulatorProcess]) -> SimulatorProcess:
    process = SimulatorProcess(args, log_path=log_path)
    started.append(process)
    return process.start()


def contact_company_pairs(snapshot: dict[str, Any]) -> list[Pair]:
    """Every contact -> company edge of a state snapshot, in the snapshot's order."""
    return [
        (edge["fromId"], edge["toId"])
        for edge in snapshot["associations"]
        if edge["fromObjectType"] in ("contacts", "0-1") and edge["toObjectType"] in ("companies", "0-2")
    ]


def write_pairs_csv(path: Path, pairs: Iterable[Pair]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["from_id", "to_id"])
        writer.writerows(pairs)
    return path


def expected_state(
    before: dict[str, Any],
    scratch: Path,
    archived: Iterable[Pair] = (),
    labels_archived: Iterable[LabelRemoval] = (),
    mirrored: Desired | None = None,
) -> dict[str, Any]:
    """`before` with exactly these removals applied by the simulator's own rules (reverse edges
    too), and the mirror example's contacts made to hold exactly `mirrored` (their scope is apart
    from every other example's records, so the order of the runs does not matter)."""
    scratch.write_text(json.dumps(before))
    state = SimulatorState.from_file(scratch)
    for fid, tid, labels in labels_archived:
        state.archive_labels("contacts", fid, "companies", tid, set(labels))
    for fid, tid in archived:
        if state.has_record("contacts", fid) and state.has_record("companies", tid):
            state.archive_pair("contacts", fid, "companies", tid)
    _mirror(state, mirrored or {})
    return state.snapshot()


def _mirror(state: SimulatorState, desired: Desired) -> None:
    """What a mirror sync does to its scope: removes pairs not desired, creates what is missing."""
    scope = {contact for contact, _ in desired}
    for (contact, company), _held in state.edges("contacts", "companies").items():
        if contact in scope and (contact, company) not in desired:
            state.archive_pair("contacts", contact, "companies", company)
    for (contact, company), types in desired.items():
        missing = types - state.labels_of("contacts", contact, "companies", company)
        if missing:
            state.add_association("contacts", contact, "companies", company, sorted(missing), mirror=True)


def read_desired(path: Path, names: dict[str, tuple[str, int]]) -> Desired:
    """The mirror example's table: each pair with the unlabeled type and its named labels."""
    desired: dict[Pair, set[tuple[str, int]]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            types = desired.setdefault((row["contact_id"], row["company_id"]), {UNLABELED})
            if row["label"]:
                types.add(names[row["label"]])
    return {pair: frozenset(types) for pair, types in desired.items()}


def label_ids(snapshot: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """contact -> company label names to (category, typeId), from the portal's label definitions."""
    return {
        str(item["label"]): (str(item["category"]), int(item["typeId"]))
        for item in snapshot["labels"]
        if item["fromObjectType"] in ("contacts", "0-1") and item["toObjectType"] in ("companies", "0-2")
    }
