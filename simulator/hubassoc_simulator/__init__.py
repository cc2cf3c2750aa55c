"""A local, stateful HubSpot associations API on loopback: the demo's default, the tests' and benchmarks'.

It imports nothing from the provider: its facts (object types, HUBSPOT_DEFINED ids, limits, what
each API version answers) live in `simulator.facts`, so a wrong fact in the provider is caught.

Each version answers as HubSpot describes it today (`facts.DEFAULT_*_REPLIES`): archive and labels
archive `200` with a batch body on the date versions, `204` without one on v4; batch read `207` on
partial failure except on 2026-09; batch create `201`. The flipped variants are selectable per
version, for tests of the UNSETTLED cases: `SimulatorConfig(archive_replies={"v4": "200"})`,
`read_replies`, `create_replies`, `reply_mode` (one archive reply for every version), the same keys
on `POST /_sim/config` (partial tables merge), or `--archive-reply v4=200` on the CLI.

Batch create (`.../batch/create`, every version) answers `201` (`create_replies` flips it to `200`),
`207` with per-input errors for unknown records; it adds both directions, as HubSpot does, and
succeeds on what already exists. `create_adds_unlabeled=True` selects the other answer to the
notes' UNSETTLED point: creating a labeled type also creates the pair's unlabeled one. Seed with
`add_association(..., mirror=True)` when a test compares the state before and after a restore.
Association limits (`association_limits={"contacts/companies/HUBSPOT_DEFINED:279": 2}`, HubSpot's
`maxToObjectIds` per type or label): a create that would take a from record past a cap fails for
that input only (207, `VALIDATION_ERROR`, sub-category `crm.associations.ASSOCIATION_LIMIT_EXCEEDED`,
a message saying so); batch read pages each record's `to` list `read_page_size` at a time.

Silent drops, for proving that a run never claims more than HubSpot told it:
`sim.configure(silent_drops={("1", "1000001")})` (admin: `{"silent_drops": [["1", "1000001"]]}`)
makes archive and labels archive leave that (from id, to id) pair in place, for every object type
and version, while answering exactly as if it had been removed. Batch read still shows the pair;
the counters report it as `dropped_pairs`, not `archived_pairs`.

Counters (`sim.counters()`, `GET /_sim/counters`, zeroed by `POST /_sim/reset-counters`):
`requests`, `by_endpoint`, `by_status`, `rate_limited` (429s), `archived_pairs`, `dropped_pairs`,
`created_pairs`, `archive_inputs`. The request log (`sim.request_log`) keeps method, path, endpoint,
version, status and input count, never a token or a body; `sim.request_bodies` keeps the decoded
JSON bodies of the last requests, for contract tests of what clients send.
"""

from hubassoc_simulator.config import (
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TOKEN,
    FaultPlan,
    SimulatorConfig,
    TokenSpec,
)
from hubassoc_simulator.server import RequestRecord, Simulator
from hubassoc_simulator.state import SimulatorState

__all__ = [
    "DEFAULT_OAUTH_CLIENT_ID",
    "DEFAULT_OAUTH_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "DEFAULT_TOKEN",
    "FaultPlan",
    "RequestRecord",
    "Simulator",
    "SimulatorConfig",
    "SimulatorState",
    "TokenSpec",
]
